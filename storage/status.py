"""Applying Meta's status webhooks to our outbound messages, in any order and any number of times."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import among
from storage.models import MESSAGE, STATUS_EVENT, Message
from storage.types import UTCDateTime

# Statuses only move forward: a late "delivered" never undoes a "read" (Meta's order is not guaranteed,
# and a message can be read without a delivered webhook). "failed" is final.
STATUS_RANK = {"accepted": 0, "received": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 9}
_TIME_COLUMN = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "read_at",
    "played": "read_at",
    "failed": "failed_at",
}

StatusTuple = tuple[str, str, datetime, dict[str, Any]]


def _extras(raw: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if isinstance(raw.get("pricing"), dict):
        extras["pricing"] = raw["pricing"]
    if isinstance(raw.get("conversation"), dict):
        extras["meta_conversation"] = raw["conversation"]
    if raw.get("errors"):
        extras["error"] = {"errors": raw["errors"]}
    return extras


def apply_statuses(conn: Connection, statuses: Sequence[StatusTuple]) -> None:
    """Move each message's status forward, stamp its time, and keep Meta's pricing and conversation."""
    groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
    for wamid, status, when, raw in statuses:
        extras = _extras(raw)
        groups[(status, tuple(sorted(extras)))].append(
            {"w": wamid, "ts": when, **{f"x_{k}": v for k, v in extras.items()}}
        )
    rank = case(STATUS_RANK, value=MESSAGE.c.status, else_=0)
    for (status, extra_keys), params in groups.items():
        values: dict[str, Any] = {"status": case((rank < STATUS_RANK.get(status, 0), status), else_=MESSAGE.c.status)}
        column = _TIME_COLUMN.get(status)
        if column:
            values[column] = func.coalesce(getattr(Message, column), bindparam("ts", type_=UTCDateTime()))
        for key in extra_keys:
            values[key] = bindparam(f"x_{key}", type_=MESSAGE.c[key].type)
        stmt = update(MESSAGE).where(MESSAGE.c.wamid == bindparam("w"), MESSAGE.c.direction == "out").values(**values)
        conn.execute(stmt, params)


async def replay_statuses(conn: AsyncConnection, wamids: Sequence[str]) -> None:
    """Apply statuses that arrived before we recorded the message's wamid (Meta can be that fast)."""
    rows = (
        await conn.execute(
            select(
                STATUS_EVENT.c.wamid, STATUS_EVENT.c.status, STATUS_EVENT.c.timestamp, STATUS_EVENT.c.payload,
                STATUS_EVENT.c.id,
            )
            .where(among(STATUS_EVENT.c.wamid, wamids))
            .order_by(STATUS_EVENT.c.timestamp)
        )
    ).all()  # fmt: skip
    if rows:
        await conn.run_sync(apply_statuses, [(r[0], r[1], r[2], r[3]) for r in rows])
        await conn.run_sync(status_events_sync, [int(r[4]) for r in rows])


def status_events_sync(conn: Connection, status_ids: Sequence[int]) -> None:
    """`message.status` events for status webhooks just stored, of messages we sent and have recorded.

    A status that beats the record of its message (Meta can be that fast) is told when the message is
    recorded (`replay_statuses`), so each stored status is told once.
    """
    if not events.wanted_sync(conn, "message.status"):
        return
    stmt = (
        select(
            STATUS_EVENT.c.wamid, STATUS_EVENT.c.status, STATUS_EVENT.c.timestamp, STATUS_EVENT.c.payload,
            MESSAGE.c.contact_id,
        )
        .join(MESSAGE, (MESSAGE.c.wamid == STATUS_EVENT.c.wamid) & (MESSAGE.c.direction == "out"))
        .where(among(STATUS_EVENT.c.id, status_ids))
        .order_by(STATUS_EVENT.c.timestamp, STATUS_EVENT.c.id)
    )  # fmt: skip
    told = [
        events.Event("message.status", _status_data(wamid, status, when, raw or {}), int(contact_id), when)
        for wamid, status, when, raw, contact_id in conn.execute(stmt)
    ]
    events.emit_sync(conn, told)


def _status_data(wamid: str, status: str, when: datetime, raw: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"wamid": wamid, "status": status, "timestamp": when.isoformat()}
    if isinstance(raw.get("pricing"), dict):
        data["pricing"] = raw["pricing"]
    if raw.get("errors"):
        data["errors"] = raw["errors"]
    return data


async def reported_sends(conn: AsyncConnection, callbacks: Sequence[str]) -> dict[str, str]:
    """The wamid of each send Meta reported a status for, by the callback data the send carried."""
    if not callbacks:
        return {}
    rows = await conn.execute(
        select(STATUS_EVENT.c.callback, STATUS_EVENT.c.wamid).where(among(STATUS_EVENT.c.callback, callbacks))
    )
    return {callback: wamid for callback, wamid in rows}
