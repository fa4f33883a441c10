"""Contacts, their 24-hour conversations, and recording what we sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import among
from storage.models import CONTACT, CONVERSATION, MESSAGE, ContactBase, ConversationBase
from storage.rows import model_of
from storage.status import replay_statuses


async def open_conversations(conn: AsyncConnection, conversations: Sequence[dict[str, Any]]) -> list[int]:
    """Open many conversations with one statement; returns their ids in the order given.

    Each item holds a conversation's columns (contact_id, category, origin, opened_at, expires_at,
    opening_wamid). A sender settles a whole batch at once, and a statement per conversation would cost
    a database round trip per message.
    """
    if not conversations:
        return []
    stmt = insert(CONVERSATION).returning(CONVERSATION.c.id, sort_by_parameter_order=True)
    ids = [int(cid) for cid in (await conn.execute(stmt, list(conversations))).scalars()]
    opened = [
        events.Event("conversation.opened", _opened(cid, c), int(c["contact_id"]), c["opened_at"])
        for cid, c in zip(ids, conversations, strict=True)
    ]
    await events.emit(conn, opened)
    return ids


def _opened(conversation_id: int, c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id, "category": c["category"], "origin": c["origin"],
        "opened_at": c["opened_at"].isoformat(), "expires_at": c["expires_at"].isoformat(),
    }  # fmt: skip


async def record_outbound(conn: AsyncConnection, messages: Sequence[dict[str, Any]]) -> None:
    """Store messages Meta accepted, then apply any status webhooks that beat us to them."""
    if not messages:
        return
    await conn.execute(insert(MESSAGE), [{"direction": "out", "status": "accepted", **m} for m in messages])
    await replay_statuses(conn, [m["wamid"] for m in messages])


async def close_conversations(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    """End conversations early (Meta closes the others when a free entry point conversation opens)."""
    if ids:
        await conn.execute(update(CONVERSATION).where(among(CONVERSATION.c.id, ids)).values(expires_at=now))


async def contacts_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, ContactBase]:
    rows = await conn.execute(select(CONTACT).where(among(CONTACT.c.id, ids)))
    contacts = [model_of(ContactBase, row._mapping) for row in rows]
    return {c.id: c for c in contacts if c.id is not None}


async def last_inbound_by_number(
    conn: AsyncConnection, contact_ids: Sequence[int], since: datetime
) -> dict[tuple[int, str | None], datetime]:
    """When each contact last wrote to each business number, for messages since `since` (a window's length)."""
    if not contact_ids:
        return {}
    stmt = (
        select(MESSAGE.c.contact_id, MESSAGE.c.phone_number_id, func.max(MESSAGE.c.created_at))
        .where(among(MESSAGE.c.contact_id, contact_ids), MESSAGE.c.direction == "in")
        .where(MESSAGE.c.created_at > since)
        .group_by(MESSAGE.c.contact_id, MESSAGE.c.phone_number_id)
    )
    latest: dict[tuple[int, str | None], datetime] = {}
    for contact_id, number, at in await conn.execute(stmt):
        latest[contact_id, number] = at  # max() keeps the column's type: UTC-aware
    return latest


async def open_conversations_for(
    conn: AsyncConnection, contact_ids: Sequence[int], now: datetime
) -> dict[int, list[ConversationBase]]:
    """Each contact's conversations still open at `now`, newest first."""
    stmt = (
        select(CONVERSATION)
        .where(among(CONVERSATION.c.contact_id, contact_ids), CONVERSATION.c.expires_at > now)
        .order_by(CONVERSATION.c.opened_at.desc())
    )
    found: dict[int, list[ConversationBase]] = {cid: [] for cid in contact_ids}
    for row in await conn.execute(stmt):
        found[row.contact_id].append(model_of(ConversationBase, row._mapping))
    return found
