"""Crash safety with real processes: `bot worker` killed with SIGKILL mid-send, restarted, sends each reminder once.

A `bot serve --roles web` process in sandbox mode plays Meta (its fake Graph API counts what it receives
and posts signed status webhooks back); `bot worker` processes hold real Cloud API settings pointing at it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port
from sqlalchemy import func, select

from storage.models import OUTBOX
from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent
REMINDERS = 1000
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """The process environment without the runner's own bot settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
    env.update(
        BOT_DATABASE_URL=database_url,
        BOT_ADMIN_TOKEN=ADMIN_TOKEN,
        BOT_SECRET_KEY="crash-secret-key",
        BOT_QUIET_HOURS="off",
        BOT_MESSAGING_LIMIT="unlimited",
        BOT_LOG_LEVEL="warning",
        BOT_LOG_FORMAT="json",
        **extra,
    )
    return env


def worker_environment(database_url: str, base: str, **extra: str) -> dict[str, str]:
    """A `bot worker`'s environment: real Cloud API settings pointing at the sandbox web process at `base`."""
    return environment(
        database_url,
        WHATSAPP_ACCESS_TOKEN="worker-test-token",
        WHATSAPP_API_URL=f"{base}/sandbox",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_APP_SECRET="sandbox-app-secret",
        WHATSAPP_VERIFY_TOKEN="sandbox-verify-token",
        **extra,
    )


@asynccontextmanager
async def process(*args: str, env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot ARGS` with its output in `log`; killed and reaped on the way out."""
    with log.open("ab") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", "/dev/null", *args, env=env, cwd=ROOT, stdout=out, stderr=out
        )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


@asynccontextmanager
async def sandbox_meta(database_url: str, log: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """The sandbox `bot serve --roles web` process playing Meta (1,000/s), once healthy: a session and its base URL."""
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    web_env = environment(database_url, BOT_THROUGHPUT="1000")
    async with (
        process("serve", "--roles", "web", "--port", str(port), env=web_env, log=log),
        aiohttp.ClientSession() as session,
    ):

        async def healthy() -> bool:
            async with session.get(f"{base}/healthz") as response:
                return response.status == 200

        await wait_for(healthy, 30, "the web process")
        yield session, base


async def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    async with asyncio.timeout(seconds):
        while True:
            with suppress(aiohttp.ClientError, OSError):
                value = await check()
                if value:
                    return value
            await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")  # pragma: no cover - asyncio.timeout raises first


async def sent_count(repository: Repository) -> int:
    async with repository.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).where(OUTBOX.c.status == "sent"))).scalar_one())


async def unsettled(repository: Repository) -> int:
    async with repository.engine.connect() as conn:
        stmt = select(func.count()).where(OUTBOX.c.status.in_(("queued", "sending")))
        return int((await conn.execute(stmt)).scalar_one())


async def book_reminders(session: aiohttp.ClientSession, base: str, customers: list[str]) -> None:
    """Appointments starting within the next day: each queues its reminder due at once."""
    soon = datetime.now(UTC) + timedelta(hours=2)
    semaphore = asyncio.Semaphore(16)

    async def book(wa_id: str) -> None:
        body = {"wa_id": wa_id, "name": "Ana", "service": "Check-up", "location": "Main St 1"}
        async with (
            semaphore,
            session.post(
                f"{base}/api/appointments", json={**body, "starts_at": soon.isoformat()}, headers=AUTH
            ) as response,
        ):
            assert response.status == 201, await response.text()

    await asyncio.gather(*(book(wa) for wa in customers))


async def received(session: aiohttp.ClientSession, base: str, wa_id: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/sandbox/users/{wa_id}/messages") as response:
        items: list[dict[str, Any]] = (await response.json())["items"]
    return [i for i in items if i["direction"] == "out"]


@pytest.mark.parametrize("workers", [1, 2])
async def test_killed_workers_send_every_reminder_exactly_once(database_url: str, tmp_path: Path, workers: int) -> None:
    """SIGKILL a worker amid 1,000 due reminders and restart it: Meta receives each reminder exactly once."""
    if workers == 2 and not database_url.startswith("postgresql"):
        pytest.skip("several workers share one database on PostgreSQL; SQLite is the one-process default")
    repository = Repository.connect(database_url)
    await repository.migrate()
    customers = [f"4477009{n:05d}" for n in range(REMINDERS)]
    seed = random.randrange(1_000_000)
    kill_after = random.Random(seed).randrange(150, 700)
    logs = tmp_path / "processes.log"
    try:
        async with sandbox_meta(database_url, logs) as (session, base):
            worker_env = worker_environment(database_url, base, BOT_THROUGHPUT="150", BOT_SEND_LEASE_SECONDS="3")
            await book_reminders(session, base, customers)
            async with AsyncExitStack() as stack:
                victim = await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                for _ in range(workers - 1):
                    await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                await wait_for(lambda: _at_least(repository, kill_after), 60, f"{kill_after} sends")
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                await wait_for(lambda: _drained(repository), 90, "the outbox to drain")
            counts = [len(await received(session, base, wa)) for wa in customers]
        sent = await sent_count(repository)
    except BaseException:
        print(f"seed {seed}, kill after {kill_after}; the processes' last output:\n{logs.read_text()[-4000:]}")
        raise
    finally:
        await repository.close()
    assert counts == [1] * REMINDERS, f"seed {seed}: reminders received {sorted(set(counts))} times"
    assert sent == REMINDERS


async def _at_least(repository: Repository, n: int) -> bool:
    return await sent_count(repository) >= n


async def _drained(repository: Repository) -> bool:
    return await unsettled(repository) == 0
