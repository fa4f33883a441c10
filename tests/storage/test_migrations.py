"""Migrations: head matches the SQLModel tables on every database, and the app refuses an unmigrated schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, bindparam, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.app import create_app
from bot.errors import ConfigError
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.database import alembic_config, create_engine, current_revision, head_revision, upgrade
from storage.types import UTCDateTime
from tests.conftest import settings_for

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh, empty database (SQLite file or the reset PostgreSQL schema)."""
    created = create_engine(database_url)
    yield created
    await created.dispose()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings on the test's database left empty (the suite's own start at head): migrating is the subject."""

    def make(**overrides: Any) -> Settings:
        return settings_for(database_url, **overrides)

    return make


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, SQLModel.metadata))


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_empty_database_has_no_revision(engine: AsyncEngine) -> None:
    """A database never migrated reports no revision; the code ships exactly one head."""
    assert await current_revision(engine) is None
    assert head_revision() is not None


async def test_head_matches_the_models(engine: AsyncEngine) -> None:
    """Migrating an empty database to head yields exactly the schema the SQLModel tables describe."""
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_every_model_table_is_created(engine: AsyncEngine) -> None:
    """Head creates every table on SQLModel.metadata, plus alembic's own version table, and nothing else."""
    await upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(table_names)
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    """Running the upgrade twice (two `bot serve` starts) leaves the database at head without error."""
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    """Every migration can be undone down to an empty database and applied again."""
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
    async with engine.connect() as connection:
        assert await connection.run_sync(table_names) <= {"alembic_version"}
    assert await current_revision(engine) is None
    await upgrade(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def start(app: web.Application) -> None:
    """Run the app's start-up half, as `bot serve` and `bot worker` do, and undo it whatever happens."""
    runner = web.AppRunner(app)
    try:
        await runner.setup()
    finally:
        await runner.cleanup()


async def test_unmigrated_database_refuses_to_start(settings: Settings) -> None:
    """With `migrate=False`, an empty database stops start-up with a ConfigError telling to run `bot db upgrade`."""
    app = create_app(settings, transport=RecordingTransport(), migrate=False)
    with pytest.raises(ConfigError, match=r"run `bot db upgrade`"):
        await start(app)


async def test_outdated_database_refuses_to_start(settings: Settings, engine: AsyncEngine) -> None:
    """A database below head (here: downgraded to base) is refused at start-up like an empty one."""
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
    await engine.dispose()
    app = create_app(settings, transport=RecordingTransport(), migrate=False)
    with pytest.raises(ConfigError, match="not up to date"):
        await start(app)


async def test_migrated_database_starts_without_migrating(
    aiohttp_client: ClientFactory, settings: Settings, engine: AsyncEngine
) -> None:
    """After `bot db upgrade`, an app built with `migrate=False` starts and is healthy."""
    await upgrade(engine)
    await engine.dispose()
    client = await aiohttp_client(create_app(settings, transport=RecordingTransport(), migrate=False))
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["database"] == "ok"


async def test_default_migrates_sqlite_only(
    aiohttp_client: ClientFactory, settings: Settings, engine: AsyncEngine
) -> None:
    """By default SQLite is migrated at start-up, while PostgreSQL waits for `bot db upgrade`."""
    app = create_app(settings, transport=RecordingTransport())
    if settings.is_sqlite:
        client = await aiohttp_client(app)
        assert (await client.get("/healthz")).status == 200
        assert await current_revision(engine) == head_revision()
    else:
        with pytest.raises(ConfigError, match=r"bot db upgrade"):
            await start(app)
        assert await current_revision(engine) is None


async def test_0016_gives_every_existing_row_the_configured_number(engine: AsyncEngine) -> None:
    """Rows from before several numbers (a conversation, messages, outbox rows, a campaign, a schedule) get the
    number the upgrade is given, the one the deployment served until then."""
    await upgrade(engine, "0015")
    now = bindparam("now", datetime(2026, 4, 10, 12, tzinfo=UTC), type_=UTCDateTime())
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO contact (id, wa_id, created_at, updated_at) VALUES (1, '31612345678', :now, :now)",
            "INSERT INTO conversation (id, contact_id, category, origin, opened_at, expires_at) "
            "VALUES (1, 1, 'service', 'user_initiated', :now, :now)",
            "INSERT INTO message (wamid, direction, contact_id, type, status, outside_window, created_at, "
            "turn_failures) VALUES ('wamid.1', 'in', 1, 'text', 'received', false, :now, 0)",
            "INSERT INTO outbox (kind, priority, contact_id, recipient, payload, due_at, status, attempts, urgent, "
            "created_at, updated_at) VALUES ('reply', 0, 1, '31612345678', '{}', :now, 'queued', 0, false, :now, :now)",
            "INSERT INTO campaign (name, template, time_zone, frequency_cap, state, created_at, updated_at) "
            "VALUES ('spring', 'promotion_code', 'UTC', 2, 'scheduled', :now, :now)",
            "INSERT INTO schedule (name, cron, time_zone, template, active, created_at, updated_at) "
            "VALUES ('bills', '0 9 * * *', 'UTC', 'payment_link', true, :now, :now)",
        ):
            await conn.execute(text(statement).bindparams(now))
    await upgrade(engine, phone_number_id="106540352242922")
    async with engine.connect() as conn:
        for table in ("conversation", "message", "outbox", "campaign", "schedule"):
            numbers = (await conn.execute(text(f"SELECT phone_number_id FROM {table}"))).scalars().all()
            assert numbers == ["106540352242922"], table
