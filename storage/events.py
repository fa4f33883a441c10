"""Events out: written beside the change that causes them, one delivery row per subscription, claimed with a lease.

This is the outbox pattern for the business's own URLs. `emit` (or `emit_sync` inside the webhook's
synchronous batch writer) runs in the caller's transaction: when the change commits, so do the
deliveries it owes, and when it rolls back, no event tells of a change that never happened. Without a
subscription wanting the event, `emit` costs one small read and writes nothing.

A delivery loop claims due rows with one `UPDATE … WHERE id IN (… FOR UPDATE SKIP LOCKED) RETURNING`
(SQLite drops the lock clause and serialises writers), holds a lease, and settles them. Only the oldest
unsettled row of a (subscription, contact) pair can be claimed, so a contact's events reach each URL in
the order they were written, and a dead URL holds back only its own contacts' queues.

Why one module of about 410 lines: the delivery table's whole life (written, claimed, settled, logged,
replayed, purged) is one set of rules about its states, kept together as `storage.outbox` keeps the outbox's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import fetch_all
from storage.dialect import among
from storage.models import (
    CONTACT,
    EVENT_ATTEMPT,
    EVENT_DELIVERY,
    EVENT_SUBSCRIPTION,
    EventAttemptBase,
    EventDeliveryBase,
    EventSubscriptionBase,
    utcnow,
)
from storage.rows import model_of

# Every event a business can subscribe to; docs/events.md describes each one's `data`.
EventType = Literal[
    "message.received",
    "message.status",
    "conversation.opened",
    "handoff.requested",
    "handoff.released",
    "consent.changed",
    "order.changed",
    "appointment.changed",
    "campaign.finished",
    "otp.verified",
    "template.status",
    "template.category",
    "template.quality",
    "number.quality",
    "account.update",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
UNSETTLED = ("pending", "sending")


@dataclass(frozen=True)
class Event:
    """Something that happened, to tell the subscriptions that want it; `contact_id` orders it per contact."""

    type: str
    data: dict[str, Any]
    contact_id: int | None = None
    at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")


def _wanted(subscriptions: Sequence[Any], events: Sequence[Event]) -> list[tuple[int, Event]]:
    return [(int(sid), e) for sid, types in subscriptions for e in events if e.type in (types or ())]


def _contacts_stmt(pairs: Sequence[tuple[int, Event]]) -> Any:
    ids = sorted({e.contact_id for _, e in pairs if e.contact_id is not None})
    return select(CONTACT.c.id, CONTACT.c.wa_id, CONTACT.c.user_id).where(among(CONTACT.c.id, ids)) if ids else None


def _rows(pairs: Sequence[tuple[int, Event]], contacts: Iterable[Any]) -> list[dict[str, Any]]:
    """One delivery row per (subscription, event); an event keeps one id whichever URLs it goes to.

    The payload says when the event happened by the caller's clock; the queue's own times (due, leases,
    retries) are the wall clock's, since they are about the receivers' time, not the business's.
    """
    now = utcnow()
    who = {int(cid): {"wa_id": wa_id, "user_id": user_id} for cid, wa_id, user_id in contacts}
    ids: dict[int, str] = {}
    rows = []
    for subscription_id, event in pairs:
        event_id = ids.setdefault(id(event), f"evt_{uuid.uuid4().hex}")
        payload = {
            "id": event_id,
            "type": event.type,
            "created_at": event.at.isoformat(),
            "contact": who.get(event.contact_id) if event.contact_id is not None else None,
            "data": event.data,
        }
        rows.append(
            {
                "subscription_id": subscription_id, "event_id": event_id, "type": event.type,
                "contact_id": event.contact_id, "payload": payload, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            }
        )  # fmt: skip
    return rows


_SUBSCRIBERS = select(EVENT_SUBSCRIPTION.c.id, EVENT_SUBSCRIPTION.c.events)


async def emit(conn: AsyncConnection, events: Sequence[Event]) -> int:
    """Owe `events` to every subscription that wants them, in the caller's transaction; how many rows were written."""
    if not events:
        return 0
    pairs = _wanted((await conn.execute(_SUBSCRIBERS)).all(), events)
    if not pairs:
        return 0
    contacts_stmt = _contacts_stmt(pairs)
    contacts = (await conn.execute(contacts_stmt)).all() if contacts_stmt is not None else []
    rows = _rows(pairs, contacts)
    await conn.execute(insert(EVENT_DELIVERY), rows)
    return len(rows)


