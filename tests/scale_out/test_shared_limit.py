"""Several senders on one database share the number's throughput limit: no one-second window holds more."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select

from bot.bench.figures import max_in_window
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


def sender_on(repository: Repository, transport: ArrivalTransport, *, batch: int = 5) -> Sender:
    """A sender at the shared LIMIT, sending through `transport`."""
    client = CloudAPIClient(
        transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
    )
    return Sender(repository, client, clock=now, metrics=Metrics(), code_life=CODE_LIFE, throughput=LIMIT, batch=batch)


async def open_contacts(repository: Repository, count: int) -> list[tuple[int, str]]:
    """`count` contacts who have just written in, so replies to them may go at once."""
    async with repository.transaction() as conn:
        contacts = [(await ensure_contact(conn, f"3166{i:07d}", now()), f"3166{i:07d}") for i in range(count)]
        await conn.execute(CONTACT.update().values(last_inbound_at=now()))
    return contacts


async def queue_replies(repository: Repository, contacts: list[tuple[int, str]], tag: str) -> None:
    """One reply to each contact, due now."""
    messages = [
        NewMessage("reply", cid, wa_id, text_message(wa_id, tag), now(), idempotency_key=f"{tag}:{wa_id}")
        for cid, wa_id in contacts
    ]
    await repository.enqueue(messages, now())


async def until(check: Any, seconds: float = 60) -> None:
    """Poll `check` until it holds (a stuck run fails here rather than hanging the suite)."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.05)


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


async def test_senders_started_at_the_same_moment_never_together_exceed_the_limit(repository: Repository) -> None:
    """Three senders started at once on a fresh database, again and again: no second ever holds more than the limit.

    Their first beats run in concurrent transactions. Were each to count only itself, each would take
    the whole limit at once, and the first second would hold three times the limit.
    """
    starts = 20 if repository.dialect == "postgresql" else 5  # the race is PostgreSQL's; SQLite stays correct
    contacts = await open_contacts(repository, 3 * LIMIT)
    for start in range(starts):
        await queue_replies(repository, contacts, f"start{start}")
        transports = [ArrivalTransport() for _ in range(3)]
        senders = [sender_on(repository, t) for t in transports]

        def arrivals(transports: list[ArrivalTransport] = transports) -> list[float]:
            return [at for t in transports for at in t.arrivals]

        running = asyncio.gather(*(sender.run() for sender in senders))
        # Just over a window's worth: senders taking the whole limit each would send it within the first second.
        await until(lambda: len(arrivals()) >= LIMIT + LIMIT // 4)
        for sender in senders:
            sender.stop()
        await running
        assert max_in_window(arrivals()) <= LIMIT, f"start {start}"


async def test_senders_joining_and_leaving_keep_to_the_limit_in_every_window(repository: Repository) -> None:
    """Three senders start together and all come to send; one leaves mid-stream: the limit holds throughout.

    The survivors grow to half the limit each, but only a window after they saw the third one go.
    """
    contacts = await open_contacts(repository, 12 * LIMIT)
    await queue_replies(repository, contacts, "stream")
    transports = [ArrivalTransport() for _ in range(3)]
    senders = [sender_on(repository, t) for t in transports]
    with structlog.testing.capture_logs() as logs:
        tasks = [asyncio.create_task(sender.run()) for sender in senders]
        await until(lambda: all(t.arrivals for t in transports))  # every sender has joined and sends
        senders[0].stop()
        await tasks[0]
        left = len(logs)

        def grown() -> set[str]:
            return {e["owner"] for e in logs[left:] if e["event"] == "sender.share" and e["rate"] == LIMIT // 2}

        await until(lambda: grown() == {s.owner for s in senders[1:]})
        # and each survivor sends a window's worth more at its grown share
        sent = [len(t.arrivals) for t in transports]
        await until(
            lambda: all(len(t.arrivals) > n + LIMIT // 2 for t, n in zip(transports[1:], sent[1:], strict=True))
        )
        for sender in senders[1:]:
            sender.stop()
        await asyncio.gather(*tasks[1:])
    assert max_in_window([at for t in transports for at in t.arrivals]) <= LIMIT
