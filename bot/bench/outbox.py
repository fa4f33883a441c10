"""The outbox side of a send benchmark: fill it with due templates, drain it through the real sender."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bot.bench.figures import rss_mb
from bot.metrics import Metrics
from bot.otp.core import CODE_LIFE
from bot.outbound.sender import Sender
from bot.whatsapp.client import CloudAPIClient
from bot.whatsapp.message_body import template_message
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository

MESSAGES_PER_CONTACT = 4


async def fill_outbox(repository: Repository, messages: int) -> None:
    """N due utility templates to N/4 distinct contacts, four each, in a few large transactions."""
    now = datetime.now(UTC)
    contacts = max(1, -(-messages // MESSAGES_PER_CONTACT))
    ids: list[tuple[int, str]] = []
    async with repository.transaction() as conn:
        for n in range(contacts):
            wa_id = f"4479{n:08d}"
            ids.append((await ensure_contact(conn, wa_id, now), wa_id))
    batch: list[NewMessage] = []
    for index in range(messages):
        contact_id, wa_id = ids[index % contacts]
        payload = template_message(wa_id, "order_update", "en", body_params=[f"#{index}"])
        batch.append(NewMessage("utility", contact_id, wa_id, payload, now, "order_update", "utility"))
        if len(batch) == 2000 or index == messages - 1:
            await repository.enqueue(batch, now)
            batch = []


@contextlib.asynccontextmanager
async def running(*loops: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run the loops as tasks for the block's duration; cancel and await them on the way out."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until_drained(repository: Repository, each: Callable[[], object] = lambda: None) -> None:
    """Return once nothing is queued or in flight, calling `each` every 0.1 s until then.

    Polling the database on purpose: "drained" is what the outbox says, not what a sender thinks.
    """
    while True:
        if not sum((await repository.outbox_depth()).values()):
            return
        each()
        await asyncio.sleep(0.1)


async def drain(repository: Repository, client: CloudAPIClient, rate: int, rss: list[float]) -> float:
    """Run the real sender until nothing is queued or in flight, sampling `rss`; returns the wall-clock seconds."""
    sender = Sender(
        repository, client, clock=lambda: datetime.now(UTC), metrics=Metrics(), code_life=CODE_LIFE, throughput=rate
    )
    started = time.perf_counter()
    async with running(sender.run()):
        await until_drained(repository, lambda: rss.append(rss_mb()))
        return time.perf_counter() - started
