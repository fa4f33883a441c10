"""The dispatcher: turns in order per contact, one at a time, exactly once, also across processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from bot.inbound.dispatcher import MAX_TURN_FAILURES, Acknowledger, Dispatcher, TurnResult
from bot.metrics import Metrics
from bot.whatsapp.webhook_parser import parse_payload
from storage.inbox import Delivery
from storage.models import MESSAGE, OUTBOX, ContactBase, MessageBase, SessionBase
from storage.repository import Repository
from tests.conftest import FakeClock, text_webhook


class CountingHandler:
    """Records every message it is given, per contact, and flags two turns of one contact at once."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = defaultdict(list)
        self.calls: list[str] = []

    async def handle(
        self, *, contact: ContactBase, message: MessageBase, session: SessionBase | None, now: datetime, conn: Any
    ) -> TurnResult:
        self.calls.append(message.wamid)
        self.seen[contact.wa_id or ""].append(message.text or "")
        count = int((session.slots or {}).get("count", 0)) if session else 0
        return TurnResult(session={"flow": "count", "step": "next", "slots": {"count": count + 1}})

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: Any
    ) -> TurnResult:
        return TurnResult()


async def store_conversations(repo: Repository, clock: FakeClock, contacts: int, messages: int) -> None:
    """Store `messages` texts from each of `contacts` customers, deliberately delivered newest first."""
    deliveries = []
    for i in reversed(range(messages)):
        for c in range(contacts):
            wa = f"3162000{c:04d}"
            sent_at = clock.now + timedelta(seconds=i)
            payload = text_webhook(wa_id=wa, wamid=f"wamid.{wa}.{i}", body=str(i), timestamp=sent_at)
            deliveries.append(Delivery(body="{}", parsed=parse_payload(payload)))
    await repo.store_deliveries(deliveries)


def make_dispatcher(repo: Repository, handler: CountingHandler | Acknowledger, clock: FakeClock) -> Dispatcher:
    return Dispatcher(repo, handler, clock=clock, metrics=Metrics())


async def test_messages_are_handled_in_the_order_the_customer_sent_them(
    repository: Repository, clock: FakeClock
) -> None:
    """Messages delivered out of order are handled by their Meta timestamps, and the session carries across."""
    await store_conversations(repository, clock, contacts=1, messages=5)
    handler = CountingHandler()
    assert await make_dispatcher(repository, handler, clock).run_once() == 5
    assert handler.seen["31620000000"] == ["0", "1", "2", "3", "4"]
    assert await make_dispatcher(repository, handler, clock).run_once() == 0


async def test_acknowledger_answers_each_text_once(repository: Repository, clock: FakeClock) -> None:
    """The stand-in handler queues one acknowledgement per customer text, addressed to the customer."""
    await store_conversations(repository, clock, contacts=2, messages=2)
    await make_dispatcher(repository, Acknowledger(), clock).run_once()
    claimed = await repository.claim_due(owner="t", now=clock.now, lease=timedelta(seconds=5), limit=10)
    assert sorted(r.recipient for r in claimed) == ["31620000000", "31620000001"]  # one in flight per contact
    assert all("Thanks, Ana!" in r.payload["text"]["body"] for r in claimed)


async def test_two_dispatchers_handle_every_message_exactly_once(
    database_url: str, repository: Repository, clock: FakeClock
) -> None:
    """Two dispatchers on separate connections (as two processes) race over 10 contacts and never double a turn."""
    await store_conversations(repository, clock, contacts=10, messages=10)
    other = Repository.connect(database_url)
    handler = CountingHandler()
    try:
        first, second = make_dispatcher(repository, handler, clock), make_dispatcher(other, handler, clock)
        for _ in range(20):
            done = await asyncio.gather(first.run_once(), second.run_once())
            if not any(done):
                break
    finally:
        await other.close()
    assert len(handler.calls) == 100
    assert len(set(handler.calls)) == 100
    for wa, texts in handler.seen.items():
        assert texts == [str(i) for i in range(10)], wa


class ChokingHandler(CountingHandler):
    """Counts like its parent, but raises, as a handler bug would, on every text that says `boom`."""

    async def handle(
        self, *, contact: ContactBase, message: MessageBase, session: SessionBase | None, now: datetime, conn: Any
    ) -> TurnResult:
        if message.text == "boom":
            self.calls.append(message.wamid)
            raise RuntimeError("the handler choked")
        return await super().handle(contact=contact, message=message, session=session, now=now, conn=conn)


