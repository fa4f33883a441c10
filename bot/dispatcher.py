"""Hands stored inbound messages, in order per contact and one turn at a time, to the conversation handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from bot.message import text_message
from bot.metrics import Metrics
from storage import conversation, inbox, session
from storage.models import Contact, Message, Session
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.dispatcher")


@dataclass(frozen=True)
class TurnResult:
    """What one turn decided: messages to send (Meta request bodies) and the session's new values."""

    outgoing: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] | None = None  # None: leave the session as it is


class Handler(Protocol):
    """The conversation handler: pure, no I/O; the flow engine will be one."""

    def handle(self, *, contact: Contact, message: Message, session: Session | None, now: datetime) -> TurnResult: ...


class Dispatcher:
    """Polls for contacts with unhandled messages (woken early by the webhook) and runs their turns.

    A contact's turn is one transaction: read its unhandled messages oldest first, run the handler on
    each, queue the replies, save the session, mark the messages handled. The turn lock
    (`Repository.contact_turn`) keeps two processes off one contact; `_busy` keeps two tasks of this
    process off it without a database round trip.
    """

    def __init__(
        self,
        repository: Repository,
        handler: Handler,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
        on_enqueued: Callable[[], None] = lambda: None,
        poll_interval: float = 1.0,
        concurrency: int = 8,
    ) -> None:
        self._repository = repository
        self._handler = handler
        self._clock = clock
        self._metrics = metrics
        self._on_enqueued = on_enqueued
        self._poll_interval = poll_interval
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._busy: set[int] = set()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception as exc:  # top-level loop: log and go on
                log.error("dispatcher.failed", error=f"{type(exc).__name__}: {exc}")
                handled = 0
            if not handled:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # coincides with the wake-up, and the loop would then outlive its owner.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._wakeup.wait()
                self._wakeup.clear()

    async def run_once(self) -> int:
        """Run one round of turns; returns how many messages were handled."""
        contact_ids = [c for c in await self._repository.contacts_with_unhandled() if c not in self._busy]
        results = await asyncio.gather(*(self._guarded(c) for c in contact_ids))
        return sum(results)

    async def _guarded(self, contact_id: int) -> int:
        if contact_id in self._busy:
            return 0
        self._busy.add(contact_id)
        try:
            async with self._slots:
                return await self.turn(contact_id)
        except Exception as exc:  # one contact's failure must not stop the others
            log.error("turn.failed", contact_id=contact_id, error=f"{type(exc).__name__}: {exc}")
            return 0
        finally:
            self._busy.discard(contact_id)

    async def turn(self, contact_id: int) -> int:
        """Handle every waiting message of one contact in one transaction."""
        now = self._clock()
        async with self._repository.contact_turn(contact_id) as conn:
            if conn is None:
                return 0  # another process holds this contact's turn
            contact = await conversation.get_contact(conn, contact_id)
            messages = await inbox.unhandled_messages(conn, contact_id)
            if contact is None or not messages:
                return 0
            current = await session.load_session(conn, contact_id)
            queued: list[NewMessage] = []
            for message in messages:
                result = self._handler.handle(contact=contact, message=message, session=current, now=now)
                queued += [_reply(contact, body, message, now, i) for i, body in enumerate(result.outgoing)]
                if result.session is not None:
                    await session.save_session(conn, contact_id, now, **result.session)
                    current = await session.load_session(conn, contact_id)
            await enqueue(conn, queued, now)
            await inbox.mark_handled(conn, [m.id for m in messages if m.id is not None], now)
        self._metrics.turns.inc(len(messages))
        log.info("turn.completed", contact_id=contact_id, messages=len(messages), replies=len(queued))
        if queued:
            self._on_enqueued()
        return len(messages)


def _reply(contact: Contact, body: dict[str, Any], message: Message, now: datetime, index: int) -> NewMessage:
    assert contact.id is not None
    template = body.get("template") if body.get("type") == "template" else None
    return NewMessage(
        kind="reply",
        contact_id=contact.id,
        recipient=body.get("to") or contact.wa_id or contact.user_id or "",
        payload=body,
        due_at=now,
        template_name=template.get("name") if isinstance(template, dict) else None,
        idempotency_key=f"reply:{message.wamid}:{index}",  # a redelivered message never answers twice
    )


ACK_TEXT = "Thanks{name}! We got your message and will get back to you shortly."
_ANSWERED = {"text", "interactive", "button"}


class Acknowledger:
    """The stand-in handler until the flow engine lands: one short acknowledgement per customer text."""

    def handle(self, *, contact: Contact, message: Message, session: Session | None, now: datetime) -> TurnResult:
        if message.type not in _ANSWERED:
            return TurnResult()
        name = f", {contact.name}" if contact.name else ""
        to = contact.wa_id or contact.user_id or ""
        return TurnResult(outgoing=[text_message(to, ACK_TEXT.format(name=name))])
