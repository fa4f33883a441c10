"""Presence beats: each sender says it is alive and counts the senders alive, one beat at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import presence
from storage.repository import Repository

ALIVE_FOR = timedelta(seconds=10)


async def waiting_on_a_lock(repository: Repository) -> bool:
    """Whether some backend of this database is blocked on a lock (PostgreSQL)."""
    async with repository.engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool((await conn.execute(query)).scalar_one())


async def test_two_first_beats_in_concurrent_transactions_never_both_count_one(repository: Repository) -> None:
    """Two senders' first beats, the second begun before the first commits: the second counts both, not 1."""
    if repository.dialect != "postgresql":
        pytest.skip("concurrent write transactions are PostgreSQL's; SQLite takes one writer at a time")
    now = datetime.now(UTC)
    async with repository.engine.connect() as first, repository.engine.connect() as second:
        first_tx = await first.begin()
        await second.begin()
        counted_first = await presence.beat(first, "sender-a", now, ALIVE_FOR)

        async def beat_then_commit(conn: AsyncConnection) -> presence.Presence:
            seen = await presence.beat(conn, "sender-b", now, ALIVE_FOR)
            await conn.commit()
            return seen

        later = asyncio.create_task(beat_then_commit(second))
        # The second beat runs until it has counted (unserialised) or is blocked behind the first (serialised).
        while not later.done() and not await waiting_on_a_lock(repository):
            await asyncio.sleep(0.01)
        await first_tx.commit()
        counted_second = await later
    assert counted_first.alive == 1
    assert counted_second.alive == 2
    assert set(counted_second.seen) == {"sender-a", "sender-b"}