async def test_a_message_every_turn_raises_on_is_given_up_on_and_the_next_ones_are_answered(
    repository: Repository, clock: FakeClock
) -> None:
    """`boom` fails MAX_TURN_FAILURES turns and is then marked handled with its error; later texts get their turns."""
    texts = {"31620000001": ["hi", "boom", "after"], "31620000002": ["other"]}
    deliveries = [
        Delivery(body="{}", parsed=parse_payload(text_webhook(
            wa_id=wa, wamid=f"wamid.{wa}.{i}", body=body, timestamp=clock.now + timedelta(seconds=i)
        )))
        for wa, bodies in texts.items() for i, body in enumerate(bodies)
    ]  # fmt: skip
    await repository.store_deliveries(deliveries)
    handler, metrics = ChokingHandler(), Metrics()
    dispatcher = Dispatcher(repository, handler, clock=clock, metrics=metrics)

    with structlog.testing.capture_logs() as logs:
        handled = [await dispatcher.run_once() for _ in range(MAX_TURN_FAILURES + 2)]

    assert handled == [2, 0, 0, 1, 0]  # hi and other; boom three times in vain; then after
    assert handler.seen == {"31620000001": ["hi", "after"], "31620000002": ["other"]}
    assert handler.calls.count("wamid.31620000001.1") == MAX_TURN_FAILURES
    events = [(e["event"], e.get("failures")) for e in logs if e["log_level"] == "error"]
    assert events == [("turn.failed", 1), ("turn.failed", 2), ("turn.abandoned", 3)]
    assert all(e["error"] == "RuntimeError: the handler choked" for e in logs if e["log_level"] == "error")
    assert metrics.registry.get_sample_value("bot_turns_abandoned_total") == 1
    async with repository.engine.connect() as conn:
        rows = await conn.execute(select(MESSAGE).where(MESSAGE.c.direction == "in"))
        stored = {r.wamid: r for r in rows}
    boom = stored["wamid.31620000001.1"]
    assert (boom.turn_failures, boom.turn_error) == (3, "RuntimeError: the handler choked")
    assert boom.handled_at is not None
    assert all(r.handled_at is not None and r.turn_error is None for w, r in stored.items() if w != boom.wamid)


async def test_a_round_that_gets_its_lock_late_dates_its_replies_after_the_turn_before(
    database_url: str, repository: Repository, clock: FakeClock
) -> None:
    """A contact's replies go out in the order of their texts, however late a round got the contact's turn.

    One process finds the contact's first text, then waits (its CPU busy, or another process holding the
    contact's turn). Meanwhile another process answers that text, and the customer's second text comes in.
    The late round answers the second: its reply must not fall due before the first text's.
    """
    await store_conversations(repository, clock, contacts=1, messages=1)
    late_repository = Repository.connect(database_url)
    go, waiting = asyncio.Event(), asyncio.Event()
    turns = late_repository.contact_turns

    @contextlib.asynccontextmanager
    async def late_turns(contact_ids: Sequence[int]) -> AsyncIterator[tuple[Any, list[int]]]:
        waiting.set()
        await go.wait()
        async with turns(contact_ids) as got:
            yield got

    late_repository.contact_turns = late_turns  # type: ignore[method-assign]
    try:
        late = asyncio.create_task(make_dispatcher(late_repository, Acknowledger(), clock).run_once())
        await waiting.wait()
        clock.advance(seconds=5)
        assert await make_dispatcher(repository, Acknowledger(), clock).run_once() == 1
        payload = text_webhook(wa_id="31620000000", wamid="wamid.second", body="and", timestamp=clock.now)
        await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(payload))])
        go.set()
        assert await late == 1
    finally:
        await late_repository.close()
    # One message per contact is claimed at a time, the earliest due first: the first text's reply.
    (first,) = await repository.claim_due(owner="t", now=clock.advance(seconds=1), lease=timedelta(seconds=5), limit=5)
    assert first.idempotency_key == "reply:wamid.31620000000.0:0"
    async with repository.reading() as conn:
        due = dict((await conn.execute(select(OUTBOX.c.idempotency_key, OUTBOX.c.due_at))).all())
    assert due["reply:wamid.second:0"] >= due["reply:wamid.31620000000.0:0"]
