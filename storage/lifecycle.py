"""Meta's lifecycle reports: each one kept, and what it leaves in force (template status and category, number state).

A report comes from a webhook (in the webhook's own transaction, through `record_sync`) or from
`bot templates sync` and `push` (through `record`); both go the same way. A report already kept (Meta
redelivers) changes nothing. An older status report never overwrites a newer one (Meta's delivery order
is not guaranteed): each template keeps Meta's time of the status it holds.

What a status means for sending (docs/operations.md, "Meta's word"): a template Meta never
reported on is sent (the sandbox's, and any not yet synced); one whose last status is in `BLOCKING` is
refused with Meta's reason; any other (APPROVED, FLAGGED, LOCKED ...) is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import insert_ignoring_conflicts
from storage.models import (
    LIFECYCLE_EVENT,
    NUMBER_STATE,
    TEMPLATE_STATUS,
    LifecycleEventBase,
    NumberStateBase,
    TemplateStatusBase,
    utcnow,
)
from storage.rows import model_of

# Statuses under which Meta refuses to send a template: under review, refused, paused, disabled, gone.
BLOCKING = frozenset(
    {"PENDING", "REJECTED", "PAUSED", "DISABLED", "ARCHIVED", "DELETED", "PENDING_DELETION", "IN_APPEAL",
     "LIMIT_EXCEEDED"}
)  # fmt: skip
# Events that put a template back as it was before, and events that say something without changing its status.
_STATUS_OF_EVENT = {"REINSTATED": "APPROVED", "UNARCHIVED": "APPROVED"}
_KEEPS_STATUS = frozenset({"LOCKED", "UNLOCKED"})


def refusal(state: TemplateStatusBase | None) -> str | None:
    """Why a template is not sent, in Meta's words; None when Meta never said or did not refuse it."""
    if state is None or state.status not in BLOCKING:
        return None
    return f"template {state.name} ({state.language}) is {state.status} at Meta" + (
        f": {state.reason}" if state.reason else ""
    )


@dataclass(frozen=True)
class Report:
    """One lifecycle report: read from Meta's webhook (`bot.whatsapp.lifecycle`) or made by `bot templates sync`.

    `subject` names what changed: `name:language` for a template, the display number for a number, the
    account id for an account. `old_value` and `new_value` are the status, category, quality score,
    messaging limit or account event; `quality` is a number's quality rating when the report says it.
    """

    kind: str
    event: str | None
    subject: str
    old_value: str | None
    new_value: str | None
    reason: str | None
    account_id: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_id: str | None = None
    display_number: str | None = None
    quality: str | None = None
    at: datetime | None = None
    raw: Mapping[str, Any] | None = None
    phone_number_id: str | None = None


