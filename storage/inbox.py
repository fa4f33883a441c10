"""Storing webhook deliveries (group-committed) and handing their inbound messages to the dispatcher.

Why one module of about 420 lines: storing a delivery and handing its messages on are one table's life
(unique wamids, handled flags, turn failures); the statements that write it stay together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import consent, events, lifecycle, media
from storage.bulk import execute_many, fetch_all, insert_rows, update_rows
from storage.dialect import among, among_bound, insert_ignoring_conflicts
from storage.media import MEDIA_KINDS
from storage.models import (
    CONTACT,
    MESSAGE,
    STATUS_EVENT,
    UNHANDLED,
    WEBHOOK_EVENT,
    WEBHOOK_NOTICE,
    MessageBase,
    utcnow,
)
from storage.status import apply_statuses, status_events_sync


class ContactLike(Protocol):
    @property
    def wa_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...


class InboundLike(Protocol):
    @property
    def wamid(self) -> str: ...
    @property
    def wa_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def profile_name(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def text(self) -> str | None: ...
    @property
    def reply_id(self) -> str | None: ...
    @property
    def referral(self) -> Mapping[str, Any] | None: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...
    @property
    def phone_number_id(self) -> str | None: ...


class StatusLike(Protocol):
    @property
    def wamid(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...


class NoticeLike(Protocol):
    @property
    def field(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...
    @property
    def wa_id(self) -> str | None: ...


class PreferenceLike(Protocol):
    @property
    def wa_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def category(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def timestamp(self) -> datetime | None: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...


class ParsedLike(Protocol):
    @property
    def lifecycle(self) -> Sequence[lifecycle.Report]: ...
    @property
    def contacts(self) -> Sequence[ContactLike]: ...
    @property
    def messages(self) -> Sequence[InboundLike]: ...
    @property
    def statuses(self) -> Sequence[StatusLike]: ...
    @property
    def preferences(self) -> Sequence[PreferenceLike]: ...
    @property
    def notices(self) -> Sequence[NoticeLike]: ...


@dataclass(frozen=True)
class Delivery:
    """One webhook POST to store: its exact body and what the parser read from it."""

    body: str
    parsed: ParsedLike
    received_at: datetime = field(default_factory=utcnow)
    # The business numbers this deployment serves (None: any). A message to another number is stored
    # handled, with `turn_error` saying so: kept, and never answered from a number it was not sent to.
    served: frozenset[str] | None = None


@dataclass(frozen=True)
class StoredDelivery:
    webhook_event_id: int
    new_messages: int
    duplicate_messages: int


@dataclass
class _Identity:
    wa_id: str | None
    user_id: str | None
    name: str | None = None
    last_inbound_at: datetime | None = None
    referral_at: datetime | None = None


def store_deliveries(conn: Connection, deliveries: Sequence[Delivery]) -> list[StoredDelivery]:
    """Store raw bodies and their parsed events in the caller's transaction; duplicates change nothing.

    Synchronous on purpose: on SQLite the whole batch runs on the standard driver, on the event loop or in
    one worker thread (see `storage.sqlite_writes`); on PostgreSQL it runs through `run_sync`.

    A whole batch costs a fixed handful of statements whatever its size (one per table), because on SQLite
    every statement is a round trip to the driver's thread and the batch writer is the webhook's bottleneck.
    """
    event_ids = _insert_events(conn, deliveries)
    contact_ids = _upsert_contacts(conn, deliveries)
    new_wamids = _insert_messages(conn, deliveries, event_ids, contact_ids)
    # Only a batch that carried new media pays a statement for them: their files are fetched later, in the background.
    with_files = [
        m.wamid for d in deliveries for m in d.parsed.messages if m.type in MEDIA_KINDS and m.wamid in new_wamids
    ]
    media.queue_for_wamids(conn, with_files, utcnow())
    _insert_statuses(conn, deliveries, event_ids)
    _insert_notices(conn, deliveries, event_ids)
    _record_preferences(conn, deliveries, event_ids, contact_ids)
    for delivery, event_id in zip(deliveries, event_ids, strict=True):
        if delivery.parsed.lifecycle:  # the business account's own changes: rare, so one at a time
            lifecycle.record_sync(
                conn, delivery.parsed.lifecycle, source="webhook", webhook_event_id=event_id,
                received_at=delivery.received_at,
            )  # fmt: skip
    results = []
    for delivery, event_id in zip(deliveries, event_ids, strict=True):
        new = 0
        for message in delivery.parsed.messages:
            if message.wamid in new_wamids:
                new_wamids.discard(message.wamid)  # the first delivery in the batch that carries it counts
                new += 1
        results.append(StoredDelivery(event_id, new, len(delivery.parsed.messages) - new))
    return results


_INSERT_EVENT = insert(WEBHOOK_EVENT)
_LAST_EVENT_ID = select(func.coalesce(func.max(WEBHOOK_EVENT.c.id), 0))


def _insert_events(conn: Connection, deliveries: Sequence[Delivery]) -> list[int]:
    """Insert the raw bodies and return their ids in order.

    On SQLite, `RETURNING` with guaranteed order makes SQLAlchemy fall back to one INSERT per row; the
    batch holds SQLite's write lock (`BEGIN IMMEDIATE`), so ids can be assigned after `max(id)` instead.
    """
    rows = [{"body": d.body, "received_at": d.received_at} for d in deliveries]
    if conn.dialect.name == "sqlite":
        first = int(fetch_all(conn, _LAST_EVENT_ID, {})[0][0]) + 1
        ids = list(range(first, first + len(rows)))
        execute_many(conn, _INSERT_EVENT, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        return ids
    return sorted(row[0] for row in insert_rows(conn, WEBHOOK_EVENT, rows, returning=("id",)))


def _key(wa_id: str | None, user_id: str | None) -> tuple[str | None, str | None]:
    return (wa_id, None) if wa_id else (None, user_id)


def _collect_identities(deliveries: Sequence[Delivery]) -> dict[tuple[str | None, str | None], _Identity]:
    identities: dict[tuple[str | None, str | None], _Identity] = {}
    for delivery in deliveries:
        for contact in delivery.parsed.contacts:
            if contact.wa_id or contact.user_id:
                ident = identities.setdefault(
                    _key(contact.wa_id, contact.user_id), _Identity(contact.wa_id, contact.user_id)
                )
                ident.user_id = ident.user_id or contact.user_id
                ident.name = contact.name or ident.name
        for message in delivery.parsed.messages:
            if not (message.wa_id or message.user_id):
                continue
            ident = identities.setdefault(
                _key(message.wa_id, message.user_id), _Identity(message.wa_id, message.user_id)
            )
            ident.user_id = ident.user_id or message.user_id
            ident.name = message.profile_name or ident.name
            if message.type != "system":  # a user's own message opens the service window; Meta's notices don't
                ident.last_inbound_at = _latest(ident.last_inbound_at, message.timestamp)
            if message.referral:
                ident.referral_at = _latest(ident.referral_at, message.timestamp)
        for preference in delivery.parsed.preferences:
            if preference.wa_id or preference.user_id:
                identities.setdefault(
                    _key(preference.wa_id, preference.user_id), _Identity(preference.wa_id, preference.user_id)
                )
    return identities


def _upsert_contacts(conn: Connection, deliveries: Sequence[Delivery]) -> dict[tuple[str | None, str | None], int]:
    """Insert unknown contacts, refresh known ones, and map every identity in the batch to its row id.

    Known contacts are the common case (a customer writes more than once), so they cost one SELECT and
    one batched UPDATE; only new ones are inserted, ignoring a racing insert by another process.
    """
    identities = _collect_identities(deliveries)
    if not identities:
        return {}
    now = utcnow()
    rows = _select_contacts(conn, identities.values())
    # Sorted, so that two instances' batches inserting the same new contacts at once wait in one order.
    missing = sorted(
        (i for i in identities.values() if _match(rows, i) is None), key=lambda i: (i.wa_id or "", i.user_id or "")
    )
    if missing:
        conn.execute(
            insert_ignoring_conflicts(conn, CONTACT),
            [{"wa_id": i.wa_id, "user_id": i.user_id, "name": i.name, "created_at": now, "updated_at": now}
             for i in missing],
        )  # fmt: skip
        rows = _select_contacts(conn, identities.values())
    ids: dict[tuple[str | None, str | None], int] = {}
    updates = []
    claimed: set[str] = set()  # a user id goes to one contact, even when two numbers bring it in one batch
    for key, ident in identities.items():
        row = _match(rows, ident)
        if row is None:
            continue
        ids[key] = row.id
        if ident.user_id:
            ids[(None, ident.user_id)] = row.id
        free = ident.user_id and ident.user_id not in rows[1] and ident.user_id not in claimed
        claim_user = ident.user_id if free and not row.user_id else None
        if claim_user:
            claimed.add(claim_user)
        updates.append(
            {
                "id": row.id,
                "name": row.name or ident.name,  # a profile name fills an empty name, never replaces one
                "user_id": claim_user or row.user_id,
                "last_inbound_at": _latest(row.last_inbound_at, ident.last_inbound_at),
                "free_entry_point_at": _latest(row.free_entry_point_at, ident.referral_at),
                "updated_at": now,
            }
        )
    # In the order of their ids, as another instance's batch writing at the same time locks them: no deadlock.
    update_rows(conn, CONTACT, "id", sorted(updates, key=lambda u: int(u["id"])))
    return ids


class _Contact(NamedTuple):
    id: int
    wa_id: str | None
    user_id: str | None
    name: str | None
    last_inbound_at: datetime | None
    free_entry_point_at: datetime | None


_Rows = tuple[dict[str, _Contact], dict[str, _Contact]]


# Built once: `in_(a_list)` would coerce every value of the list into a literal on every batch.
_CONTACTS_BY_IDENTITY = select(*(CONTACT.c[n] for n in _Contact._fields)).where(
    or_(among_bound(CONTACT.c.wa_id, "wa_ids"), among_bound(CONTACT.c.user_id, "user_ids"))
)


def _select_contacts(conn: Connection, identities: Iterable[_Identity]) -> _Rows:
    """Existing contacts for these identities, indexed by wa_id and by user_id."""
    wanted = list(identities)
    wa_ids = [i.wa_id for i in wanted if i.wa_id]
    user_ids = [i.user_id for i in wanted if i.user_id]
    found = [_Contact(*r) for r in fetch_all(conn, _CONTACTS_BY_IDENTITY, {"wa_ids": wa_ids, "user_ids": user_ids})]
    return {r.wa_id: r for r in found if r.wa_id}, {r.user_id: r for r in found if r.user_id}


def _match(rows: _Rows, ident: _Identity) -> Any:
    by_wa, by_user = rows
    return (by_wa.get(ident.wa_id) if ident.wa_id else None) or (by_user.get(ident.user_id) if ident.user_id else None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


NOT_SERVED = "sent to a business number this deployment does not serve"


def _insert_messages(
    conn: Connection,
    deliveries: Sequence[Delivery],
    event_ids: Sequence[int],
    contact_ids: Mapping[tuple[str | None, str | None], int],
) -> set[str]:
    """Insert every inbound message of the batch and tell `message.received`; returns the wamids that were new."""
    rows: list[dict[str, Any]] = []
    for delivery, event_id in zip(deliveries, event_ids, strict=True):
        for m in delivery.parsed.messages:
            cid = contact_ids.get(_key(m.wa_id, m.user_id)) or contact_ids.get((None, m.user_id))
            if cid is None:
                continue  # no identity at all: kept in the raw body, nothing to answer
            number = m.phone_number_id
            foreign = delivery.served is not None and number is not None and number not in delivery.served
            rows.append(
                {
                    "wamid": m.wamid, "direction": "in", "contact_id": cid, "type": m.type[:32], "text": m.text,
                    "reply_id": (m.reply_id or "")[:256] or None, "body": dict(m.raw), "status": "received",
                    "webhook_event_id": event_id, "created_at": m.timestamp, "phone_number_id": number,
                    "handled_at": delivery.received_at if foreign else None,
                    "turn_error": NOT_SERVED if foreign else None,
                }
            )  # fmt: skip
    if not rows:
        return set()
    if conn.dialect.name == "sqlite":
        # The batch holds SQLite's write lock (`BEGIN IMMEDIATE`): what is not stored now is new, and
        # `execute_many` (which cannot return rows) inserts it without SQLAlchemy's per-row work.
        known = {r[0] for r in fetch_all(conn, _KNOWN_WAMIDS, {"wamids": [r["wamid"] for r in rows]})}
        fresh = {str(r["wamid"]): r for r in reversed(rows) if r["wamid"] not in known}  # the first of each wins
        execute_many(conn, _INSERT_MESSAGE_SQLITE, list(reversed(fresh.values())))
        new = set(fresh)
    else:
        new = {row[0] for row in insert_rows(conn, MESSAGE, rows, returning=("wamid",), conflict=("wamid",))}
    told: set[str] = set()
    received = []
    for row in rows:
        wamid = str(row["wamid"])
        if wamid in new and wamid not in told:
            told.add(wamid)
            received.append(events.Event("message.received", _received(row), int(row["contact_id"]), row["created_at"]))
    events.emit_sync(conn, received)
    return new


_KNOWN_WAMIDS = select(MESSAGE.c.wamid).where(MESSAGE.c.wamid.in_(bindparam("wamids", expanding=True)))
_INSERT_MESSAGE_SQLITE = sqlite_insert(MESSAGE).on_conflict_do_nothing(index_elements=["wamid"])


def _received(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `message.received` event's data: what the customer sent, as stored."""
    return {
        "wamid": row["wamid"], "type": row["type"], "text": row["text"], "reply_id": row["reply_id"],
        "timestamp": row["created_at"].isoformat(),
    }  # fmt: skip


