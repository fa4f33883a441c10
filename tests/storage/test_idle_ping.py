"""PostgreSQL's pool pings a connection only after it sat idle, and replaces the pool when the ping fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import database
from storage.database import create_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url, pool_size=1)
    yield engine
    await engine.dispose()


@pytest.fixture
def pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The connections the engine's dialect pinged, in order."""
    seen: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(
    engine: AsyncEngine, pings: list[Any]
) -> None:
    first = await _backend(engine)
    for _ in range(5):
        assert await _backend(engine) == first  # the same pooled connection each time
    assert pings == []


async def test_a_connection_idle_past_the_limit_is_pinged_first(
    engine: AsyncEngine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _backend(engine)
    monkeypatch.setattr(database, "PING_IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    assert await _backend(engine) == first
    assert len(pings) == 1


async def test_an_idle_connection_the_server_dropped_is_replaced_before_anyone_uses_it(
    engine: AsyncEngine, postgres_url: str, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends the pooled connection's session while it is idle: the next checkout gets a new one."""
    dropped = await _backend(engine)
    other = create_engine(postgres_url)
    try:
        async with other.connect() as conn:
            ended = (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})).scalar_one()
        assert ended is True
    finally:
        await other.dispose()
    monkeypatch.setattr(database, "PING_IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    replacement = await _backend(engine)  # no error: the ping found the dead connection first
    assert replacement != dropped
    assert len(pings) == 1
