"""`storage.bulk`: the driver's executemany writes, and its execute reads, what `Connection.execute` does."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import StatementError

from storage.bulk import _query, execute_many, fetch_all, insert_rows, rows_update, update_rows
from storage.database import create_engine as create_async_engine
from storage.types import UTCDateTime

METADATA = MetaData()
_serial = itertools.count(100)
THING = Table(
    "thing",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=True),
    Column("payload", JSON, nullable=True),
    Column("label", String(16), nullable=True),
    Column("state", String(16), default="new"),  # a scalar default the rows leave out
    Column("serial", Integer, default=lambda: next(_serial)),  # a callable one
)
INSERT = insert(THING)
UPDATE = update(THING).where(THING.c.id == bindparam("tid"))


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def rows(first: int) -> list[dict[str, Any]]:
    zone = timezone(timedelta(hours=5, minutes=30))
    return [
        {"id": first, "at": datetime(2026, 12, 7, 12, 0, tzinfo=UTC), "payload": {"a": [1, "ü"]}, "label": "x"},
        {"id": first + 1, "at": datetime(2026, 12, 7, 17, 30, 0, 7, tzinfo=zone), "payload": None, "label": None},
        {"id": first + 2, "at": None, "payload": [], "label": "\u00e9t\u00e9"},
        {"id": first + 3, "at": datetime(1, 1, 1, tzinfo=UTC), "payload": {}, "label": ""},
        {"id": first + 4, "at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "payload": 0, "label": "z"},
    ]


def stored(engine: Any, ids: range) -> list[tuple[Any, ...]]:
    """The raw column values (as SQLite holds them) of these rows, without their ids."""
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT id, at, payload, label, state, serial FROM thing ORDER BY id").all()
    return [tuple(r[1:]) for r in found if r[0] in ids]


def test_inserted_rows_are_stored_as_sqlalchemy_stores_them(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(INSERT, rows(1))
        execute_many(conn, INSERT, rows(11))
    theirs, ours = stored(engine, range(1, 6)), stored(engine, range(11, 16))
    # The callable default runs once per row on either path; everything else is byte for byte the same.
    assert [r[:-1] for r in ours] == [r[:-1] for r in theirs]
    first = theirs[0][-1]  # the counter is the module's: other tests in this process may have drawn from it
    assert [r[-1] for r in theirs] == list(range(first, first + 5))
    assert [r[-1] for r in ours] == list(range(first + 5, first + 10))
    assert ours[0][0] == "2026-12-07 12:00:00.000000"  # naive UTC, six decimals
    assert ours[1][0] == "2026-12-07 12:00:00.000007"  # converted from +05:30


def test_updates_match_rows_by_a_bound_key(engine: Any) -> None:
    with engine.begin() as conn:
        execute_many(conn, INSERT, rows(1))
        execute_many(conn, UPDATE, [{"tid": 2, "label": "two", "at": None}, {"tid": 4, "label": "four", "at": None}])
    labels = [r[2] for r in stored(engine, range(1, 6))]
    assert labels == ["x", "two", "\u00e9t\u00e9", "four", "z"]


def test_a_naive_datetime_is_refused_and_the_transaction_writes_nothing(engine: Any) -> None:
    bad = rows(1)
    bad[2]["at"] = datetime(2026, 12, 7, 12, 0)  # naive: the point of the test
    with pytest.raises(ValueError, match="naive datetime"), engine.begin() as conn:
        execute_many(conn, INSERT, bad)
    assert stored(engine, range(1, 6)) == []


def test_no_rows_runs_nothing(engine: Any) -> None:
    with engine.begin() as conn:
        execute_many(conn, INSERT, [])
    assert stored(engine, range(0, 1000)) == []


BY_LABEL_OR_STATE = select(THING.c.id, THING.c.at, THING.c.payload, THING.c.label).where(
    or_(THING.c.label.in_(bindparam("labels", expanding=True)), THING.c.state.in_(bindparam("states", expanding=True)))
)


@pytest.mark.parametrize(
    "params",
    [
        {"labels": ["x", "z"], "states": []},
        {"labels": [], "states": ["new"]},
        {"labels": [], "states": []},
        {"labels": ["\u00e9t\u00e9", "", "no such", 'a "quoted" \\ one'], "states": ["old"]},
    ],
)
def test_a_lookup_reads_what_sqlalchemy_reads(engine: Any, params: dict[str, Any]) -> None:
    with engine.begin() as conn:
        execute_many(conn, INSERT, rows(1))
        theirs = [tuple(r) for r in conn.execute(BY_LABEL_OR_STATE, params)]
        ours = fetch_all(conn, BY_LABEL_OR_STATE, params)
    assert sorted(ours) == sorted(theirs)
    if params["states"] == ["new"]:
        assert len(ours) == 5
        assert {type(r[1]) for r in ours} == {datetime, type(None)}


def test_a_list_goes_to_sqlite_as_one_json_array(engine: Any) -> None:
    """One statement text, whatever the lists' lengths: nothing is rendered per call."""
    with engine.connect() as conn:
        sql = _query(BY_LABEL_OR_STATE, conn.dialect).sql
    assert sql.count("IN (SELECT value FROM json_each(?))") == 2
    assert "POSTCOMPILE" not in sql