def _insert_statuses(conn: Connection, deliveries: Sequence[Delivery], event_ids: Sequence[int]) -> None:
    pairs = [(s, e) for d, e in zip(deliveries, event_ids, strict=True) for s in d.parsed.statuses]
    if not pairs:
        return
    rows = [
        {"wamid": s.wamid, "status": s.status[:16], "timestamp": s.timestamp, "payload": dict(s.raw),
         "callback": _callback(s.raw), "webhook_event_id": event_id}
        for s, event_id in pairs
    ]  # fmt: skip
    stmt = insert_ignoring_conflicts(conn, STATUS_EVENT, "wamid", "status").returning(STATUS_EVENT.c.id)
    new = conn.execute(stmt, rows).all()
    apply_statuses(conn, [(s.wamid, s.status, s.timestamp, dict(s.raw)) for s, _ in pairs])
    if new:
        status_events_sync(conn, [int(r[0]) for r in new])


def _callback(raw: Any) -> str | None:
    """The `biz_opaque_callback_data` Meta echoes from our send, if it is one of ours to look up."""
    value = raw.get("biz_opaque_callback_data") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and len(value) <= 512 else None


def _notice(
    event_id: int, field: str, kind: str, wa_id: str | None, reason: str | None, payload: Any
) -> dict[str, Any]:
    return {
        "webhook_event_id": event_id,
        "digest": _digest(field, kind, reason, payload),
        "field": field[:64],
        "kind": kind[:16],
        "wa_id": wa_id,
        "reason": reason,
        "payload": dict(payload),
        "received_at": utcnow(),
    }


