"""The async engine for SQLite (WAL, busy timeout, immediate transactions) or PostgreSQL, and migrations."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, make_url, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage import json_codec

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "storage_read_only"  # an execution option for connections that only read (see `_configure_sqlite`)
JSON_CODEC: dict[str, Any] = {"json_serializer": json_codec.dumps, "json_deserializer": json_codec.loads}


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` transactions.

    `BEGIN IMMEDIATE` takes SQLite's write lock when a transaction starts rather than when it first
    writes, so a read-then-write transaction can never fail half-way with `SQLITE_BUSY_SNAPSHOT`: two
    writers queue on the busy timeout instead, which is what the dispatcher's per-contact turns rely on.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **JSON_CODEC
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    # Last in, first out: the connections in use stay few and warm, and the others sit idle until they are
    # pinged (`_ping_when_idle`) or needed; in turn (the default), every one of them went idle past the limit.
    engine = create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True, **JSON_CODEC
    )
    _ping_when_idle(engine.sync_engine)
    return engine


# A pooled connection that sat unused this long is pinged before it is handed out again.
PING_IDLE_SECONDS = 1.0
_IDLE_SINCE = "storage_idle_since"  # in a pooled connection's `info`, which the pool clears when it is invalidated


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled PostgreSQL connection before handing it out only when it sat idle `PING_IDLE_SECONDS`.

    `pool_pre_ping` pings at every checkout, and asyncpg's ping is three round trips (BEGIN, an empty
    statement, ROLLBACK): the webhook's batch writer, the dispatcher and the sender each check a connection
    out per transaction, so under load every transaction paid them. A connection used a moment ago is as
    good as one just pinged; one that was not is pinged as before, and when the ping fails every pooled
    connection older than it is replaced (SQLAlchemy's pre-ping does the same). A connection that dies in
    the second after its last use fails its next statement instead: that statement's transaction reports
    the database unavailable, and SQLAlchemy, seeing the disconnect, replaces the pool's connections.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS:
            return  # a new connection, or one used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the ping met, this connection cannot be trusted: replace them all
            raise InvalidatePoolError(f"ping failed: {type(exc).__name__}") from exc


def create_sqlite_thread_engine(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, checkpoints: bool = True
) -> Engine:
    """A synchronous engine on the same SQLite file, for work done whole in one go.

    The webhook's batch writer uses it: one hand-off to a thread per batch instead of several per
    statement through the async driver, which is what limits acknowledgements per second on SQLite; or
    none at all, on the event loop, when the write lock is free (`storage.sqlite_writes`).
    `busy_timeout_ms=0` makes a taken write lock fail `BEGIN IMMEDIATE` at once instead of waiting for
    it. With `checkpoints=False` a commit never copies the write-ahead log into the database file (which
    waits for the disk): whoever uses the engine runs `checkpoint()` elsewhere.
    """
    sync_url = make_url(url).set(drivername="sqlite")
    engine = sa_create_engine(
        sync_url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}, **JSON_CODEC
    )
    _configure_sqlite(engine, busy_timeout_ms=busy_timeout_ms, checkpoints=checkpoints)
    return engine


def checkpoint(engine: Engine) -> None:
    """Copy what SQLite's write-ahead log holds into the database file, without waiting for any lock."""
    connection = engine.raw_connection()  # not `connect()`: its first statement would begin a transaction
    try:
        connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()  # type: ignore[union-attr]
    finally:
        connection.close()


def _configure_sqlite(
    engine: Engine, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, checkpoints: bool = True
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A read-only transaction begins deferred: under WAL a reader takes no lock, so it neither queues
        # behind the writer (in the busy handler's sleeps) nor holds the writers up.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None, phone_number_id: str | None = None) -> Config:
    """Alembic's configuration, built in code so that the installed package needs no alembic.ini.

    `phone_number_id` is the number existing rows are backfilled with when a migration gives every row
    its number (0016).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    if phone_number_id is not None:
        config.attributes["phone_number_id"] = phone_number_id
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head", *, phone_number_id: str | None = None) -> None:
    """Apply migrations up to `revision` on the engine's database (rows backfilled with `phone_number_id`)."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync, phone_number_id), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str | None:
    """The newest migration shipped with this version of the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _on_server(server: str, statement: str, *, autocommit: bool = False) -> str:
    """One statement on a PostgreSQL server from synchronous code; its first value as text, if any."""

    async def run() -> str:
        engine = create_async_engine(server, isolation_level="AUTOCOMMIT" if autocommit else None)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(statement))
                return str(result.scalar_one()) if result.returns_rows else ""
        finally:
            await engine.dispose()

    return asyncio.run(run())


def server_version(server: str) -> str:
    """The PostgreSQL server's version, as `SHOW server_version` says it."""
    return _on_server(server, "SHOW server_version")


@contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on `server` for the block (its URL), dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    _on_server(server, f"CREATE DATABASE {name}", autocommit=True)
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _on_server(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", autocommit=True)
