"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def insert_ignoring_conflicts(bind: Connection | AsyncConnection | AsyncSession, table: Any, *elements: str) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the bind's dialect (on `elements` when given, else any)."""
    name = bind.get_bind().dialect.name if isinstance(bind, AsyncSession) else bind.dialect.name
    module: Any = postgresql if name == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(elements)) if elements else stmt.on_conflict_do_nothing()
