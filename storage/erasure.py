"""Erasing a contact: their number, name and words go; their consent ledger and conversations stay, pseudonymous.

What happens to each table (docs/operations.md, "Erasing a contact", says the same for operators):

- `contact`: kept as a tombstone, the anchor of the consent ledger and the conversations, with no number,
  user id, name, tags, language or zone; `pseudonym` (a keyed hash of the number) and `calling_code` stay.
  The number is free again: a customer who writes again is a new contact.
- `consent_event`: kept (evidence of what the customer agreed to), identifiers in the evidence replaced by
  the pseudonym; the dedupe keys (hashes of the number) are replaced, so a new contact records afresh.
- `conversation`: kept as it is (category, origin, window): what was paid for, with nothing personal.
- `message`: text, raw body and turn error blanked; the row (category, status, pricing) stays for the costs.
- `outbox`: queued and paused rows cancelled; every row's payload blanked and recipient pseudonymised.
- `webhook_event`: every raw body that names the number loses the items that do (message, contact,
  status, preference); what else the body held for other customers stays.
- `status_event`, `webhook_notice`: identifiers in the payload replaced by the pseudonym.
- `session`, `otp_challenge`, `business_order`, `appointment`, `account`, `inbox_read`: deleted.
- `media`: deleted; the report lists the files' digests, whose files the caller deletes once committed.
- `schedule.wa_ids`, `campaign.audience.wa_ids`, `campaign.test_numbers`: the number is taken out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events, media
from storage.models import (
    ACCOUNT,
    APPOINTMENT,
    CAMPAIGN,
    CONSENT_EVENT,
    CONTACT,
    CONVERSATION,
    INBOX_READ,
    MESSAGE,
    ORDER,
    OTP_CHALLENGE,
    OUTBOX,
    SCHEDULE,
    SESSION,
    STATUS_EVENT,
    WEBHOOK_EVENT,
    WEBHOOK_NOTICE,
)

CHUNK = 200  # rows rewritten per statement
_CANCELLED = {"code": "erased", "message": "the contact was erased before this was sent"}


class SendInFlight(Exception):
    """A message to the contact is being sent right now; erasing waits until it is settled."""


@dataclass(frozen=True)
class Erasure:
    """Who to erase, and what stays of them: the keyed hash of the number and its calling code."""

    wa_id: str
    pseudonym: str
    calling_code: str | None
    now: datetime


@dataclass
class ErasureReport:
    """What an erasure did, table by table; `already_erased` when only a tombstone of the number was found."""

    pseudonym: str
    already_erased: bool = False
    cancelled: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    blanked: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # digests of the media files the erased rows held


# -- the pure part: identifiers out of JSON values ------------------------------------------------------


def pseudonymised(value: Any, swaps: Mapping[str, str]) -> Any:
    """`value` with every string equal to a key of `swaps` replaced by its value, at any depth."""
    if isinstance(value, str):
        return swaps.get(value, value)
    if isinstance(value, list):
        return [pseudonymised(item, swaps) for item in value]
    if isinstance(value, dict):
        return {key: pseudonymised(item, swaps) for key, item in value.items()}
    return value


def names_any(value: Any, identifiers: frozenset[str]) -> bool:
    """Whether any string inside `value` is one of `identifiers`."""
    if isinstance(value, str):
        return value in identifiers
    if isinstance(value, list):
        return any(names_any(item, identifiers) for item in value)
    if isinstance(value, dict):
        return any(names_any(item, identifiers) for item in value.values())
    return False


def without_items_naming(value: Any, identifiers: frozenset[str]) -> Any:
    """`value` with every object in a list that names one of `identifiers` dropped, at any depth.

    In Meta's webhook bodies each message, contact card, status and preference is an object in a list
    that names its customer (`from`, `wa_id`, `recipient_id`, `user_id`): dropping it takes the text and
    the profile name with it, and leaves what the body said about other customers.
    """
    if isinstance(value, list):
        kept = [item for item in value if not (isinstance(item, dict) and names_any(item, identifiers))]
        return [without_items_naming(item, identifiers) for item in kept]
    if isinstance(value, dict):
        return {key: without_items_naming(item, identifiers) for key, item in value.items()}
    return value


def scrubbed_body(body: str, swaps: Mapping[str, str]) -> str:
    """A raw webhook body without the items naming the contact, and any other mention pseudonymised."""
    try:
        document = json.loads(body)
    except ValueError:
        return "{}"  # a body that is not JSON cannot be taken apart; none of it is kept
    kept = without_items_naming(document, frozenset(swaps))
    return json.dumps(pseudonymised(kept, swaps), separators=(",", ":"))


# -- the statements -------------------------------------------------------------------------------------


async def webhooks_naming(conn: AsyncConnection, identifiers: Sequence[str]) -> list[int]:
    """The raw webhook bodies that mention any of `identifiers` as a JSON string: a read, done before erasing.

    It reads every body, so it runs on its own connection rather than inside the erasure's transaction,
    which on SQLite holds the write lock; bodies that arrive meanwhile are found through their messages.
    """
    mentions = [WEBHOOK_EVENT.c.body.contains(json.dumps(i), autoescape=True) for i in identifiers if i]
    if not mentions:
        return []
    return [int(i) for i in (await conn.execute(select(WEBHOOK_EVENT.c.id).where(or_(*mentions)))).scalars()]


async def erase(conn: AsyncConnection, erasure: Erasure, mentioned: Sequence[int] = ()) -> ErasureReport | None:
    """Erase the contact with `erasure.wa_id` in the caller's transaction; None when the number was never known.

    A number already erased (a tombstone with its pseudonym) answers a report with `already_erased` and
    changes nothing. Raises `SendInFlight`, before anything is kept, while a message to them is being sent.
    """
    report = ErasureReport(erasure.pseudonym)
    stmt = select(CONTACT).where(CONTACT.c.wa_id == erasure.wa_id)
    contact = (await conn.execute(stmt.with_for_update())).first()
    if contact is None:
        tomb = select(CONTACT.c.id).where(CONTACT.c.pseudonym == erasure.pseudonym).limit(1)
        report.already_erased = True
        return report if (await conn.execute(tomb)).first() else None
    cid = int(contact.id)
    report.cancelled = await _cancel_queued(conn, cid, erasure.now)
    sending = select(func.count()).where(OUTBOX.c.contact_id == cid, OUTBOX.c.status == "sending")
    if (await conn.execute(sending)).scalar_one():
        raise SendInFlight(f"contact {cid} has a message being sent")
    # Identifiers, not names: a name is no one's alone, and replacing it could blank another customer's words.
    swaps = {i: erasure.pseudonym for i in (erasure.wa_id, f"+{erasure.wa_id}", contact.user_id) if i}
    await _blank_messages(conn, cid, erasure, swaps, mentioned, report)
    report.blanked["outbox"] = await _blank_outbox(conn, cid, erasure)
    report.deleted = await _delete_owned(conn, cid, erasure.wa_id)
    rows, report.files = await media.erase_contact(conn, cid)
    report.deleted["media"] = rows
    report.deleted["event_deliveries"] = await events.forget_contact(conn, cid)
    report.blanked["schedules"], report.blanked["campaigns"] = await _forget_number(conn, erasure.wa_id)
    report.kept["consent_events"] = await _pseudonymise_consent(conn, cid, swaps)
    conversations = select(func.count()).where(CONVERSATION.c.contact_id == cid)
    report.kept["conversations"] = int((await conn.execute(conversations)).scalar_one())
    await conn.execute(update(CONTACT).where(CONTACT.c.id == cid).values(**_tombstone(erasure)))
    return report


def _tombstone(erasure: Erasure) -> dict[str, Any]:
    gone = ("wa_id", "user_id", "name", "tags", "language", "time_zone")
    times = ("last_inbound_at", "free_entry_point_at", "undeliverable_at")
    return {
        **dict.fromkeys(gone + times),
        "erased_at": erasure.now, "pseudonym": erasure.pseudonym, "calling_code": erasure.calling_code,
        "updated_at": erasure.now,
    }  # fmt: skip


async def _cancel_queued(conn: AsyncConnection, cid: int, now: datetime) -> int:
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.contact_id == cid, OUTBOX.c.status.in_(("queued", "paused")))
        .values(status="cancelled", last_error=_CANCELLED, updated_at=now)
    )
    return int((await conn.execute(stmt)).rowcount)


async def _blank_messages(
    conn: AsyncConnection,
    cid: int,
    erasure: Erasure,
    swaps: Mapping[str, str],
    mentioned: Sequence[int],
    report: ErasureReport,
) -> None:
    """Messages lose their words; the raw bodies, statuses and notices that carried them lose the contact."""
    theirs = select(MESSAGE.c.wamid).where(MESSAGE.c.contact_id == cid)
    linked = (
        select(MESSAGE.c.webhook_event_id)
        .where(MESSAGE.c.contact_id == cid)
        .union(
            select(STATUS_EVENT.c.webhook_event_id).where(STATUS_EVENT.c.wamid.in_(theirs)),
            select(WEBHOOK_NOTICE.c.webhook_event_id).where(WEBHOOK_NOTICE.c.wa_id == erasure.wa_id),
        )
    )
    events = {int(i) for i in (await conn.execute(linked)).scalars() if i is not None} | set(mentioned)
    report.blanked["webhook_bodies"] = await _scrub_bodies(conn, sorted(events), swaps)
    unhandled = (MESSAGE.c.contact_id == cid, MESSAGE.c.direction == "in", MESSAGE.c.handled_at.is_(None))
    await conn.execute(update(MESSAGE).where(*unhandled).values(handled_at=erasure.now))
    blank = update(MESSAGE).where(MESSAGE.c.contact_id == cid).values(text=None, body=null(), turn_error=None)
    report.blanked["messages"] = int((await conn.execute(blank)).rowcount)
    errors = select(MESSAGE.c.id, MESSAGE.c.error).where(MESSAGE.c.contact_id == cid, MESSAGE.c.error.is_not(None))
    await _rewrite_json(conn, MESSAGE, "error", errors, swaps)
    statuses = select(STATUS_EVENT.c.id, STATUS_EVENT.c.payload).where(STATUS_EVENT.c.wamid.in_(theirs))
    report.blanked["status_events"] = await _rewrite_json(conn, STATUS_EVENT, "payload", statuses, swaps)
    notices = select(WEBHOOK_NOTICE.c.id, WEBHOOK_NOTICE.c.payload).where(WEBHOOK_NOTICE.c.wa_id == erasure.wa_id)
    found = (await conn.execute(notices)).all()
    if found:
        rows = [{"rid": i, "payload": pseudonymised(p, swaps), "digest": f"erased:{i}"} for i, p in found]
        stmt = update(WEBHOOK_NOTICE).where(WEBHOOK_NOTICE.c.id == bindparam("rid"))
        await conn.execute(stmt.values(wa_id=None, payload=bindparam("payload"), digest=bindparam("digest")), rows)
    report.blanked["notices"] = len(found)


async def _scrub_bodies(conn: AsyncConnection, ids: list[int], swaps: Mapping[str, str]) -> int:
    changed = 0
    stmt = update(WEBHOOK_EVENT).where(WEBHOOK_EVENT.c.id == bindparam("rid")).values(body=bindparam("new"))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found = await conn.execute(
            select(WEBHOOK_EVENT.c.id, WEBHOOK_EVENT.c.body).where(WEBHOOK_EVENT.c.id.in_(chunk))
        )
        rows = [{"rid": i, "new": new} for i, body in found if (new := scrubbed_body(body, swaps)) != body]
        if rows:
            await conn.execute(stmt, rows)
        changed += len(rows)
    return changed


async def _rewrite_json(conn: AsyncConnection, table: Any, column: str, query: Any, swaps: Mapping[str, str]) -> int:
    """Pseudonymise one JSON column of the rows `query` selects (as id, value); answers how many changed."""
    rows = []
    for rid, value in await conn.execute(query):
        if (new := pseudonymised(value, swaps)) != value:
            rows.append({"rid": rid, "new": new})
    for start in range(0, len(rows), CHUNK):
        stmt = update(table).where(table.c.id == bindparam("rid")).values({column: bindparam("new")})
        await conn.execute(stmt, rows[start : start + CHUNK])
    return len(rows)


async def _blank_outbox(conn: AsyncConnection, cid: int, erasure: Erasure) -> int:
    """Every outgoing row's payload goes, and the number leaves its recipient and idempotency key."""
    key = func.replace(OUTBOX.c.idempotency_key, erasure.wa_id, erasure.pseudonym)
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.contact_id == cid)
        .values(payload={}, recipient=erasure.pseudonym, idempotency_key=key)
    )
    return int((await conn.execute(stmt)).rowcount)


