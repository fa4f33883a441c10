"""Shared fixtures: settings on a temporary SQLite file (and PostgreSQL when configured), a fake clock, the app."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.app import SANDBOX_ACCESS_TOKEN
from bot.log import configure_logging
from bot.otp import core as otp
from bot.settings import Settings
from bot.whatsapp.signature import sign
from storage.database import head_revision as _head_revision
from storage.repository import Repository

POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL")
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ADMIN_TOKEN = "test-admin-token-0123456789-abcdefghij"
SECRET_KEY = "test-secret-key"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "106540352242922"


@dataclass
class FakeClock:
    """A settable clock; tests move time forward explicitly."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@functools.cache
def head_revision() -> str | None:
    return _head_revision()


async def _migrated_postgres(url: str) -> None:
    """The database at head with every table empty, as migrating an empty schema leaves it.

    Migrating takes most of a second on PostgreSQL, emptying the tables a few hundredths, so a schema the
    last test left at head with exactly head's tables is emptied (identities restarted, alembic's row kept);
    any other schema (a test renamed a table, or migrated down) is reset and migrated again.
    """
    head = {*SQLModel.metadata.tables, "alembic_version"}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            tables = set(
                (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars()
            )
            at_head = tables == head and (
                list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
                == [head_revision()]
            )
            if at_head:
                names = ", ".join(f'"{name}"' for name in sorted(head - {"alembic_version"}))
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
    finally:
        await engine.dispose()
    await _reset_postgres(url)
    await _migrate(url)


async def _migrate(url: str) -> None:
    repo = Repository.connect(url)
    await repo.migrate()
    await repo.close()


def _admin(url: str, statement: str) -> None:
    """Run one statement outside a transaction, on a thread of its own (a test's loop may be running)."""

    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the test server, so parallel runs never share tables."""
    if not POSTGRES_URL:
        pytest.skip("BOT_TEST_POSTGRES_URL is not set")
    name = f"bot_test_{os.getpid()}"
    _admin(POSTGRES_URL, f"DROP DATABASE IF EXISTS {name}")
    _admin(POSTGRES_URL, f"CREATE DATABASE {name}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    _admin(POSTGRES_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The test's own database: a temporary SQLite file, or the run's PostgreSQL database.

    Empty, unless the test also asks for `migrated_url` (`settings` does): then the same database at head.
    """
    migrated = "migrated_url" in request.node.fixturenames
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "bot.db")
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    await (_migrated_postgres(url) if migrated else _reset_postgres(url))
    yield url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per test process: copied for each test instead of migrating again."""
    path = tmp_path_factory.mktemp("migrated") / "bot.db"

    with ThreadPoolExecutor(1) as pool:  # a test's loop may be running
        pool.submit(asyncio.run, _migrate(f"sqlite+aiosqlite:///{path}")).result()
    return path


@pytest.fixture
def migrated_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """`database_url` at head: a copy of the migrated SQLite file, or PostgreSQL's schema at head and empty.

    `database_url` prepares it so when it sees this fixture among the test's; a file that a module's own
    `database_url` left absent is copied here, and so is a database the test asked for by name.
    """
    if database_url.startswith("sqlite"):
        target = Path(make_url(database_url).database or "")
        if not target.exists():
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
    elif "migrated_url" not in request.node.fixturenames:  # asked for by name while the test runs
        with ThreadPoolExecutor(1) as pool:  # a test's loop may be running
            pool.submit(asyncio.run, _migrated_postgres(database_url)).result()
    return database_url


@pytest.fixture
async def repository(migrated_url: str) -> AsyncIterator[Repository]:
    """The repository on a fresh, migrated database (`migrated_url` is at head: nothing left to migrate)."""
    repo = Repository.connect(migrated_url)
    yield repo
    await repo.close()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """The test settings (the suite's secrets, no real Graph API) on `database_url`, with `overrides`."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": SECRET_KEY,
        "access_token": ACCESS_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "api_url": "http://127.0.0.1:9/unused",
        "api_version": "v25.0",
    }
    values.update(overrides)
    return Settings(**values)


