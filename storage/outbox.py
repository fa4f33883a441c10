"""The outbox: every outgoing message is a row first; senders claim, lease, send and settle rows."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

from storage.bulk import rows_update
from storage.dialect import among, insert_ignoring_conflicts
from storage.models import OUTBOX, OutboxBase
from storage.rows import model_of

# The kinds in the order the sender takes them when several are due (lower `priority` first). A one-time
# code goes first: the customer is waiting on a login screen, the code dies in minutes, and codes are few
# (paced per number, `bot.otp.core`). Then replies to customers who wrote (inside their service window),
# then utility updates, then marketing, which waits for everything else. The sender keeps the same order
# among the sends a batch has claimed and waiting at the throughput gate (`bot.outbound.sender`).
KINDS = ("otp", "reply", "utility", "marketing")
PRIORITY = {kind: rank for rank, kind in enumerate(KINDS)}
# What a lease that expired mid-send becomes: the send's outcome is unknown, so replies and utility
# messages are tried again, a one-time code is expired (a fresh one must be requested), and marketing is
# never blindly re-sent.
ON_EXPIRED_LEASE = {"reply": "queued", "utility": "queued", "otp": "expired", "marketing": "unknown"}
ACTIVE = ("queued", "sending")
# Kinds whose payload carries a secret (a one-time code) that must not outlive the send attempt.
SECRET_KINDS = frozenset({"otp"})
REDACTED = "[redacted]"


def redacted_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of a template send body with every parameter's text blanked, for rows that carried a code.

    An authentication template carries its code as the body parameter and the copy-code button's
    parameter; once the send is settled nothing needs it, and a stored code is one a leak could use.
    """
    scrubbed = copy.deepcopy(payload)
    template = scrubbed.get("template")
    components = template.get("components") if isinstance(template, dict) else None
    for component in components if isinstance(components, list) else []:
        parameters = component.get("parameters") if isinstance(component, dict) else None
        for parameter in parameters if isinstance(parameters, list) else []:
            if isinstance(parameter, dict) and "text" in parameter:
                parameter["text"] = REDACTED
    return scrubbed


@dataclass(frozen=True)
class NewMessage:
    """An outgoing message to put in the outbox."""

    kind: str
    contact_id: int
    recipient: str
    payload: dict[str, Any]
    due_at: datetime
    template_name: str | None = None
    template_category: str | None = None
    idempotency_key: str | None = None
    campaign_id: int | None = None
    subject: str | None = None
    urgent: bool = False
    phone_number_id: str | None = None  # the business number it goes out from; None: the default one

    def row(self, now: datetime) -> dict[str, Any]:
        if self.kind not in PRIORITY:
            raise ValueError(f"unknown outbox kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        return {
            "kind": self.kind,
            "priority": PRIORITY[self.kind],
            "contact_id": self.contact_id,
            "recipient": self.recipient,
            "payload": self.payload,
            "due_at": self.due_at,
            "template_name": self.template_name,
            "template_category": self.template_category,
            "idempotency_key": self.idempotency_key,
            "campaign_id": self.campaign_id,
            "subject": self.subject,
            "urgent": self.urgent,
            "phone_number_id": self.phone_number_id,
            "status": "queued",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }


async def enqueue(conn: AsyncConnection, messages: Sequence[NewMessage], now: datetime) -> int:
    """Add messages; one whose idempotency key is already present is skipped. Returns how many were added."""
    if not messages:
        return 0
    stmt = insert_ignoring_conflicts(conn, OUTBOX).returning(OUTBOX.c.id)
    result = await conn.execute(stmt, [m.row(now) for m in messages])
    return len(result.all())


async def enqueue_keyed(conn: AsyncConnection, messages: Sequence[NewMessage], now: datetime) -> set[str]:
    """Add messages that each carry an idempotency key, in one statement; answers the keys that were added.

    A key already present (queued earlier, or by a transaction that committed first) is skipped, so the
    caller learns per message whether it was new. Keys must differ within `messages`.
    """
    if not messages:
        return set()
    if any(m.idempotency_key is None for m in messages):
        raise ValueError("enqueue_keyed needs an idempotency key on every message")
    stmt = insert_ignoring_conflicts(conn, OUTBOX).returning(OUTBOX.c.idempotency_key)
    result = await conn.execute(stmt, [m.row(now) for m in messages])
    return {str(key) for key in result.scalars()}