async def _delete_owned(conn: AsyncConnection, cid: int, wa_id: str) -> dict[str, int]:
    """Rows that are only about this customer, kept for their conversations with the bot: deleted."""
    deleted = {}
    owned = (
        ("sessions", SESSION), ("orders", ORDER), ("appointments", APPOINTMENT), ("accounts", ACCOUNT),
        ("read_marks", INBOX_READ),
    )  # fmt: skip
    for name, table in owned:
        deleted[name] = int((await conn.execute(delete(table).where(table.c.contact_id == cid))).rowcount)
    otp = delete(OTP_CHALLENGE).where(OTP_CHALLENGE.c.wa_id == wa_id)
    deleted["otp_challenges"] = int((await conn.execute(otp)).rowcount)
    return deleted


async def _forget_number(conn: AsyncConnection, wa_id: str) -> tuple[int, int]:
    """Take the number out of recurring schedules' recipients and campaigns' audiences and test numbers."""
    schedules = [
        {"rid": rid, "wa_ids": [n for n in numbers if n != wa_id]}
        for rid, numbers in await conn.execute(select(SCHEDULE.c.id, SCHEDULE.c.wa_ids))
        if numbers and wa_id in numbers
    ]
    if schedules:
        stmt = update(SCHEDULE).where(SCHEDULE.c.id == bindparam("rid")).values(wa_ids=bindparam("wa_ids"))
        await conn.execute(stmt, schedules)
    campaigns = []
    for rid, audience, tests in await conn.execute(select(CAMPAIGN.c.id, CAMPAIGN.c.audience, CAMPAIGN.c.test_numbers)):
        listed = audience.get("wa_ids") if isinstance(audience, dict) else None
        if wa_id in (listed or []) or wa_id in (tests or []):
            if listed is not None:
                audience = {**audience, "wa_ids": [n for n in listed if n != wa_id]}
            numbers = [n for n in tests or [] if n != wa_id] or None
            campaigns.append({"rid": rid, "audience": audience, "tests": numbers})
    if campaigns:
        values: dict[str, Any] = {"audience": bindparam("audience"), "test_numbers": bindparam("tests")}
        await conn.execute(update(CAMPAIGN).where(CAMPAIGN.c.id == bindparam("rid")).values(values), campaigns)
    return len(schedules), len(campaigns)


async def _pseudonymise_consent(conn: AsyncConnection, cid: int, swaps: Mapping[str, str]) -> int:
    """The ledger stays, its evidence pseudonymised; its dedupe keys (hashes of the number) are replaced."""
    ledger = select(CONSENT_EVENT.c.id, CONSENT_EVENT.c.evidence).where(CONSENT_EVENT.c.contact_id == cid)
    rows = [
        {"rid": i, "evidence": pseudonymised(e, swaps), "key": f"erased:{i}"} for i, e in await conn.execute(ledger)
    ]
    values: dict[str, Any] = {"evidence": bindparam("evidence"), "dedupe_key": bindparam("key")}
    stmt = update(CONSENT_EVENT).where(CONSENT_EVENT.c.id == bindparam("rid")).values(values)
    for start in range(0, len(rows), CHUNK):
        await conn.execute(stmt, rows[start : start + CHUNK])
    return len(rows)
