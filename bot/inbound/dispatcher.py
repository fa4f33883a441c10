"""Hands stored inbound messages, in order per contact and one turn at a time, to the conversation handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.loop import Wakeful
from bot.metrics import Metrics
from bot.whatsapp.message_body import text_message
from storage import conversation, inbox, session
from storage.models import ContactBase, MessageBase, SessionBase
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.inbound.dispatcher")

MAX_TURN_FAILURES = 3  # turns that may raise on one message before it is given up on (`turn.abandoned`)
MAX_DEFERRED = 10  # calls one turn may defer in a row (an endpoint's answer leading to another call)


class Deferred(Protocol):
    """I/O a turn needs done outside any transaction (a call to the business's endpoint), then the turn's rest."""

    async def perform(self) -> None:
        """Do the I/O; never raises (a failure is the outcome the rest of the turn reacts to)."""
        ...

    async def resume(self, *, session: SessionBase | None, now: datetime, conn: AsyncConnection) -> TurnResult:
        """The rest of the turn, in a new transaction holding the contact's turn lock."""
        ...


@dataclass(frozen=True)
class TurnResult:
    """What one turn decided: messages to send (Meta request bodies), the session's new values, and I/O to do
    once the round's transaction is over, before the turn goes on (`deferred`)."""

    outgoing: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] | None = None  # None: leave the session as it is
    deferred: Deferred | None = None


@dataclass
class _Turn:
    """One contact's turn in a round: replies, session changes, messages handled, and where it stopped."""

    replies: list[NewMessage] = field(default_factory=list)
    changes: dict[str, Any] | None = None
    deferred: tuple[str, Deferred] | None = None  # the reply key it was deferred under, and what to do
    handled: list[int] = field(default_factory=list)
    failed: tuple[MessageBase, str] | None = None  # the message the handler raised on, and the error


class TurnHandler(Protocol):
    """The conversation handler: one message in, replies and the new session out; or a session's time run out.

    `conn` is the turn's transaction: what the handler reads and writes through it (an action's
    business data, a one-time code) commits with the turn, or not at all. The handlers chain: consent
    keywords (`consent_keywords.ConsentDesk`) in front of the live content (`content.LiveRunner`) in front
    of the flows (`flow_runner.FlowRunner`), each passing on what it does not take.
    """

    async def handle(
        self,
        *,
        contact: ContactBase,
        message: MessageBase,
        session: SessionBase | None,
        now: datetime,
        conn: AsyncConnection,
    ) -> TurnResult: ...

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        """The session's waiting step timed out, or the session went idle (`storage.session.due_sessions`)."""
        ...


