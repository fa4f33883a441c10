"""Many rows of one INSERT or UPDATE, handed to SQLite's own driver in one `executemany`.

`Connection.execute(statement, rows)` builds and checks a parameter dictionary per row, looks the
statement up in the compiled cache and, for an INSERT, regroups the rows into multi-row VALUES
statements. For the webhook's batch writer that was most of its time in Python (`bot bench webhook`,
py-spy: `_init_compiled`, `construct_params`, the insertmanyvalues batches). `execute_many` compiles the
statement once per set of row keys, keeps the order of its `?` parameters and each one's bind processor
(the same type conversions SQLAlchemy applies: UTC datetimes, JSON), and passes plain tuples to
`sqlite3.Cursor.executemany`.

`fetch_all` does the same for the batch's look-ups (a SELECT run once per batch): compiled once, run on the
driver's cursor, each column through its result processor. A list given for an expanding `IN` goes to
SQLite as one JSON array, `IN (SELECT value FROM json_each(?))`, so the statement's text never changes
with the list's length and needs no per-call rendering (SQLite still searches the column's index).

Only the standard `sqlite3` driver takes this path (SQLite's thread engine; aiosqlite's connection, reached
through `run_sync`, answers in coroutines); on PostgreSQL, and for a statement it cannot plan (a server-side default
it would have to run, a list of values that are not plain strings or numbers), it is `Connection.execute`
as before. It runs no SQLAlchemy execution events: nothing in this project listens to them.

`rows_update` (and `update_rows`, its synchronous runner) is the one for PostgreSQL: many rows' UPDATEs as
one `UPDATE … FROM unnest(arrays)`, where an `executemany` has the server run the statement once per row.
`insert_rows` is its INSERT: `INSERT … SELECT … FROM unnest(arrays)`, one statement whatever the number of rows.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Row, Table, bindparam, column, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.selectable import Select

from storage.dialect import json_each_list, json_keeps
from storage.types import UTCDateTime

Statement = Insert | Update
_P = TypeVar("_P")


@dataclass(frozen=True)
class _Plan:
    sql: str
    fetch: Callable[[Mapping[str, Any]], Any]  # a row's values for the `?`s the rows give, in order
    # The other `?`s, by position: a value (a scalar default, or one fixed in the statement) or a callable
    # default, called per row.
    given: tuple[tuple[int, Any], ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # by position, where the type converts


class _NoPlan(Exception):
    """The statement needs SQLAlchemy's own execution (a default it cannot compute here)."""