async def serve(app: web.Application) -> TestClient[Any, Any]:
    """Start `app` on a test server, for suites that drive it from an event loop of their own."""
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
def make_settings(migrated_url: str) -> Callable[..., Settings]:
    """Test settings on the test's database, already at head: the app's own migration finds nothing to do.

    Migrating is tested where it is the subject (tests/storage/test_migrations.py, on empty databases).
    """

    def make(**overrides: Any) -> Settings:
        return settings_for(migrated_url, **overrides)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def signed(payload: Any, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """A webhook body as bytes with Meta's signature header for it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}


def envelope(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    """Meta's notification envelope around one change's value (of `field`) from our test number."""
    metadata = {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    value = {"messaging_product": "whatsapp", "metadata": metadata, **value}
    change = {"field": field, "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}


def text_webhook(
    wa_id: str = "31612345678",
    body: str = "hello",
    wamid: str | None = None,
    name: str = "Ana",
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """A Meta webhook carrying one text message."""
    ts = int((timestamp or datetime.now(UTC)).timestamp())
    message = {
        "from": wa_id, "id": wamid or f"wamid.test.{wa_id}.{ts}.{body}", "timestamp": str(ts),
        "type": "text", "text": {"body": body},
    }  # fmt: skip
    return envelope({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]})


def status_webhook(wamid: str, status: str, recipient: str = "31612345678", **extra: Any) -> dict[str, Any]:
    """A Meta webhook carrying one status update for one of our messages."""
    ts = str(int(datetime.now(UTC).timestamp()))
    return envelope(
        {"statuses": [{"id": wamid, "status": status, "timestamp": ts, "recipient_id": recipient, **extra}]}
    )


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --- the suite's logs, and the secrets they must never show ---------------------------------------------

# The secret values the suite gives the service, by kind. Log tests that plant secrets of their own to
# prove redaction (tests/test_log.py) write to streams of their own, so their lines never reach the record.
ENDPOINT_SECRET = "endpoint-signing-secret-6d1f"  # the business's endpoints' secrets (docs/endpoints.md)
ENDPOINT_TOKEN = "endpoint-bearer-token-93ac"
TEST_SECRETS = {
    "admin token": ADMIN_TOKEN,
    "app secret": APP_SECRET,
    "verify token": VERIFY_TOKEN,
    "secret key": SECRET_KEY,
    "access token": ACCESS_TOKEN,
    "sandbox access token": SANDBOX_ACCESS_TOKEN,
    "endpoint secret": ENDPOINT_SECRET,
    "endpoint token": ENDPOINT_TOKEN,
}
CODE_KIND = "one-time code"


@dataclass(frozen=True)
class Leak:
    """A secret of `kind` in the log output of `test`; the value itself is never part of the report."""

    kind: str
    test: str

    def __str__(self) -> str:
        return f"{self.kind} in the log output of {self.test}"


def log_values(output: str) -> str:
    """Log output with each JSON line's timestamp left out: its microseconds could be any six digits."""
    lines = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            record.pop("timestamp", None)
            line = json.dumps(record)
        lines.append(line)
    return "\n".join(lines)


DIGITS = re.compile("[0-9]+")


@dataclass(frozen=True)
class _Values:
    """A kind's secret values as one search: all-digit values (codes) only as a whole run of digits.

    The digit values are a set looked up once per run of digits in the text, so the check costs the same
    for the thousands of codes a session draws as for one; a regular expression with one alternative per
    code took half a minute per worker at the end of a full run.
    """

    digits: frozenset[str]
    others: re.Pattern[str] | None

    @classmethod
    def of(cls, values: Collection[str]) -> _Values | None:
        present = sorted(v for v in values if v)
        digits = frozenset(v for v in present if v.isascii() and v.isdigit())
        others = [
            rf"(?<![0-9]){re.escape(v)}(?![0-9])" if v.isdigit() else re.escape(v) for v in present if v not in digits
        ]
        if not digits and not others:
            return None
        return cls(digits, re.compile("|".join(others)) if others else None)

    def found_in(self, text: str, runs: Collection[str]) -> bool:
        return not self.digits.isdisjoint(runs) or (self.others is not None and self.others.search(text) is not None)


def find_leaks(outputs: Mapping[str, str], secret_values: Mapping[str, Collection[str]]) -> list[Leak]:
    """Each (kind, test) whose log output, timestamps aside, shows one of the kind's secret values."""
    searches = [(kind, search) for kind, values in secret_values.items() if (search := _Values.of(values))]
    leaks = []
    for test, output in outputs.items():
        text = log_values(output)
        runs = set(DIGITS.findall(text))
        leaks += [Leak(kind, test) for kind, search in searches if search.found_in(text, runs)]
    return leaks


@dataclass
class SuiteLogs:
    """Every test's log output, kept in memory and never printed, and every one-time code drawn meanwhile."""

    outputs: dict[str, io.StringIO] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)

    def stream_for(self, test: str) -> io.StringIO:
        return self.outputs.setdefault(test, io.StringIO())

    def leaks(self) -> list[Leak]:
        """The check the session ends with: no code drawn and no test secret in any test's logs."""
        outputs = {test: stream.getvalue() for test, stream in self.outputs.items()}
        secret_values = {CODE_KIND: self.codes, **{kind: {value} for kind, value in TEST_SECRETS.items()}}
        return find_leaks(outputs, secret_values)


@pytest.fixture(scope="session", autouse=True)
def suite_logs() -> Iterator[SuiteLogs]:
    """The session's log record; once every test has run, any code or test secret in it fails the run.

    `bot.otp.core.issue` draws each code through the module's public `generate_code`; the observer put in its
    place calls the real one and remembers what it returned, so the check knows every code of the session.
    """
    logs = SuiteLogs()
    draw = otp.generate_code

    def observed(rng: otp.RandomSource = secrets) -> str:
        code = draw(rng)
        logs.codes.add(code)
        return code

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(otp, "generate_code", observed)
        yield logs
    if leaks := logs.leaks():
        report = "\n".join(f"  {leak}" for leak in leaks)
        pytest.fail(f"secrets in the suite's logs (values not shown):\n{report}", pytrace=False)


@pytest.fixture(autouse=True)
def _quiet_logging(request: pytest.FixtureRequest, suite_logs: SuiteLogs) -> None:
    """Send each test's logs, at debug level, to the session's record rather than the terminal."""
    configure_logging(level="debug", fmt="json", stream=suite_logs.stream_for(request.node.nodeid))