def _digest(field: str, kind: str, reason: str | None, payload: Any) -> str:
    """What makes a notice the same notice again when Meta redelivers it."""
    canonical = json.dumps([field, kind, reason, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _insert_notices(conn: Connection, deliveries: Sequence[Delivery], event_ids: Sequence[int]) -> None:
    rows = []
    for delivery, event_id in zip(deliveries, event_ids, strict=True):
        parsed = delivery.parsed
        rows += [_notice(event_id, "user_preferences", "preference", p.wa_id, None, p.raw) for p in parsed.preferences]
        rows += [_notice(event_id, n.field, n.kind, n.wa_id, n.reason, n.raw) for n in parsed.notices]
    if rows:
        conn.execute(insert_ignoring_conflicts(conn, WEBHOOK_NOTICE, "digest"), rows)


# Meta's `user_preferences` values for the marketing category, as consent actions.
_PREFERENCE_ACTIONS = {"stop": consent.OPT_OUT, "resume": consent.OPT_IN}


def _record_preferences(
    conn: Connection,
    deliveries: Sequence[Delivery],
    event_ids: Sequence[int],
    contact_ids: Mapping[tuple[str | None, str | None], int],
) -> None:
    """A user stopped or resumed marketing in WhatsApp itself: into the consent ledger, in this transaction."""
    changes = []
    for delivery, event_id in zip(deliveries, event_ids, strict=True):
        for p in delivery.parsed.preferences:
            action = _PREFERENCE_ACTIONS.get(p.value.lower()) if p.category == "marketing_messages" else None
            cid = contact_ids.get(_key(p.wa_id, p.user_id)) or contact_ids.get((None, p.user_id))
            if action is None or cid is None:
                continue  # another category or value: kept as a notice, nothing to record
            digest = _digest("user_preferences", "preference", None, p.raw)
            evidence = {"webhook_event_id": event_id, "preference": dict(p.raw)}
            at = p.timestamp or delivery.received_at
            changes.append(
                consent.ConsentChange(cid, action, "preference", evidence, at, dedupe_key=f"preference:{digest}")
            )
    consent.record_sync(conn, changes, utcnow())


async def last_numbers(conn: AsyncConnection, contact_ids: Sequence[int]) -> dict[int, str | None]:
    """The business number each contact last wrote to (absent: never wrote): where a reply not to a message goes."""
    if not contact_ids:
        return {}
    latest = (
        select(MESSAGE.c.contact_id, func.max(MESSAGE.c.id).label("last"))
        .where(among(MESSAGE.c.contact_id, contact_ids), MESSAGE.c.direction == "in")
        .group_by(MESSAGE.c.contact_id)
        .subquery()
    )
    stmt = select(MESSAGE.c.contact_id, MESSAGE.c.phone_number_id).join(latest, MESSAGE.c.id == latest.c.last)
    return {int(contact_id): number for contact_id, number in await conn.execute(stmt)}


async def contacts_with_unhandled(conn: AsyncConnection, limit: int = 100) -> list[int]:
    """Contacts that have inbound messages not yet handled, oldest waiting first."""
    stmt = (
        select(MESSAGE.c.contact_id, func.min(MESSAGE.c.id).label("first"))
        .where(UNHANDLED)  # literally the partial index's condition, so both databases use it
        .group_by(MESSAGE.c.contact_id)
        .order_by("first")
        .limit(limit)
    )
    return [row[0] for row in await conn.execute(stmt)]


async def unhandled_messages(conn: AsyncConnection, contact_ids: Sequence[int]) -> dict[int, list[MessageBase]]:
    """Each contact's unhandled inbound messages in the order the customer sent them."""
    stmt = (
        select(MESSAGE)
        .where(among(MESSAGE.c.contact_id, contact_ids), UNHANDLED)
        .order_by(MESSAGE.c.contact_id, MESSAGE.c.created_at, MESSAGE.c.id)
    )
    found: dict[int, list[MessageBase]] = {}
    for row in await conn.execute(stmt):
        found.setdefault(row.contact_id, []).append(MessageBase.model_validate(row._mapping))
    return found


async def mark_handled(conn: AsyncConnection, message_ids: Sequence[int], when: datetime) -> None:
    if message_ids:
        await conn.execute(update(MESSAGE).where(among(MESSAGE.c.id, message_ids)).values(handled_at=when))


async def count_turn_failure(
    conn: AsyncConnection, message_id: int, *, give_up: bool, error: str, when: datetime
) -> None:
    """One more turn raised on this message. It stays unhandled, to be tried again next round, unless
    `give_up`: then it is marked handled, keeping `error`, so that the customer's next ones get their turns."""
    values: dict[str, Any] = {"turn_failures": MESSAGE.c.turn_failures + 1}
    if give_up:
        values |= {"handled_at": when, "turn_error": error[:512]}
    await conn.execute(update(MESSAGE).where(MESSAGE.c.id == message_id).values(values))
