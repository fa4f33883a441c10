"""Crash safety with real processes: `bot worker` killed with SIGKILL mid-send, restarted, sends each reminder once.

A `bot serve --roles web` process in sandbox mode plays Meta (its fake Graph API counts what it receives
and posts signed status webhooks back); `bot worker` processes hold real Cloud API settings pointing at it.
"""

from __future__ import annotations

import asyncio
import random
import signal
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN
from tests.harness import at_least_sent, drained, process, sandbox_meta, sent_count, wait_for, worker_environment

REMINDERS = 400  # enough for a kill mid-send at 150/s with batches in flight; more only adds wall time
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


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
    """SIGKILL a worker amid 400 due reminders and restart it: Meta receives each reminder exactly once."""
    if workers == 2 and not database_url.startswith("postgresql"):
        pytest.skip("several workers share one database on PostgreSQL; SQLite is the one-process default")
    repository = Repository.connect(database_url)
    await repository.migrate()
    customers = [f"4477009{n:05d}" for n in range(REMINDERS)]
    seed = random.randrange(1_000_000)
    kill_after = random.Random(seed).randrange(60, 280)
    logs = tmp_path / "processes.log"
    try:
        async with sandbox_meta(database_url, logs) as (session, base):
            worker_env = worker_environment(database_url, base, BOT_THROUGHPUT="150", BOT_SEND_LEASE_SECONDS="3")
            await book_reminders(session, base, customers)
            async with AsyncExitStack() as stack:
                victim = await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                for _ in range(workers - 1):
                    await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                await wait_for(lambda: at_least_sent(repository, kill_after), 60, f"{kill_after} sends")
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                await wait_for(lambda: drained(repository), 90, "the outbox to drain")
            counts = [len(await received(session, base, wa)) for wa in customers]
        sent = await sent_count(repository)
    except BaseException:
        print(f"seed {seed}, kill after {kill_after}; the processes' last output:\n{logs.read_text()[-4000:]}")
        raise
    finally:
        await repository.close()
    assert counts == [1] * REMINDERS, f"seed {seed}: reminders received {sorted(set(counts))} times"
    assert sent == REMINDERS
