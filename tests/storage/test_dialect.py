"""`storage.dialect.among`: `IN` as one parameter, with what `in_` selects, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.dialect import Among, among

METADATA = MetaData()
ITEM = Table(
    "among_item",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), index=True),
    Column("at", DateTime, nullable=True),
)
NAMES = ["plain", "ünïcode", "it's", 'quote"d', "back\\slash", "[1, 2]", "", "null"]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        rows = [{"id": i, "name": name, "at": None} for i, name in enumerate(NAMES * 5, start=1)]
        await conn.execute(ITEM.insert(), rows)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.drop_all)
    await engine.dispose()


async def _ids(engine: AsyncEngine, condition: Any) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(ITEM.c.id).where(condition).order_by(ITEM.c.id))).scalars())


@pytest.mark.parametrize(
    "values",
    [[], [1], [3, 1, 2], list(range(1, 41)), [7, 7, 7], [999], list(range(-5, 3)), [2**31 - 1]],
)
async def test_ids_select_what_in_selects(engine: AsyncEngine, values: list[int]) -> None:
    # The same statement shape each time: SQLAlchemy's compiled cache is reused, with each call's values.
    assert await _ids(engine, among(ITEM.c.id, values)) == await _ids(engine, ITEM.c.id.in_(values))
    assert await _ids(engine, ~among(ITEM.c.id, values)) == await _ids(engine, ITEM.c.id.not_in(values))


@pytest.mark.parametrize("values", [[], NAMES, NAMES[1:3], ["missing"], ["1", "2"]])
async def test_strings_select_what_in_selects(engine: AsyncEngine, values: list[str]) -> None:
    assert await _ids(engine, among(ITEM.c.name, values)) == await _ids(engine, ITEM.c.name.in_(values))


async def test_a_set_or_generator_is_read_once(engine: AsyncEngine) -> None:
    assert await _ids(engine, among(ITEM.c.id, {2, 4})) == [2, 4]
    assert await _ids(engine, among(ITEM.c.id, (i for i in (5, 6)))) == [5, 6]


@pytest.mark.parametrize("values", [[True], [datetime(2026, 12, 7, tzinfo=UTC)], [1.5], [1, None]])
def test_values_json_would_change_take_sqlalchemys_in(values: list[Any]) -> None:
    column = ITEM.c.at if isinstance(values[0], datetime) else ITEM.c.id
    assert not isinstance(among(column, values), Among)


@pytest.mark.parametrize(
    ("dialect", "rendered"),
    [
        (sqlite.dialect(), "among_item.id IN (SELECT value FROM json_each(?))"),
        (postgresql.asyncpg.dialect(), "among_item.id = ANY($1::INTEGER[])"),  # type: ignore[attr-defined]
    ],
)
def test_the_statement_is_the_same_for_every_length(dialect: Any, rendered: str) -> None:
    statements = {
        str(select(ITEM.c.id).where(among(ITEM.c.id, values)).compile(dialect=dialect))
        for values in ([], [1], list(range(500)))
    }
    assert len(statements) == 1
    assert statements.pop().endswith(f"WHERE {rendered}")


async def test_sqlite_searches_the_index(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        for column in (ITEM.c.id, ITEM.c.name):
            compiled = select(ITEM.c.id).where(among(column, ["x"])).compile(conn.sync_connection)
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ('["x"]',))).all()
            details = " ".join(str(row[-1]) for row in plan)
            assert "SEARCH among_item USING" in details, details
            assert "SCAN among_item" not in details, details
    await engine.dispose()


async def test_postgresql_searches_the_index(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan")
    async with engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))  # a table this small is otherwise read whole
        compiled = select(ITEM.c.id).where(among(ITEM.c.id, [1, 2])).compile(conn.sync_connection)
        plan = (await conn.exec_driver_sql(f"EXPLAIN {compiled}", ([1, 2],))).scalars().all()
    assert any("Index" in line and "ANY" in line for line in plan), plan