def test_values_json_would_change_take_sqlalchemys_path(engine: Any) -> None:
    by_id = select(THING.c.label).where(THING.c.id.in_(bindparam("ids", expanding=True)))
    with engine.begin() as conn:
        execute_many(conn, INSERT, rows(1))
        assert fetch_all(conn, by_id, {"ids": [1, 3]}) == [("x",), ("\u00e9t\u00e9",)]
        assert fetch_all(conn, by_id, {"ids": [True]}) == [("x",)]  # a bool: SQLAlchemy binds it as 1


def test_a_statement_without_parameters_reads_its_one_row(engine: Any) -> None:
    with engine.begin() as conn:
        execute_many(conn, INSERT, rows(1))
        assert fetch_all(conn, select(func.max(THING.c.id)), {}) == [(5,)]


async def test_through_aiosqlite_both_take_sqlalchemys_path(tmp_path: Path) -> None:
    """Under `run_sync` the driver connection is aiosqlite's, whose cursor answers in coroutines."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        await conn.run_sync(lambda c: execute_many(c, INSERT, rows(1)))
        found = await conn.run_sync(lambda c: fetch_all(c, BY_LABEL_OR_STATE, {"labels": ["x"], "states": []}))
    await engine.dispose()
    assert [r[3] for r in found] == ["x"]


def test_a_value_left_out_is_refused_as_sqlalchemy_refuses_it(engine: Any) -> None:
    with engine.connect() as conn, pytest.raises(StatementError, match="labels"):
        fetch_all(conn, BY_LABEL_OR_STATE, {"states": ["new"]})


@pytest.mark.parametrize("driver", ["thread", "async"])
async def test_update_rows_sets_each_rows_columns_and_leaves_the_others(
    database_url: str, driver: str, tmp_path: Path
) -> None:
    """One statement on PostgreSQL (arrays), the driver's executemany on SQLite's thread engine, else SQLAlchemy's."""
    if driver == "thread" and not database_url.startswith("sqlite"):
        pytest.skip("the thread engine is SQLite's")
    table = Table(
        "thing_updated",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime, nullable=True),
        Column("payload", JSON, nullable=True),
        Column("label", String(16), nullable=True),
    )
    later = datetime(2026, 12, 8, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    changes = [
        {"id": 4, "label": "four", "at": later, "payload": {"k": "ü"}},
        {"id": 2, "label": None, "at": None, "payload": None},
    ]

    def run(conn: Any) -> list[tuple[Any, ...]]:
        table.metadata.create_all(conn)
        conn.execute(insert(table), rows(1))
        update_rows(conn, table, "id", changes)
        update_rows(conn, table, "id", [])
        found = conn.execute(select(table.c.id, table.c.label, table.c.at, table.c.payload).order_by(table.c.id))
        return [tuple(r) for r in found]

    if driver == "thread":
        engine = create_engine(database_url.replace("+aiosqlite", ""))
        with engine.begin() as conn:
            found = run(conn)
        engine.dispose()
    else:
        async_engine = create_async_engine(database_url)
        try:
            async with async_engine.begin() as conn:
                found = await conn.run_sync(run)
                await conn.run_sync(table.metadata.drop_all)
        finally:
            await async_engine.dispose()
    originals = {r["id"]: r for r in rows(1)}
    assert found == [
        (1, "x", originals[1]["at"], {"a": [1, "ü"]}),
        (2, None, None, None),
        (3, "\u00e9t\u00e9", None, []),
        (4, "four", later.astimezone(UTC), {"k": "ü"}),
        (5, "z", originals[5]["at"], 0),
    ]


def _finishing(statement: Any) -> Any:
    table = statement.table
    return statement.where(table.c.state == bindparam("was")).values(state=bindparam("now"))


async def test_rows_update_holds_its_condition_sets_its_values_and_counts_the_rows(database_url: str) -> None:
    """What `outbox.settle` relies on: only rows meeting `where` change, `values` go to each, the count is exact."""
    table = Table(
        "thing_settled",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("label", String(16), nullable=True),
        Column("state", String(16)),
        Column("serial", Integer),
    )
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(
                insert(table), [{"id": i, "label": None, "state": "busy", "serial": i} for i in (1, 2, 3)]
            )
            await conn.execute(update(table).where(table.c.id == 2).values(state="taken"))
            rows = [{"id": 3, "label": "c"}, {"id": 2, "label": "b"}, {"id": 1, "label": "a"}]
            statement, parameters = rows_update(
                conn.dialect, table, "id", rows, refine=_finishing, shared={"was": "busy", "now": "done"}
            )
            counted = (await conn.execute(statement, parameters)).rowcount
            found = [tuple(r) for r in await conn.execute(select(table).order_by(table.c.id))]
            await conn.run_sync(table.metadata.drop_all)
    finally:
        await engine.dispose()
    assert counted == 2
    assert found == [(1, "a", "done", 1), (2, None, "taken", 2), (3, "c", "done", 3)]


async def test_insert_rows_stores_what_sqlalchemy_stores_and_returns_ids_in_the_rows_order(database_url: str) -> None:
    """PostgreSQL's one-statement insert: same values as SQLAlchemy's own; sorted ids match the rows; conflicts skip."""
    if not database_url.startswith("postgresql"):
        pytest.skip("one INSERT from arrays is PostgreSQL's; SQLite takes `execute_many`")
    table = Table(
        "thing_inserted",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime, nullable=True),
        Column("payload", JSON, nullable=True),
        Column("label", String(16), unique=True),
    )

    def labelled(prefix: str) -> list[dict[str, Any]]:
        return [{**{k: v for k, v in row.items() if k != "id"}, "label": f"{prefix}{row['id']}"} for row in rows(1)]

    many = [{"at": None, "payload": {"n": n}, "label": f"m{n:03d}"} for n in range(400, 0, -1)]
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(insert(table), labelled("t"))
            ours = await conn.run_sync(lambda c: insert_rows(c, table, labelled("o"), returning=("id", "label")))
            again = [{"at": None, "payload": None, "label": label} for label in ("o2", "n1", "o4", "n2")]
            fresh = await conn.run_sync(
                lambda c: insert_rows(c, table, again, returning=("id", "label"), conflict=("label",))
            )
            ordered = await conn.run_sync(lambda c: insert_rows(c, table, many, returning=("id", "label")))
            none = await conn.run_sync(lambda c: insert_rows(c, table, [], returning=("id",)))
            found = {r.label: tuple(r) for r in await conn.execute(select(table))}
            await conn.run_sync(table.metadata.drop_all)
    finally:
        await engine.dispose()
    assert [r.label for r in sorted(ours)] == [f"o{i}" for i in range(1, 6)]
    for i in range(1, 6):
        assert found[f"o{i}"][1:3] == found[f"t{i}"][1:3]
    assert [r.label for r in sorted(fresh)] == ["n1", "n2"]
    assert found["n1"][1:3] == (None, None)
    assert [r.label for r in sorted(ordered)] == [m["label"] for m in many]
    assert none == []
