"""The consent ledger: append opt-ins and opt-outs, derive each contact's current state, read the history.

Recording an opt-out from marketing cancels, in the same transaction, every marketing message still
queued for that contact: once the opt-out is stored, nothing queued before it goes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import among, insert_ignoring_conflicts
from storage.models import CONSENT_EVENT, OUTBOX, ConsentEventBase

MARKETING = "marketing"
OPT_IN, OPT_OUT = "opt_in", "opt_out"
ACTIONS = (OPT_IN, OPT_OUT)
CONSENT_NAMESPACE = 7302  # pg_advisory_*lock(namespace, contact_id); the turn locks use 7301
SOURCES = ("keyword", "button", "api", "import", "dashboard", "preference", "error_131050")


@dataclass(frozen=True)
class ConsentChange:
    """One ledger entry to append."""

    contact_id: int
    action: str
    source: str
    evidence: dict[str, Any]
    at: datetime
    purpose: str = MARKETING
    dedupe_key: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown consent action {self.action!r}; expected one of {', '.join(ACTIONS)}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown consent source {self.source!r}; expected one of {', '.join(SOURCES)}")

    def row(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id, "purpose": self.purpose, "action": self.action, "source": self.source,
            "evidence": self.evidence, "dedupe_key": self.dedupe_key, "created_at": self.at,
        }  # fmt: skip


@dataclass(frozen=True)
class Recorded:
    """What appending did: entries new to the ledger, and queued marketing messages cancelled."""

    appended: int
    cancelled: int


async def record(conn: AsyncConnection, changes: Sequence[ConsentChange], now: datetime) -> Recorded:
    """Append `changes` (each fact once, by its dedupe key) and cancel queued marketing on opt-outs."""
    if not changes:
        return Recorded(0, 0)
    await lock_for_opt_out(conn, _stopped(changes))
    appended = (await conn.execute(_append(conn), [c.row() for c in changes])).all()
    stopped = _stopped(changes)
    cancelled = (await conn.execute(_cancel_marketing(stopped, now))).rowcount if stopped else 0
    await events.emit(conn, _changed(appended))
    return Recorded(len(appended), cancelled)


def record_sync(conn: Connection, changes: Sequence[ConsentChange], now: datetime) -> Recorded:
    """`record` for the webhook's synchronous batch writer (`storage.inbox.store_deliveries`)."""
    if not changes:
        return Recorded(0, 0)
    appended = conn.execute(_append(conn), [c.row() for c in changes]).all()
    stopped = _stopped(changes)
    cancelled = conn.execute(_cancel_marketing(stopped, now)).rowcount if stopped else 0
    events.emit_sync(conn, _changed(appended))
    return Recorded(len(appended), cancelled)


def _append(conn: AsyncConnection | Connection) -> Any:
    # A NULL dedupe key never conflicts; RETURNING answers only for the rows actually appended.
    c = CONSENT_EVENT.c
    return insert_ignoring_conflicts(conn, CONSENT_EVENT, "dedupe_key").returning(
        c.id, c.contact_id, c.purpose, c.action, c.source, c.created_at
    )


def _changed(appended: Sequence[Any]) -> list[events.Event]:
    """`consent.changed` events for the ledger entries just appended (a repeated fact appends nothing)."""
    return [
        events.Event("consent.changed", {"purpose": purpose, "action": action, "source": source,
                                         "at": at.isoformat()}, int(contact_id), at)
        for _, contact_id, purpose, action, source, at in appended
    ]  # fmt: skip


def _stopped(changes: Sequence[ConsentChange]) -> list[int]:
    return sorted({c.contact_id for c in changes if c.action == OPT_OUT and c.purpose == MARKETING})


def _cancel_marketing(contact_ids: list[int], now: datetime) -> Any:
    error = {"code": "opted_out", "message": "the contact opted out of marketing before this was sent"}
    return (
        update(OUTBOX)
        .where(among(OUTBOX.c.contact_id, contact_ids), OUTBOX.c.kind == "marketing", OUTBOX.c.status == "queued")
        .values(status="cancelled", last_error=error, updated_at=now)
    )


async def states(conn: AsyncConnection, contact_ids: Sequence[int], purpose: str = MARKETING) -> dict[int, str]:
    """Each contact's current state for `purpose` (`opt_in` or `opt_out`); contacts never asked are absent."""
    return {contact_id: entry.action for contact_id, entry in (await latest(conn, contact_ids, purpose)).items()}


async def latest(
    conn: AsyncConnection, contact_ids: Sequence[int], purpose: str = MARKETING
) -> dict[int, ConsentEventBase]:
    """Each contact's latest ledger entry for `purpose`, which holds its state; contacts never asked are absent."""
    if not contact_ids:
        return {}
    newest = (
        select(func.max(CONSENT_EVENT.c.id))
        .where(among(CONSENT_EVENT.c.contact_id, contact_ids), CONSENT_EVENT.c.purpose == purpose)
        .group_by(CONSENT_EVENT.c.contact_id)
    )
    rows = await conn.execute(select(CONSENT_EVENT).where(CONSENT_EVENT.c.id.in_(newest)))
    return {int(row.contact_id): ConsentEventBase.model_validate(row._mapping) for row in rows}


async def history(conn: AsyncConnection, contact_id: int) -> list[ConsentEventBase]:
    """The contact's ledger, oldest first."""
    rows = await conn.execute(
        select(CONSENT_EVENT).where(CONSENT_EVENT.c.contact_id == contact_id).order_by(CONSENT_EVENT.c.id)
    )
    return [ConsentEventBase.model_validate(row._mapping) for row in rows]


async def lock_for_opt_out(conn: AsyncConnection, contact_ids: Sequence[int]) -> None:
    """PostgreSQL: in the opt-out's transaction, wait for marketing in flight to them (`storage.consent_guard`)."""
    if conn.dialect.name != "postgresql" or not contact_ids:
        return
    for cid in sorted(set(contact_ids)):
        await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :cid)"), {"ns": CONSENT_NAMESPACE, "cid": cid})
