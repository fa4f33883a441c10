"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Connection, String, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.type_api import TypeDecorator, TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal

from storage import json_codec


def insert_ignoring_conflicts(bind: Connection | AsyncConnection | AsyncSession, table: Any, *elements: str) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the bind's dialect (on `elements` when given, else any)."""
    name = bind.get_bind().dialect.name if isinstance(bind, AsyncSession) else bind.dialect.name
    module: Any = postgresql if name == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(elements)) if elements else stmt.on_conflict_do_nothing()


def json_keeps(items: Iterable[Any]) -> bool:
    """Whether every item is a string or an integer (not a bool), which JSON carries unchanged."""
    return all(type(item) is int or type(item) is str for item in items)


def json_each_list(placeholder: str) -> str:
    """For SQLite's `IN`: the items of one JSON array bound at `placeholder` (the column's index is still searched)."""
    return f"(SELECT value FROM json_each({placeholder}))"


class _Items(TypeDecorator[list[Any]]):
    """A list bound as one value: an array on PostgreSQL, JSON text for SQLite's `json_each`."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json_codec.dumps(value)


class Among(ColumnElement[bool]):
    """`column IN (values)` whose statement text does not change with the number of values.

    SQLAlchemy renders `IN` with one parameter per value, so every length is a new statement to
    PostgreSQL and to SQLite's statement cache, and rendering it costs a few microseconds a value. Here
    the list is one parameter: `column = ANY($1)` on PostgreSQL (an array), and on SQLite `column IN
    (SELECT value FROM json_each(?))` (JSON text). Both still search the column's index.
    """

    __visit_name__ = "among"
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("items", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: SQLite would otherwise be given `… = 1`, which no index serves

    def __init__(self, column: ColumnElement[Any], items: BindParameter[Any]) -> None:
        self.column, self.items = column, items


def among(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column.in_(values)`, as one parameter for lists of ints and strings (`Among`); SQLAlchemy's `IN` else.

    Anything else (bools, datetimes) would change its meaning in JSON, and takes SQLAlchemy's path.
    """
    listed = list(values)
    if not json_keeps(listed):
        return column.in_(listed)
    return Among(column, bindparam(None, listed, type_=_Items(column.type)))


def among_bound(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`among` for a statement built once: the list is bound later, under `name` (of ints or strings)."""
    return Among(column, bindparam(name, type_=_Items(column.type)))


@compiles(Among)
def _among_sqlite(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {json_each_list(compiler.process(element.items, **kw))}"


@compiles(Among, "postgresql")
def _among_postgresql(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.items, **kw)})"
