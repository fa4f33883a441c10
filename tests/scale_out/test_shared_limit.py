"""Several senders on one database share the number's throughput limit: no one-second window holds more."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.metrics import Metrics
from bot.otp.core import CODE_LIFE
from bot.outbound.sender import Sender
from bot.whatsapp.client import CloudAPIClient
from bot.whatsapp.message_body import text_message
from storage.models import CONTACT, OUTBOX
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository

LIMIT = 40
MESSAGES = 240


class ArrivalTransport:
    """Meta, reduced to noting when each request arrived, answering after a short delay."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        self.arrivals.append(time.monotonic())
        await asyncio.sleep(0.01)
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any one-second window (a true sliding window, as Meta counts)."""
    times = sorted(arrivals)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def now() -> datetime:
    return datetime.now(UTC)


async def test_two_senders_together_keep_to_the_numbers_limit(repository: Repository) -> None:
    """A second sender joining a busy one: both send, and no second ever holds more than the limit in all."""
    async with repository.transaction() as conn:
        contacts = [(await ensure_contact(conn, f"3165{i:07d}", now()), f"3165{i:07d}") for i in range(MESSAGES)]
        # Replies inside an open window (as if each contact had just written), so every one may go.
        await conn.execute(CONTACT.update().values(last_inbound_at=now()))
    messages = [
        NewMessage("reply", cid, wa_id, text_message(wa_id, "hi"), now(), idempotency_key=f"limit:{wa_id}")
        for cid, wa_id in contacts
    ]
    await repository.enqueue(messages, now())
    transports = [ArrivalTransport(), ArrivalTransport()]
    senders = [
        Sender(
            repository,
            CloudAPIClient(
                transport=t, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
            ),
            clock=now,
            metrics=Metrics(),
            code_life=CODE_LIFE,
            throughput=LIMIT,
            batch=5,  # small claims, so both senders find work while they share
        )
        for t in transports
    ]

    async def remaining() -> int:
        async with repository.engine.connect() as conn:
            waiting = OUTBOX.c.status.in_(("queued", "sending"))
            return int((await conn.execute(select(func.count()).select_from(OUTBOX).where(waiting))).scalar_one())

    first = asyncio.create_task(senders[0].run())
    await asyncio.sleep(1.0)  # the first sender is busy at the whole limit when the second joins
    second = asyncio.create_task(senders[1].run())
    async with asyncio.timeout(60):
        while await remaining():
            await asyncio.sleep(0.2)
    for sender in senders:
        sender.stop()
    await asyncio.gather(first, second)
    arrivals = transports[0].arrivals + transports[1].arrivals
    assert len(arrivals) == MESSAGES
    assert transports[1].arrivals, "the second sender never sent"
    assert busiest_second(arrivals) <= LIMIT