def _claimable(number: bool | None) -> Any:
    """Due queued rows whose contact has nothing in flight and nothing due earlier: per-contact order.

    `now` and `limit` are bound parameters (`claim_now`, `claim_limit`); with `number` given, so is the
    number's id (`claim_number`): True for the default number, which also owns rows naming none.
    """
    other = OUTBOX.alias("other")
    # `contact_id = … AND status IN (…)` stands alone so that the probe is one scan of
    # ix_outbox_contact_status whatever PostgreSQL's statistics say: with the counts of a table never
    # analysed, an OR over the statuses was planned as a bitmap of every queued row, once per row.
    blocked = exists().where(
        other.c.contact_id == OUTBOX.c.contact_id,
        other.c.status.in_(("sending", "queued")),
        other.c.id != OUTBOX.c.id,
        or_(
            other.c.status == "sending",
            other.c.due_at < OUTBOX.c.due_at,
            and_(other.c.due_at == OUTBOX.c.due_at, other.c.id < OUTBOX.c.id),
        ),
    )
    now = bindparam("claim_now", type_=OUTBOX.c.due_at.type)
    stmt = select(OUTBOX.c.id).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= now, ~blocked)
    if number is not None:  # one number's rows (ix_outbox_number_claim); a row naming none is the default's
        mine = OUTBOX.c.phone_number_id == bindparam("claim_number", type_=OUTBOX.c.phone_number_id.type)
        stmt = stmt.where(or_(mine, OUTBOX.c.phone_number_id.is_(None)) if number else mine)
    limit = bindparam("claim_limit", type_=Integer)
    return stmt.order_by(OUTBOX.c.priority, OUTBOX.c.due_at, OUTBOX.c.id).limit(limit).with_for_update(skip_locked=True)


@functools.lru_cache(maxsize=3)
def _claim(number: bool | None) -> Any:
    """`claim_due`'s statement, built once for each kind of `number` (building it took 0.6 ms a claim)."""
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(_claimable(number)))
        .values(
            status="sending",
            lease_owner=bindparam("claim_owner", type_=OUTBOX.c.lease_owner.type),
            lease_until=bindparam("claim_until", type_=OUTBOX.c.lease_until.type),
            attempts=OUTBOX.c.attempts + 1,
            updated_at=bindparam("claim_updated", type_=OUTBOX.c.updated_at.type),
        )
        .returning(*OUTBOX.c)
    )


async def claim_due(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    number: tuple[str, bool] | None = None,
) -> list[OutboxBase]:
    """Claim up to `limit` due rows with one `UPDATE … WHERE id IN (… FOR UPDATE SKIP LOCKED) RETURNING`.

    With `number` (its id, and whether it is the default one, which also owns rows naming none), only
    that business number's rows: a sender claims for each number's lane in turn.
    """
    parameters: dict[str, Any] = {
        "claim_owner": owner, "claim_now": now, "claim_updated": now, "claim_until": now + lease, "claim_limit": limit,
    }  # fmt: skip
    if number is not None:
        parameters["claim_number"] = number[0]
    rows = await conn.execute(_claim(None if number is None else number[1]), parameters)
    claimed = [model_of(OutboxBase, row._mapping) for row in rows]
    return sorted(claimed, key=lambda r: (r.priority, r.due_at, r.id or 0))


async def renew_leases(
    conn: AsyncConnection, *, owner: str, ids: Sequence[int], now: datetime, lease: timedelta
) -> set[int]:
    """Extend the leases `owner` still holds on `ids`; answers which it still holds (the rest were reaped)."""
    if not ids:
        return set()
    stmt = (
        update(OUTBOX)
        .where(among(OUTBOX.c.id, ids), OUTBOX.c.status == "sending", OUTBOX.c.lease_owner == owner)
        .values(lease_until=now + lease)
        .returning(OUTBOX.c.id)
    )
    return {int(row[0]) for row in await conn.execute(stmt)}


async def settle(
    conn: AsyncConnection, *, owner: str, status: str, now: datetime, rows: Sequence[dict[str, Any]]
) -> int:
    """Finish claimed rows (sent, failed, queued again …) that this sender still holds; one statement.

    Each row is `{"id": id, <column>: value, …}`, the same columns in every row. Returns how many rows
    were settled (-1 when the driver cannot count an executemany); fewer means the reaper took some. On
    PostgreSQL it is one statement for all the rows (`storage.bulk.rows_update`).
    """
    if not rows:
        return 0
    shared = {"settle_owner": owner, "settle_status": status, "settle_now": now}
    statement, parameters = rows_update(conn.dialect, OUTBOX, "id", rows, refine=_settling, shared=shared)
    result = await conn.execute(statement, parameters)
    return int(result.rowcount)