def execute_many(conn: Connection, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute `statement` once per row, as `conn.execute(statement, rows)` would; every row has the same keys.

    `statement` should be built once (a module constant): its plan is cached by identity.
    """
    if not rows:
        return
    plan = _on_driver(conn, lambda: _plan(statement, tuple(rows[0]), conn.dialect))
    if plan is None:
        conn.execute(statement, list(rows))
        return
    with _cursor(conn) as cursor:
        cursor.executemany(plan.sql, [_values(plan, row) for row in rows])


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set each row's other columns where `table`'s `key` column equals the row's `key`; every row has the same keys.

    On PostgreSQL one statement for all the rows (`rows_update`); elsewhere `execute_many`.
    """
    if not rows:
        return
    statement, parameters = rows_update(conn.dialect, table, key, rows)
    if conn.dialect.name == "postgresql":
        conn.execute(statement, parameters)
    else:
        execute_many(conn, statement, parameters)


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: tuple[str, ...],
    conflict: tuple[str, ...] | None = None,
) -> list[Row[Any]]:
    """Insert `rows` on PostgreSQL as one `INSERT … SELECT … FROM unnest(arrays)`; the `returning` columns' values.

    Every row has the same keys. With `conflict`, a row whose values for those columns are already stored
    is left out (`ON CONFLICT … DO NOTHING`) and returns nothing.

    SQLAlchemy's own insert of many rows with `RETURNING` writes `VALUES (…), (…)` with one set of
    parameters per row: its text, built per call, differs with every number of rows, so PostgreSQL
    prepares and plans it again, and SQLAlchemy builds each row's parameters one at a time. Here the text is
    built once per table and columns (`_insert_from_arrays`), and one array per column is bound. The rows
    go in in the order given, so a serial id is drawn for each in that order: sorted, the ids returned
    match `rows` (SQLAlchemy's `sort_by_parameter_order` relies on the same on PostgreSQL).
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    statement = _insert_from_arrays(table, columns, returning, conflict)
    return list(conn.execute(statement, _as_arrays(rows, columns)).all())


def rows_update(
    dialect: Dialect,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    refine: Callable[[Update], Update] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """An UPDATE of many rows and the parameters to execute it with: `conn.execute(*rows_update(…))`.

    Each row sets its other columns where `table`'s `key` column equals the row's `key`; every row has the
    same keys. `refine`, a module-level function, adds conditions and values for every row to the statement,
    as bound parameters whose values `shared` gives. On PostgreSQL it is one statement, `UPDATE … FROM
    unnest(arrays)` with one array per column: an executemany has the server run the statement once per
    row (the webhook's batch writer refreshed a contact per delivery, the sender settled a send per row),
    and its rowcount counts every row. Elsewhere it is an executemany. The statement is built once per
    table, key, columns and `refine` (building it took 0.28 ms).
    """
    columns = tuple(rows[0])
    extra = dict(shared or {})
    if dialect.name == "postgresql":
        return _update_from_arrays(table, key, columns, refine), _as_arrays(rows, columns) | extra
    return _update_each(table, key, refine), [{_KEY: row[key], **_without(row, key), **extra} for row in rows]


_KEY = "_update_rows_key"  # the key is bound under a name of its own: SQLAlchemy keeps a column's for SET


def _without(row: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {c: v for c, v in row.items() if c != key}


def _as_arrays(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> dict[str, list[Any]]:
    """The rows' values column by column, under the names `_given` binds them with."""
    return {f"{c}_values": [row[c] for row in rows] for c in columns}


def _given(table: Table, columns: tuple[str, ...], *, ordinality: str | None = None) -> Any:
    """`unnest` of one bound array per column (named apart from the columns, as `_KEY` is), as a table `given`."""
    arrays = [bindparam(f"{c}_values", type_=postgresql.ARRAY(table.c[c].type)) for c in columns]
    named = (column(c, table.c[c].type) for c in columns)
    return func.unnest(*arrays).table_valued(*named, with_ordinality=ordinality).render_derived("given")


@functools.lru_cache(maxsize=32)
def _update_from_arrays(
    table: Table, key: str, columns: tuple[str, ...], refine: Callable[[Update], Update] | None = None
) -> Update:
    given = _given(table, columns)
    statement = update(table).where(table.c[key] == given.c[key]).values({c: given.c[c] for c in columns if c != key})
    return refine(statement) if refine else statement


@functools.lru_cache(maxsize=32)
def _insert_from_arrays(
    table: Table, columns: tuple[str, ...], returning: tuple[str, ...], conflict: tuple[str, ...] | None
) -> Any:
    given = _given(table, columns, ordinality=_ORDER)
    rows = select(*(given.c[c] for c in columns)).order_by(given.c[_ORDER])
    statement = postgresql.insert(table).from_select(list(columns), rows)
    if conflict is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(*(table.c[c] for c in returning))


_ORDER = "given_order"  # the ordinality column: each row's place in the arrays


@functools.lru_cache(maxsize=32)
def _update_each(table: Table, key: str, refine: Callable[[Update], Update] | None = None) -> Update:
    statement = update(table).where(table.c[key] == bindparam(_KEY))
    return refine(statement) if refine else statement


def _on_driver(conn: Connection, make: Callable[[], _P]) -> _P | None:
    """The plan `make` builds, when `conn` runs on the standard `sqlite3` driver (the thread engine, not
    aiosqlite under `run_sync`) and the statement can be planned; None for SQLAlchemy's own execution."""
    if conn.dialect.name != "sqlite" or not isinstance(conn.connection.driver_connection, sqlite3.Connection):
        return None
    try:
        return make()
    except _NoPlan:
        return None


def _cursor(conn: Connection) -> contextlib.closing[sqlite3.Cursor]:
    return contextlib.closing(conn.connection.driver_connection.cursor())  # type: ignore[union-attr]


def _values(plan: _Plan, row: Mapping[str, Any]) -> list[Any]:
    values = list(plan.fetch(row))
    for position, given in plan.given:
        values.insert(position, given() if callable(given) else given)
    for position, process in plan.processors:
        values[position] = process(values[position])  # None too: JSON writes it as 'null', as SQLAlchemy does
    return values


@functools.lru_cache(maxsize=128)
def _plan(statement: Statement, keys: tuple[str, ...], dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.positiontup is None:
        raise _NoPlan("not a positional dialect")
    defaults = {c.key: c.default for c in compiled.insert_prefetch}
    defaults |= {c.key: c.onupdate for c in compiled.update_prefetch}
    fetched: list[str] = []
    given: list[tuple[int, Any]] = []
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(compiled.positiontup):
        bind = compiled.binds[name]
        if bind.expanding:
            raise _NoPlan(f"{name} expands")
        if name in keys:
            fetched.append(name)
        elif name in defaults:
            given.append((position, _default(defaults[name])))
        elif bind.callable is None and bind.value is not None:
            given.append((position, bind.value))
        else:
            raise _NoPlan(f"{name} has no value")
        if (process := _processor(bind.type, dialect)) is not None:
            processors.append((position, process))
    fetch = operator.itemgetter(*fetched) if len(fetched) > 1 else (lambda row: (row[fetched[0]],))
    return _Plan(compiled.string, fetch, tuple(given), tuple(processors))


def _processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(type_, UTCDateTime):
        return _sqlite_utc
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _sqlite_utc(value: datetime | None) -> str | None:
    """`UTCDateTime` on SQLite, as its bind processors write it (naive UTC, always six decimals), at C speed."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # less its "+00:00": years have four digits, 1 to 9999


@dataclass(frozen=True)
class _Query:
    sql: str
    # Each `?`'s parameter name, whether it takes a list, its bind processor and its value in the statement.
    binds: tuple[tuple[str, bool, Callable[[Any], Any] | None, Any], ...]
    results: tuple[Callable[[Any], Any] | None, ...]  # each column's result processor
    required: frozenset[str]  # the parameters the call must give (no value in the statement)


def fetch_all(conn: Connection, statement: Select[Any], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `statement` with `params`, as `conn.execute(statement, params).all()` returns them, as tuples.

    `statement` should be built once (a module constant): its plan is cached by identity.
    """
    query = _on_driver(conn, lambda: _query(statement, conn.dialect)) if _plain_lists(params.values()) else None
    if query is None or not query.required <= params.keys():  # a value missing: SQLAlchemy says which
        return [tuple(row) for row in conn.execute(statement, dict(params))]
    values = []
    for name, expanding, process, fixed in query.binds:
        value = params.get(name, fixed)
        values.append(json.dumps(list(value)) if expanding else process(value) if process else value)
    with _cursor(conn) as cursor:
        found = cursor.execute(query.sql, values).fetchall()
    if not any(query.results):
        return found
    return [tuple(p(v) if p else v for p, v in zip(query.results, row, strict=True)) for row in found]


def _plain_lists(values: Iterable[Any]) -> bool:
    """Whether every list among `values` holds only strings and integers, which JSON carries unchanged."""
    return all(json_keeps(v) for v in values if isinstance(v, list | tuple))


@functools.lru_cache(maxsize=64)
def _query(statement: Select[Any], dialect: Dialect) -> _Query:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise _NoPlan("not a positional dialect")
    sql = compiled.string
    binds: list[tuple[str, bool, Callable[[Any], Any] | None, Any]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.callable is not None:
            raise _NoPlan(f"{name} takes its value from a callable")
        if bind.expanding:
            if bind.value is not None and not _plain_lists([bind.value]):
                raise _NoPlan(f"{name} holds values JSON would change")
            marker = f"(__[POSTCOMPILE_{name}])"
            if sql.count(marker) != 1:
                raise _NoPlan(f"{name} expands where it cannot be replaced")
            sql = sql.replace(marker, json_each_list("?"))
            binds.append((name, True, None, bind.value))
        else:
            binds.append((name, False, _processor(bind.type, dialect), bind.value))
    if "__[POSTCOMPILE_" in sql:
        raise _NoPlan("a parameter renders into the statement")
    results = tuple(c.type._cached_result_processor(dialect, None) for c in compiled._result_columns)
    required = frozenset(name for name in compiled.positiontup if compiled.binds[name].required)
    return _Query(sql, tuple(binds), results, required)


def _default(default: Any) -> Any:
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return functools.partial(default.arg, None)  # SQLAlchemy wraps a no-argument default to take a context
    raise _NoPlan("a server-side or SQL default")