def emit_sync(conn: Connection, events: Sequence[Event]) -> int:
    """`emit` for the webhook's synchronous batch writer (`storage.inbox.store_deliveries`)."""
    if not events:
        return 0
    pairs = _wanted(fetch_all(conn, _SUBSCRIBERS, {}), events)
    if not pairs:
        return 0
    contacts_stmt = _contacts_stmt(pairs)
    contacts = conn.execute(contacts_stmt).all() if contacts_stmt is not None else []
    rows = _rows(pairs, contacts)
    conn.execute(insert(EVENT_DELIVERY), rows)
    return len(rows)


def wanted_sync(conn: Connection, event_type: str) -> bool:
    """Whether any subscription wants `event_type`: worth looking up what its events would say."""
    return any(event_type in (types or ()) for _, types in conn.execute(_SUBSCRIBERS))


async def wanted(conn: AsyncConnection, event_type: str) -> bool:
    """`wanted_sync` for an async connection."""
    return any(event_type in (types or ()) for _, types in await conn.execute(_SUBSCRIBERS))


# -- subscriptions ---------------------------------------------------------------------------------


async def add_subscription(conn: AsyncConnection, subscription: EventSubscriptionBase) -> EventSubscriptionBase:
    values = subscription.model_dump(exclude={"id"})
    row = (await conn.execute(insert(EVENT_SUBSCRIPTION).values(**values).returning(*EVENT_SUBSCRIPTION.c))).one()
    return model_of(EventSubscriptionBase, row._mapping)


async def subscriptions_page(conn: AsyncConnection, limit: int, before: int | None) -> list[EventSubscriptionBase]:
    stmt = select(EVENT_SUBSCRIPTION).order_by(EVENT_SUBSCRIPTION.c.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(EVENT_SUBSCRIPTION.c.id < before)
    return [model_of(EventSubscriptionBase, r._mapping) for r in await conn.execute(stmt)]


async def subscription_by_id(conn: AsyncConnection, subscription_id: int) -> EventSubscriptionBase | None:
    row = (await conn.execute(select(EVENT_SUBSCRIPTION).where(EVENT_SUBSCRIPTION.c.id == subscription_id))).first()
    return model_of(EventSubscriptionBase, row._mapping) if row else None


async def all_subscriptions(conn: AsyncConnection) -> list[EventSubscriptionBase]:
    """Every subscription, oldest first: the delivery loop claims for each in turn."""
    rows = await conn.execute(select(EVENT_SUBSCRIPTION).order_by(EVENT_SUBSCRIPTION.c.id))
    return [model_of(EventSubscriptionBase, r._mapping) for r in rows]


async def subscriptions_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, EventSubscriptionBase]:
    rows = await conn.execute(select(EVENT_SUBSCRIPTION).where(among(EVENT_SUBSCRIPTION.c.id, sorted(set(ids)))))
    found = [model_of(EventSubscriptionBase, r._mapping) for r in rows]
    return {s.id: s for s in found if s.id is not None}


async def delete_subscription(conn: AsyncConnection, subscription_id: int) -> bool:
    """Delete a subscription with its deliveries and their log; False when there was none."""
    ids = select(EVENT_DELIVERY.c.id).where(EVENT_DELIVERY.c.subscription_id == subscription_id)
    await conn.execute(delete(EVENT_ATTEMPT).where(EVENT_ATTEMPT.c.delivery_id.in_(ids)))
    await conn.execute(delete(EVENT_DELIVERY).where(EVENT_DELIVERY.c.subscription_id == subscription_id))
    gone = await conn.execute(delete(EVENT_SUBSCRIPTION).where(EVENT_SUBSCRIPTION.c.id == subscription_id))
    return bool(gone.rowcount)


