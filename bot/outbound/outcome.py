"""What became of a message the sender tried: sent, retried, failed, held, dropped or expired.

Each outcome knows the columns that settle its outbox row (`prepare`, inside the batch's transaction) and
how to count and log itself (`report`); `decide` is the conversation-category decision a send is made under.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.metrics import Metrics
from bot.outbound.send_policy import Drop, Hold
from bot.whatsapp import category as rules
from bot.whatsapp.client import SendResult
from storage import consent, conversation, outbox, policy
from storage.consent import OPT_OUT, ConsentChange
from storage.models import ContactBase, ConversationBase, OutboxBase

log = structlog.get_logger("bot.outbound.outcome")
LEASE_EXPIRED = {"code": "lease_expired", "message": "the sender stopped before settling this message"}
LEASE_UNSURE = {
    "code": "lease_not_renewed",
    "message": "the lease could not be renewed in time; not sent, queued again",
}


@dataclass(frozen=True)
class Sent:
    """Meta accepted the message: record it, and open or join its conversation."""

    row: OutboxBase
    result: SendResult
    decision: rules.SendDecision
    decided_at: datetime  # when the category rules ran: the conversation opens then, expiring 24 h later
    outside_window: bool = False  # counts towards the messaging-limit tier
    number: str | None = None  # the business number it went out from (the row's, or the default one)
    status = "sent"

    def conversation(self) -> dict[str, Any]:
        """The conversation this send opens (when `decision.opens`), as columns; it opened when decided."""
        decision = self.decision
        return {
            "contact_id": self.row.contact_id, "category": decision.category, "origin": decision.origin,
            "opened_at": self.decided_at, "expires_at": decision.expires_at, "opening_wamid": self.result.wamid,
            "phone_number_id": self.number or self.row.phone_number_id,
        }  # fmt: skip

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        row, decision = self.row, self.decision
        closes = [c.id for c in decision.closes if c.id is not None]
        await conversation.close_conversations(conn, closes, now)
        conversation_id = opened if decision.opens else decision.conversation_id
        payload = settled_payload(row)
        messages.append(
            message_values(row, payload or row.payload, self.result, decision, conversation_id, now)
            | {"outside_window": self.outside_window, "phone_number_id": self.number or row.phone_number_id}
        )
        values: dict[str, Any] = {"wamid": self.result.wamid, "category": decision.category}
        return values if payload is None else {**values, "payload": payload}

    def report(self, metrics: Metrics) -> None:
        metrics.sent.labels(category=self.decision.category).inc()
        log.info("message.sent", outbox_id=self.row.id, kind=self.row.kind, category=self.decision.category)


@dataclass(frozen=True)
class Retry:
    """A retryable failure: back to the queue after `wait` (with the contact's queued `hold_kinds` too)."""

    row: OutboxBase
    category: str
    error: dict[str, Any]
    wait: timedelta
    hold_kinds: tuple[str, ...] = ()
    status = "queued"

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        if self.hold_kinds:
            await outbox.defer_contact(conn, self.row.contact_id, now + self.wait, now, self.hold_kinds)
        return {"due_at": now + self.wait, "last_error": self.error}

    def report(self, metrics: Metrics) -> None:
        metrics.retried.labels(reason=self.error["code"]).inc()
        log.warning(
            "message.retry", outbox_id=self.row.id, code=self.error.get("error_code"), wait_s=self.wait.total_seconds()
        )


@dataclass(frozen=True)
class Failed:
    """A permanent failure, recorded with its reason; never retried.

    131026 also marks the number undeliverable (nothing more is sent until the customer writes), 131050
    records the customer's marketing opt-out, and a template error (132000, 132001, 132015, 132016)
    blocks the template until a person re-enables it.
    """

    row: OutboxBase
    category: str
    error: dict[str, Any]
    undeliverable: bool = False
    blocks_template: tuple[str, str] | None = None
    opts_out: bool = False  # 131050: record the marketing opt-out (which cancels the rest of the queue)
    status = "failed"

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        if self.undeliverable:
            await policy.mark_undeliverable(conn, self.row.contact_id, now)
        if self.opts_out:
            evidence = {"outbox_id": self.row.id, "error": self.error}
            key = f"outbox:{self.row.id}"
            change = ConsentChange(self.row.contact_id, OPT_OUT, "error_131050", evidence, now, dedupe_key=key)
            await consent.record(conn, [change], now)
        if self.blocks_template:
            name, language = self.blocks_template
            reason = str(self.error.get("message"))
            code = self.error.get("error_code")
            if await policy.block_template(conn, name=name, language=language, error_code=code, reason=reason, now=now):
                log.error("template.blocked", template=name, language=language, code=code, reason=reason)
        payload = settled_payload(self.row)
        values: dict[str, Any] = {"last_error": self.error}
        return values if payload is None else {**values, "payload": payload}

    def report(self, metrics: Metrics) -> None:
        metrics.failed.labels(category=self.category, reason=self.error["code"]).inc()
        log.warning(
            "message.failed", outbox_id=self.row.id, reason=self.error["code"], detail=self.error.get("message")
        )


@dataclass(frozen=True)
class Held:
    """Not now (quiet hours, the messaging limit): back to the queue until `hold.until`, not an attempt."""

    row: OutboxBase
    hold: Hold
    status = "queued"

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        error = {"code": self.hold.code, "message": self.hold.message}
        return {"due_at": self.hold.until, "attempts": max(self.row.attempts - 1, 0), "last_error": error}

    def report(self, metrics: Metrics) -> None:
        metrics.held.labels(reason=self.hold.code).inc()
        log.info("message.held", outbox_id=self.row.id, reason=self.hold.code, until=self.hold.until.isoformat())


@dataclass(frozen=True)
class Dropped:
    """Never (no longer wanted, unreachable number, blocked template): settled unsent, with the reason."""

    row: OutboxBase
    drop: Drop

    @property
    def status(self) -> str:
        return self.drop.status

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        payload = settled_payload(self.row)
        values: dict[str, Any] = {"last_error": {"code": self.drop.code, "message": self.drop.message}}
        return values if payload is None else {**values, "payload": payload}

    def report(self, metrics: Metrics) -> None:
        metrics.dropped.labels(reason=self.drop.code).inc()
        log.info("message.dropped", outbox_id=self.row.id, reason=self.drop.code, detail=self.drop.message)


@dataclass(frozen=True)
class Expired:
    """A lease ran out with no word from Meta: the kind decides (`outbox.ON_EXPIRED_LEASE`)."""

    row: OutboxBase
    status: str
    error: dict[str, Any] = field(default_factory=lambda: dict(LEASE_EXPIRED))

    async def prepare(
        self, conn: AsyncConnection, now: datetime, messages: list[dict[str, Any]], opened: int | None
    ) -> dict[str, Any]:
        payload = settled_payload(self.row)
        values: dict[str, Any] = {"last_error": self.error}
        return values if payload is None else {**values, "payload": payload}

    def report(self, metrics: Metrics) -> None:
        metrics.retried.labels(reason=self.error["code"]).inc()
        if self.error["code"] != LEASE_EXPIRED["code"]:
            log.warning("message.outcome_unknown", outbox_id=self.row.id, kind=self.row.kind, status=self.status)


Outcome = Sent | Retry | Failed | Held | Dropped | Expired


@dataclass(frozen=True)
class Window:
    """A customer's service window on one business number: when they last wrote to it (None: never)."""

    last_inbound_at: datetime | None


def decide(
    row: OutboxBase,
    contact: ContactBase | None,
    open_now: list[ConversationBase],
    now: datetime,
    window: Window | None = None,
) -> rules.SendDecision:
    """The category rules for `row`, with the contact's conversations and window on the row's number.

    With several numbers, `window` says when the customer last wrote to that number (Meta keeps windows
    and conversations per business number); without it, the contact's last message to any number counts.
    """
    is_template = row.payload.get("type") == "template"
    template_category = rules.parse_category(row.template_category or "marketing") if is_template else None
    return rules.decide_send(
        template_category=template_category,
        open_conversations=[
            rules.OpenConversation(
                category=rules.parse_category(c.category),
                opened_at=c.opened_at,
                expires_at=c.expires_at,
                id=c.id,
                origin=c.origin,  # type: ignore[arg-type]
            )
            for c in open_now
        ],
        last_inbound_at=window.last_inbound_at if window else (contact.last_inbound_at if contact else None),
        now=now,
        free_entry_point_at=contact.free_entry_point_at if contact else None,
    )


def settled_payload(row: OutboxBase) -> dict[str, Any] | None:
    """The payload to keep once a row is settled, when it must change: a one-time code is dropped."""
    return outbox.redacted_payload(row.payload) if row.kind in outbox.SECRET_KINDS else None


def message_values(
    row: OutboxBase,
    payload: dict[str, Any],
    result: SendResult,
    decision: rules.SendDecision,
    conversation_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    kind = str(payload.get("type", "text"))
    content = payload.get(kind)
    text = content.get("body") if kind == "text" and isinstance(content, dict) else None
    if kind == "interactive" and isinstance(content, dict):
        text = (content.get("body") or {}).get("text")
    return {
        "wamid": result.wamid,
        "contact_id": row.contact_id,
        "type": kind,
        "text": text,
        "body": payload,
        "template_name": row.template_name,
        "conversation_id": conversation_id,
        "category": decision.category,
        "outbox_id": row.id,
        "created_at": now,
    }