def _digest(change: Report) -> str:
    """What makes a report the same report again when Meta redelivers it."""
    parts = [change.kind, change.subject, change.event, change.old_value, change.new_value, change.raw]
    parts.append(change.at.isoformat() if change.at else None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def record_sync(
    conn: Connection,
    changes: Sequence[Report],
    *,
    source: str,
    webhook_event_id: int | None = None,
    received_at: datetime | None = None,
) -> int:
    """Keep each report not kept before and apply it, telling its event; answers how many were new."""
    now = received_at or utcnow()
    new = 0
    for change in changes:
        row = _row(change, source, webhook_event_id, now)
        stmt = insert_ignoring_conflicts(conn, LIFECYCLE_EVENT, "digest").returning(LIFECYCLE_EVENT.c.id)
        found = conn.execute(stmt, row).first()
        if found is None:
            continue  # kept already: a redelivery
        new += 1
        told = _apply(conn, change, now)
        if told is not None and told.get("old") is not None and change.kind == "template_status":
            conn.execute(update(LIFECYCLE_EVENT).where(LIFECYCLE_EVENT.c.id == found[0]).values(old_value=told["old"]))
        if told is not None:
            events.emit_sync(conn, [events.Event(told["type"], told["data"], None, change.at or now)])
    return new


async def record(conn: AsyncConnection, changes: Sequence[Report], *, source: str) -> int:
    """`record_sync` in an async transaction (`bot templates sync` and `push`)."""
    return await conn.run_sync(lambda sync: record_sync(sync, changes, source=source))


def _row(change: Report, source: str, webhook_event_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "webhook_event_id": webhook_event_id, "digest": _digest(change), "source": source, "kind": change.kind[:32],
        "event": change.event, "subject": change.subject[:600], "old_value": change.old_value,
        "new_value": change.new_value, "reason": change.reason, "account_id": change.account_id,
        "raw": dict(change.raw or {}), "occurred_at": change.at, "received_at": now,
    }  # fmt: skip


def _apply(conn: Connection, change: Report, now: datetime) -> dict[str, Any] | None:
    """Put one new report in force; answers the event to tell (its type and data, and the status it replaced)."""
    if change.kind == "number_quality":
        return _apply_number(conn, change, now)
    if change.kind == "account":
        data = {"account_id": change.account_id, "event": change.event, "reason": change.reason}
        return {"type": "account.update", "data": data}
    name, language = change.template_name, change.template_language
    if name is None or language is None:
        return None
    name, language = name[:512], language[:16]  # as the columns hold them, so that the next report finds the row
    template: dict[str, Any] = {"name": name, "language": language}
    if change.kind == "template_quality":
        return {"type": "template.quality", "data": template | {"quality": change.new_value, "previous_quality":
                change.old_value}}  # fmt: skip
    if change.kind == "template_category_notice":
        data = template | {"category": _lower(change.old_value), "announced": _lower(change.new_value),
                           "reason": change.reason}  # fmt: skip
        return {"type": "template.category", "data": data}
    current = _template(conn, name, language)
    if change.kind == "template_category":
        previous = _lower(change.old_value) or (current.category if current else None)
        values: dict[str, Any] = {"category": _lower(change.new_value), "previous_category": previous}
        values["category_changed_at"] = change.at or now
        _upsert_template(conn, name, language, current, values | {"meta_id": change.template_id}, now)
        data = template | {"category": values["category"], "previous_category": values["previous_category"]}
        return {"type": "template.category", "data": data | {"announced": None}}
    return _apply_status(conn, change, current, now)


def _apply_status(
    conn: Connection, change: Report, current: TemplateStatusBase | None, now: datetime
) -> dict[str, Any] | None:
    name, language, event = (
        (change.template_name or "")[:512],
        (change.template_language or "")[:16],
        change.event or "",
    )
    old = current.status if current else None
    # Meta's times are whole seconds: within one second, the report that came last stands.
    at = (change.at or now).replace(microsecond=0)
    if current and current.status_at and at < current.status_at:
        return None  # Meta's older report, delivered late: the newer status stands
    status = old if event in _KEEPS_STATUS else _STATUS_OF_EVENT.get(event, event[:32])
    values: dict[str, Any] = {"status": status, "reason": change.reason, "status_at": at}
    raw = change.raw or {}
    category = raw.get("message_template_category") or raw.get("category")  # a webhook's, or a listed template's
    if isinstance(category, str) and category.strip() and not (current and current.category):
        values["category"] = category.strip().lower()[:32]
    if change.template_id:
        values["meta_id"] = change.template_id
    _upsert_template(conn, name, language, current, values, now)
    data = {"name": name, "language": language, "status": status, "previous_status": old, "event": event,
            "reason": change.reason, "blocked": status in BLOCKING}  # fmt: skip
    return {"type": "template.status", "data": data, "old": old}


def _apply_number(conn: Connection, change: Report, now: datetime) -> dict[str, Any]:
    """A number's quality and messaging limit, found by its id when the report has one, else its display number."""
    phone_number_id = (change.phone_number_id or "")[:64] or None
    display = (change.display_number or "")[:32] or None  # as the column holds it
    current = number_state_sync(conn, phone_number_id=phone_number_id, display_number=display)
    values: dict[str, Any] = {"updated_at": now}
    if change.new_value and change.new_value != "TIER_NOT_SET":
        values["messaging_limit"] = change.new_value[:32]
    if change.quality:
        values["quality"] = change.quality[:16]
    if display:
        values["display_number"] = display
    if phone_number_id:
        values["phone_number_id"] = phone_number_id
    if change.account_id:
        values["account_id"] = change.account_id[:128]
    if current is None:
        conn.execute(NUMBER_STATE.insert().values(values))
    else:
        conn.execute(update(NUMBER_STATE).where(NUMBER_STATE.c.id == current.id).values(values))
    data = {
        "display_number": change.display_number, "event": change.event,
        "quality": values.get("quality", current.quality if current else None),
        "previous_quality": current.quality if current else None,
        "messaging_limit": values.get("messaging_limit", current.messaging_limit if current else None),
        "previous_messaging_limit": current.messaging_limit if current else change.old_value,
    }  # fmt: skip
    return {"type": "number.quality", "data": data}


def _lower(value: str | None) -> str | None:
    return value.lower()[:32] if value else None


def _template(conn: Connection, name: str, language: str) -> TemplateStatusBase | None:
    stmt = select(TEMPLATE_STATUS).where(TEMPLATE_STATUS.c.name == name, TEMPLATE_STATUS.c.language == language)
    row = conn.execute(stmt).first()
    return model_of(TemplateStatusBase, row._mapping) if row is not None else None


def _upsert_template(
    conn: Connection,
    name: str,
    language: str,
    current: TemplateStatusBase | None,
    values: dict[str, Any],
    now: datetime,
) -> None:
    values = {k: v for k, v in values.items() if v is not None or k in ("reason",)} | {"updated_at": now}
    if current is None:
        conn.execute(TEMPLATE_STATUS.insert().values(name=name[:512], language=language[:16], **values))
    else:
        conn.execute(update(TEMPLATE_STATUS).where(TEMPLATE_STATUS.c.id == current.id).values(values))


def number_state_sync(
    conn: Connection, *, phone_number_id: str | None, display_number: str | None
) -> NumberStateBase | None:
    """The state row of a number found by its id, else by its display number."""
    for column, value in ((NUMBER_STATE.c.phone_number_id, phone_number_id), (NUMBER_STATE.c.display_number,
                                                                               display_number)):  # fmt: skip
        if value:
            row = conn.execute(select(NUMBER_STATE).where(column == value)).first()
            if row is not None:
                return model_of(NumberStateBase, row._mapping)
    return None


# -- reads -----------------------------------------------------------------------------------------


async def templates(conn: AsyncConnection) -> list[TemplateStatusBase]:
    """Every template Meta reported on, by name and language."""
    rows = await conn.execute(select(TEMPLATE_STATUS).order_by(TEMPLATE_STATUS.c.name, TEMPLATE_STATUS.c.language))
    return [model_of(TemplateStatusBase, row._mapping) for row in rows]


async def meta_word(conn: AsyncConnection) -> dict[tuple[str, str], TemplateStatusBase]:
    """Every template Meta reported on, by (name, language): what the sender and the API check."""
    return {(t.name, t.language): t for t in await templates(conn)}


async def number_state(conn: AsyncConnection, phone_number_id: str) -> NumberStateBase | None:
    """This deployment's number as Meta last reported it.

    Found by its id; else, while a number is known only by the display number Meta's webhook names it by,
    the latest such row (a deployment serves one number until numbers become data).
    """
    row = (await conn.execute(select(NUMBER_STATE).where(NUMBER_STATE.c.phone_number_id == phone_number_id))).first()
    if row is None:
        stmt = (
            select(NUMBER_STATE)
            .where(NUMBER_STATE.c.phone_number_id.is_(None))
            .order_by(NUMBER_STATE.c.updated_at.desc())
            .limit(1)
        )
        row = (await conn.execute(stmt)).first()
    return model_of(NumberStateBase, row._mapping) if row is not None else None


async def numbers(conn: AsyncConnection) -> list[NumberStateBase]:
    rows = await conn.execute(select(NUMBER_STATE).order_by(NUMBER_STATE.c.id))
    return [model_of(NumberStateBase, row._mapping) for row in rows]


async def history(conn: AsyncConnection, *, limit: int = 200) -> list[LifecycleEventBase]:
    """The latest reports, newest first."""
    rows = await conn.execute(select(LIFECYCLE_EVENT).order_by(LIFECYCLE_EVENT.c.id.desc()).limit(limit))
    return [model_of(LifecycleEventBase, row._mapping) for row in rows]


async def record_push(
    conn: AsyncConnection, *, name: str, language: str, content_hash: str, meta_id: str | None, now: datetime
) -> None:
    """What was pushed of a template, so that the next push sends it only when it changed."""
    current = await conn.run_sync(lambda sync: _template(sync, name, language))
    values = {"content_hash": content_hash, "pushed_at": now, "meta_id": meta_id}
    await conn.run_sync(lambda sync: _upsert_template(sync, name, language, current, values, now))