async def delivery_counts(conn: AsyncConnection, subscription_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each subscription's deliveries by status."""
    stmt = (
        select(EVENT_DELIVERY.c.subscription_id, EVENT_DELIVERY.c.status, func.count())
        .where(among(EVENT_DELIVERY.c.subscription_id, subscription_ids))
        .group_by(EVENT_DELIVERY.c.subscription_id, EVENT_DELIVERY.c.status)
    )
    counts: dict[int, dict[str, int]] = {sid: {} for sid in subscription_ids}
    for sid, status, count in await conn.execute(stmt):
        counts[int(sid)][str(status)] = int(count)
    return counts


async def forget_contact(conn: AsyncConnection, contact_id: int) -> int:
    """Delete a contact's deliveries and their log (erasure: their payloads hold the number and words)."""
    ids = select(EVENT_DELIVERY.c.id).where(EVENT_DELIVERY.c.contact_id == contact_id)
    await conn.execute(delete(EVENT_ATTEMPT).where(EVENT_ATTEMPT.c.delivery_id.in_(ids)))
    return int((await conn.execute(delete(EVENT_DELIVERY).where(EVENT_DELIVERY.c.contact_id == contact_id))).rowcount)


async def purge_settled(conn: AsyncConnection, *, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` delivered or failed deliveries written before `created_before`, with their log."""
    old = (
        select(EVENT_DELIVERY.c.id)
        .where(EVENT_DELIVERY.c.status.in_(("delivered", "failed")), EVENT_DELIVERY.c.created_at < created_before)
        .order_by(EVENT_DELIVERY.c.id)
        .limit(limit)
    )
    ids = [int(i) for i in (await conn.execute(old)).scalars()]
    if ids:
        await conn.execute(delete(EVENT_ATTEMPT).where(EVENT_ATTEMPT.c.delivery_id.in_(ids)))
        await conn.execute(delete(EVENT_DELIVERY).where(EVENT_DELIVERY.c.id.in_(ids)))
    return len(ids)


# -- the delivery log --------------------------------------------------------------------------------


async def deliveries_page(
    conn: AsyncConnection, subscription_id: int, *, limit: int, before: int | None, status: str | None = None
) -> list[EventDeliveryBase]:
    stmt = (
        select(EVENT_DELIVERY)
        .where(EVENT_DELIVERY.c.subscription_id == subscription_id)
        .order_by(EVENT_DELIVERY.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(EVENT_DELIVERY.c.id < before)
    if status is not None:
        stmt = stmt.where(EVENT_DELIVERY.c.status == status)
    return [model_of(EventDeliveryBase, r._mapping) for r in await conn.execute(stmt)]


async def delivery(conn: AsyncConnection, subscription_id: int, delivery_id: int) -> EventDeliveryBase | None:
    stmt = select(EVENT_DELIVERY).where(
        EVENT_DELIVERY.c.id == delivery_id, EVENT_DELIVERY.c.subscription_id == subscription_id
    )
    row = (await conn.execute(stmt)).first()
    return model_of(EventDeliveryBase, row._mapping) if row else None


async def attempts_of(conn: AsyncConnection, delivery_ids: Sequence[int]) -> dict[int, list[EventAttemptBase]]:
    """Each delivery's attempts, oldest first."""
    stmt = select(EVENT_ATTEMPT).where(among(EVENT_ATTEMPT.c.delivery_id, delivery_ids)).order_by(EVENT_ATTEMPT.c.id)
    found: dict[int, list[EventAttemptBase]] = {d: [] for d in delivery_ids}
    for row in await conn.execute(stmt):
        attempt = model_of(EventAttemptBase, row._mapping)
        found[attempt.delivery_id].append(attempt)
    return found


async def replay(conn: AsyncConnection, original: EventDeliveryBase) -> EventDeliveryBase:
    """A new delivery of the same event (same id, same body) to the same subscription, due now.

    A copy rather than a reset, so that the original's log stays as it was; it queues behind the
    contact's events still unsettled, as any new event would.
    """
    now = utcnow()
    values = original.model_dump(include={"subscription_id", "event_id", "type", "contact_id", "payload"}) | {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "replay_of": original.id,
    }
    row = (await conn.execute(insert(EVENT_DELIVERY).values(**values).returning(*EVENT_DELIVERY.c))).one()
    return model_of(EventDeliveryBase, row._mapping)


# -- claiming and settling -----------------------------------------------------------------------------


def _due(now: datetime) -> Any:
    d = EVENT_DELIVERY.c
    return or_(
        and_(d.status == "pending", d.next_attempt_at <= now),
        and_(d.status == "sending", d.lease_until < now),  # its deliverer died mid-send: deliver again
    )


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether a claim would find something: a cheap read, so an idle loop takes no write lock."""
    return (await conn.execute(select(EVENT_DELIVERY.c.id).where(_due(now)).limit(1))).first() is not None


async def reap(conn: AsyncConnection, now: datetime) -> int:
    """Deliveries whose deliverer died mid-send (their lease lapsed) are due again; how many.

    Apart from the claim, so that the claim walks only pending rows, in id order, and stops at its limit
    (`bot bench events`: one statement over both states scanned the whole backlog at every claim).
    """
    d = EVENT_DELIVERY.c
    stmt = (
        update(EVENT_DELIVERY)
        .where(d.status == "sending", d.lease_until < now)
        .values(status="pending", lease_owner=None, lease_until=None)
    )
    return int((await conn.execute(stmt)).rowcount or 0)


def _claimable(now: datetime, limit: int, subscription_id: int) -> Any:
    """Due rows that are the oldest unsettled one of their contact's (per-contact order), oldest first.

    The heads come from one `GROUP BY contact_id` over the subscription's unsettled rows, not a probe per
    row: PostgreSQL, before its statistics know the table, planned `NOT EXISTS` as a nested loop over every
    pair of pending rows (`bot bench events` waited minutes for one claim of 20,000). Events without a
    contact share one queue.
    """
    d = EVENT_DELIVERY.c
    heads = (
        select(func.min(d.id))
        .where(d.subscription_id == subscription_id, d.status.in_(UNSETTLED))
        .group_by(d.contact_id)
        .scalar_subquery()
    )
    return (
        select(d.id)
        .where(d.id.in_(heads), d.status == "pending", d.next_attempt_at <= now)
        .order_by(d.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def claim(
    conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int, subscription_id: int
) -> list[EventDeliveryBase]:
    """Claim up to `limit` due deliveries of one subscription, oldest first; each subscription has its own share."""
    stmt = (
        update(EVENT_DELIVERY)
        .where(EVENT_DELIVERY.c.id.in_(_claimable(now, limit, subscription_id)))
        .values(status="sending", lease_owner=owner, lease_until=now + lease, attempts=EVENT_DELIVERY.c.attempts + 1)
        .returning(*EVENT_DELIVERY.c)
    )
    claimed = [model_of(EventDeliveryBase, row._mapping) for row in await conn.execute(stmt)]
    return sorted(claimed, key=lambda r: r.id or 0)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to; `status` is the delivery's next: delivered, pending (at `retry_at`) or failed."""

    delivery_id: int
    status: str
    attempted_at: datetime
    latency_ms: float
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None


async def settle(conn: AsyncConnection, *, owner: str, outcomes: Sequence[Outcome]) -> None:
    """Log each attempt and move its delivery on, if `owner` still holds it; two statements for a whole batch.

    A delivery whose lease lapsed meanwhile (another deliverer took it) keeps its new holder's state;
    its attempt is logged all the same, since the receiver did get a request.
    """
    if not outcomes:
        return
    d = EVENT_DELIVERY.c
    stmt = (
        update(EVENT_DELIVERY)
        .where(d.id == bindparam("did"), d.status == "sending", d.lease_owner == owner)
        .values(
            status=bindparam("new_status"),
            next_attempt_at=bindparam("retry_at"),
            delivered_at=bindparam("done_at"),
            last_status_code=bindparam("code"),
            last_error=bindparam("error"),
            lease_owner=None,
            lease_until=None,
        )
    )
    await conn.execute(
        stmt,
        [
            {
                "did": o.delivery_id, "new_status": o.status, "retry_at": o.retry_at or o.attempted_at,
                "done_at": o.attempted_at if o.status == "delivered" else None, "code": o.status_code,
                "error": (o.error or "")[:255] or None,
            }
            for o in outcomes
        ],
    )  # fmt: skip
    # A delivery deleted meanwhile (its subscription deleted, its contact erased) has no log to add to.
    ids = [o.delivery_id for o in outcomes]
    kept = set((await conn.execute(select(EVENT_DELIVERY.c.id).where(among(EVENT_DELIVERY.c.id, ids)))).scalars())
    outcomes = [o for o in outcomes if o.delivery_id in kept]
    if not outcomes:
        return
    await conn.execute(
        insert(EVENT_ATTEMPT),
        [
            {
                "delivery_id": o.delivery_id, "attempted_at": o.attempted_at, "status_code": o.status_code,
                "latency_ms": round(o.latency_ms, 2), "error": (o.error or "")[:255] or None,
            }
            for o in outcomes
        ],
    )  # fmt: skip