class Dispatcher(Wakeful):
    """Polls for contacts with unhandled messages (woken early by the webhook) and runs their turns.

    One round is one transaction over a batch of contacts: lock the contacts' turns, read their unhandled
    messages oldest first, run the handler on each in order, queue the replies, save the sessions, and
    mark the messages handled. On PostgreSQL a contact whose turn another process holds is skipped this
    round; on SQLite the transaction is exclusive anyway. One transaction per round, not per contact,
    because on SQLite every write transaction queues for the one write lock the webhook needs too.

    A turn that must wait for the business's endpoint ends the round `deferred`: the call is made after
    the commit, with nothing locked, and the turn's rest runs in a transaction of its own. In `run` that
    goes on beside the next rounds, which leave that contact alone until it is over.

    A round's time (`now`: when its replies fall due, and its messages were handled) is read once its
    contacts are locked. A contact's messages are sent in the order they fall due; read before the lock,
    a round that got it late (another process had the contact's turn, or the CPU was busy) dated its
    replies before those of the turn that went before it, and they overtook that turn's last reply.
    """

    def __init__(
        self,
        repository: Repository,
        handler: TurnHandler,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
        on_enqueued: Callable[[], None] = lambda: None,
        poll_interval: float = 1.0,
        batch: int = 200,
    ) -> None:
        self._repository = repository
        self._handler = handler
        self._clock = clock
        self._metrics = metrics
        self._on_enqueued = on_enqueued
        self._poll_interval = poll_interval
        self._batch = batch
        self._background = False  # in `run`: deferred calls go on beside the next rounds
        self._settling: set[asyncio.Task[None]] = set()
        self._busy: set[int] = set()  # contacts whose turn waits for a deferred call: no new turn meanwhile
        super().__init__()

    async def run(self) -> None:
        async def one_round() -> float:
            return 0.0 if await self.run_once() else self._poll_interval

        self._background = True
        try:
            await self.rounds(one_round, "dispatcher.failed", on_error=self._poll_interval)
        finally:
            self._background = False
            await asyncio.gather(*self._settling, return_exceptions=True)  # calls end within their timeouts

    async def run_once(self) -> int:
        """Run one round of turns, then the sessions whose time ran out; returns how many were handled.

        Called by hand (tests, `bot chat`, transcripts), it also waits for the round's deferred calls and the
        turns' rest; in `run` those go on in the background while the next rounds serve other contacts.
        """
        return await self._messages() + await self._timeouts()

    async def _defer(self, later: dict[int, tuple[str, Deferred]]) -> None:
        if not later:
            return
        if not self._background:
            await self._settle(later)
            return
        self._busy |= later.keys()
        task = asyncio.create_task(self._settle(later), name="dispatcher.deferred")
        self._settling.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._settling.discard(finished)
            self._busy.difference_update(later)
            self.wake()  # their next messages may be waiting

        task.add_done_callback(done)

    async def _timeouts(self) -> int:
        """Hand each session whose waiting step timed out (or that went idle) to the handler's `time_out`."""
        now = self._clock()
        due = await self._repository.due_sessions(now, self._batch)
        contact_ids = [contact_id for contact_id in due if contact_id not in self._busy]
        if not contact_ids:
            return 0
        queued: list[NewMessage] = []
        saved: dict[int, dict[str, Any]] = {}
        later: dict[int, tuple[str, Deferred]] = {}
        done = 0
        async with self._repository.contact_turns(contact_ids) as (conn, locked):
            now = self._clock()  # after the locks (the class's note on time)
            contacts = await conversation.contacts_by_ids(conn, locked)
            sessions = await session.load_sessions(conn, locked)
            numbers = await inbox.last_numbers(conn, locked)
            for contact_id in locked:
                contact, current = contacts[contact_id], sessions.get(contact_id)
                try:
                    result = await self._handler.time_out(contact=contact, session=current, now=now, conn=conn)
                except Exception as exc:  # one contact's failure must not stop the others'
                    log.error("timeout.failed", contact_id=contact_id, error=f"{type(exc).__name__}: {exc}")
                    continue
                key, number = f"timeout:{contact_id}:{now.isoformat()}", numbers.get(contact_id)
                queued += [_reply(contact, body, key, now, i, number) for i, body in enumerate(result.outgoing)]
                if result.session is not None:
                    saved[contact_id] = result.session
                if result.deferred is not None:
                    later[contact_id] = (key, result.deferred)
                done += 1
            await session.save_sessions(conn, saved, now)
            await enqueue(conn, queued, now)
        if queued:
            self._on_enqueued()
        await self._defer(later)
        return done

    async def _messages(self) -> int:
        found = await self._repository.contacts_with_unhandled(self._batch)
        contact_ids = [contact_id for contact_id in found if contact_id not in self._busy]
        if not contact_ids:
            return 0
        later: dict[int, tuple[str, Deferred]] = {}
        async with self._repository.contact_turns(contact_ids) as (conn, locked):
            if not locked:
                return 0
            now = self._clock()  # after the locks (the class's note on time)
            contacts = await conversation.contacts_by_ids(conn, locked)
            waiting = await inbox.unhandled_messages(conn, locked)
            sessions = await session.load_sessions(conn, locked)
            queued: list[NewMessage] = []
            handled: list[int] = []
            saved: dict[int, dict[str, Any]] = {}
            for contact_id, messages in waiting.items():
                contact = contacts[contact_id]
                turn = await self._turn(conn, contact, messages, sessions.get(contact_id), now)
                queued += turn.replies
                handled += turn.handled
                if turn.changes is not None:
                    saved[contact_id] = turn.changes
                if turn.failed is not None:
                    await self._failed(conn, contact_id, *turn.failed, now)
                if turn.deferred is not None:
                    later[contact_id] = turn.deferred
                log.info("turn.completed", contact_id=contact_id, messages=len(turn.handled), replies=len(turn.replies))
            await session.save_sessions(conn, saved, now)
            await enqueue(conn, queued, now)
            await inbox.mark_handled(conn, handled, now)
        self._metrics.turns.inc(len(handled))
        if queued:
            self._on_enqueued()
        await self._defer(later)
        return len(handled)

    async def _settle(self, later: dict[int, tuple[str, Deferred]]) -> None:
        """Do the turns' deferred I/O outside any transaction, all at once, then each turn's rest in a new one.

        Nothing is locked while a business's endpoint is called: other customers' webhooks, turns and sends go
        on. A contact whose turn lock another process holds by then, or a process that dies meanwhile, leaves
        the session at its step; its deadline passes, and the step's error exit takes over.
        """
        try:
            await self._settle_rounds(later)
        except Exception as exc:  # a database failure here: the sessions' deadlines take over
            log.error("turn.deferred_failed", contacts=len(later), error=f"{type(exc).__name__}: {exc}")

    async def _settle_rounds(self, later: dict[int, tuple[str, Deferred]]) -> None:
        for round_number in range(1, MAX_DEFERRED + 1):
            if not later:
                return
            await asyncio.gather(*(deferred.perform() for _, deferred in later.values()))
            queued: list[NewMessage] = []
            saved: dict[int, dict[str, Any]] = {}
            after: dict[int, tuple[str, Deferred]] = {}
            async with self._repository.contact_turns(list(later)) as (conn, locked):
                now = self._clock()  # after the locks (the class's note on time)
                contacts = await conversation.contacts_by_ids(conn, locked)
                sessions = await session.load_sessions(conn, locked)
                numbers = await inbox.last_numbers(conn, locked)
                for contact_id in locked:
                    key, deferred = later[contact_id]
                    try:
                        result = await deferred.resume(session=sessions.get(contact_id), now=now, conn=conn)
                    except Exception as exc:  # one contact's failure must not stop the others'
                        log.error("turn.resume_failed", contact_id=contact_id, error=f"{type(exc).__name__}: {exc}")
                        continue
                    key = f"{key}:then{round_number}"
                    contact, number = contacts[contact_id], numbers.get(contact_id)
                    queued += [_reply(contact, body, key, now, i, number) for i, body in enumerate(result.outgoing)]
                    if result.session is not None:
                        saved[contact_id] = result.session
                    if result.deferred is not None:
                        after[contact_id] = (key, result.deferred)
                await session.save_sessions(conn, saved, now)
                await enqueue(conn, queued, now)
            if queued:
                self._on_enqueued()
            later = after
        log.error("turn.too_many_deferred", contacts=len(later))

    async def _failed(
        self, conn: AsyncConnection, contact_id: int, message: MessageBase, error: str, now: datetime
    ) -> None:
        """Count a turn that raised on `message`; at MAX_TURN_FAILURES give up on it so the next ones get turns."""
        assert message.id is not None
        failures = message.turn_failures + 1
        give_up = failures >= MAX_TURN_FAILURES
        await inbox.count_turn_failure(conn, message.id, give_up=give_up, error=error, when=now)
        if give_up:
            self._metrics.abandoned.inc()
        where = {"contact_id": contact_id, "message_id": message.id, "failures": failures, "error": error}
        log.error("turn.abandoned" if give_up else "turn.failed", **where)

    async def _turn(
        self,
        conn: AsyncConnection,
        contact: ContactBase,
        messages: list[MessageBase],
        current: SessionBase | None,
        now: datetime,
    ) -> _Turn:
        """Run the handler over one contact's messages in order, carrying the session from one to the next.

        A message the handler raises on ends the turn there: those before it are handled, it and those
        after it wait for the next round (a handler bug must not stop other contacts' turns).
        """
        turn = _Turn()
        for message in messages:
            try:
                result = await self._handler.handle(
                    contact=contact, message=message, session=current, now=now, conn=conn
                )
            except Exception as exc:
                turn.failed = (message, f"{type(exc).__name__}: {exc}")
                break
            key = f"reply:{message.wamid}"  # a redelivered message never answers twice
            number = message.phone_number_id  # answered from the number the customer wrote to
            turn.replies += [_reply(contact, body, key, now, i, number) for i, body in enumerate(result.outgoing)]
            if message.id is not None:
                turn.handled.append(message.id)
            if result.session is not None:
                turn.changes = {**(turn.changes or {}), **result.session}
                base = current.model_dump() if current else {"contact_id": contact.id, "updated_at": now}
                current = SessionBase.model_validate({**base, **turn.changes})
            if result.deferred is not None:  # the contact's later messages wait until the turn is over
                turn.deferred = (key, result.deferred)
                break
        return turn