def _settling(statement: Update) -> Update:
    """`settle`'s conditions and values, bound: the row is still this sender's, and it is let go."""
    return statement.where(OUTBOX.c.status == "sending", OUTBOX.c.lease_owner == bindparam("settle_owner")).values(
        status=bindparam("settle_status"), lease_owner=None, lease_until=None, updated_at=bindparam("settle_now")
    )


async def defer_contact(
    conn: AsyncConnection, contact_id: int, until: datetime, now: datetime, kinds: Sequence[str] = KINDS
) -> None:
    """Hold the queued messages of `kinds` to one contact until `until` (Meta's per-recipient limits)."""
    await conn.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.contact_id == contact_id,
            OUTBOX.c.status == "queued",
            among(OUTBOX.c.kind, kinds),
            OUTBOX.c.due_at < until,
        )
        .values(due_at=until, updated_at=now)
    )


async def take_expired_leases(
    conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int, flying: Sequence[int] = ()
) -> list[OutboxBase]:
    """Take over rows whose sender died mid-send (their lease ran out), so exactly one reaper settles each.

    The reaper then decides by kind and by what Meta reported (see `ON_EXPIRED_LEASE`); the attempt
    count is unchanged, because no new attempt was made. `flying` are the reaper's own sender's rows
    still in its hands, never taken whatever their lease says.
    """
    expired = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.status == "sending", OUTBOX.c.lease_until < now)
        .where(OUTBOX.c.id.not_in(list(flying)))
        .order_by(OUTBOX.c.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(expired))
        .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        .returning(*OUTBOX.c)
    )
    return [model_of(OutboxBase, row._mapping) for row in await conn.execute(stmt)]


async def expire_stale_secrets(conn: AsyncConnection, *, created_before: datetime, now: datetime) -> int:
    """Expire queued one-time codes older than their life and blank their payload; answers how many.

    A code that could not be sent in time (the senders were down) is useless to the customer, and a
    stored code is one a leak could use.
    """
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.kind.in_(SECRET_KINDS), OUTBOX.c.status == "queued", OUTBOX.c.created_at < created_before)
        .values(
            status="expired",
            updated_at=now,
            last_error={"code": "expired", "message": "the code's life ended before it could be sent"},
        )
        .returning(OUTBOX.c.id, OUTBOX.c.payload)
    )
    stale = (await conn.execute(stmt)).all()
    if stale:
        await conn.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")),
            [{"oid": oid, "payload": redacted_payload(payload)} for oid, payload in stale],
        )
    return len(stale)


def callback_of(outbox_id: int | None) -> str:
    """The `biz_opaque_callback_data` a send carries, echoed back in its status webhooks."""
    return f"outbox:{outbox_id}"


async def depth(conn: AsyncConnection) -> dict[str, int]:
    """How many rows are queued and in flight, by kind; the metric operators alert on."""
    rows = await conn.execute(
        select(OUTBOX.c.kind, OUTBOX.c.status, func.count())
        .where(OUTBOX.c.status.in_(ACTIVE))
        .group_by(OUTBOX.c.kind, OUTBOX.c.status)
    )
    return {f"{kind}:{status}": n for kind, status, n in rows}


async def rows_after(conn: AsyncConnection, after_id: int, recipient: str) -> list[OutboxBase]:
    """The rows queued for `recipient` since row `after_id`, in the order they were queued."""
    result = await conn.execute(
        select(OUTBOX).where(OUTBOX.c.id > after_id, OUTBOX.c.recipient == recipient).order_by(OUTBOX.c.id)
    )
    return [OutboxBase.model_validate(r._mapping) for r in result]


async def next_due_at(conn: AsyncConnection, after: datetime) -> datetime | None:
    """When the next queued row falls due after `after` (a reminder, a retry), if any is queued."""
    query = (
        select(OUTBOX.c.due_at)
        .where(OUTBOX.c.status == "queued", OUTBOX.c.due_at > after)
        .order_by(OUTBOX.c.due_at)
        .limit(1)
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def refresh_statistics(conn: AsyncConnection) -> None:
    """Have PostgreSQL re-read the outbox's statistics after a bulk load.

    The claim's anti-join is planned from them: with the counts of an empty table, PostgreSQL picks a
    nested loop that costs seconds per claim over 20,000 queued rows (21 ms once analysed). Autovacuum
    gets there too, but only after a while.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ANALYZE outbox"))