def _reply(
    contact: ContactBase, body: dict[str, Any], key: str, now: datetime, index: int, number: str | None
) -> NewMessage:
    assert contact.id is not None
    template = body.get("template") if body.get("type") == "template" else None
    return NewMessage(
        kind="reply",
        contact_id=contact.id,
        recipient=body.get("to") or contact.wa_id or contact.user_id or "",
        payload=body,
        due_at=now,
        template_name=template.get("name") if isinstance(template, dict) else None,
        idempotency_key=f"{key}:{index}",
        phone_number_id=number,
    )


ACK_TEXT = "Thanks{name}! We got your message and will get back to you shortly."
_ANSWERED = {"text", "interactive", "button"}


class Acknowledger:
    """The stand-in handler until the flow engine lands: one short acknowledgement per customer text."""

    async def handle(
        self,
        *,
        contact: ContactBase,
        message: MessageBase,
        session: SessionBase | None,
        now: datetime,
        conn: AsyncConnection,
    ) -> TurnResult:
        if message.type not in _ANSWERED:
            return TurnResult()
        name = f", {contact.name}" if contact.name else ""
        to = contact.wa_id or contact.user_id or ""
        return TurnResult(outgoing=[text_message(to, ACK_TEXT.format(name=name))])

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        """Nothing to say: the acknowledgement waits for no answer."""
        return TurnResult()


DISPATCHER = web.AppKey("dispatcher", Dispatcher)
