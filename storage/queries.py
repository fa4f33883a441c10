"""Read-only queries behind the admin API: conversations, messages and contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import CONTACT, CONVERSATION, MESSAGE, ContactBase


def _page(stmt: Any, column: Any, limit: int, before: int | None) -> Any:
    if before is not None:
        stmt = stmt.where(column < before)
    return stmt.order_by(column.desc()).limit(limit)


async def list_conversations(
    conn: AsyncConnection, *, wa_id: str | None, category: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    stmt = select(
        CONVERSATION.c.id,
        CONTACT.c.wa_id,
        CONTACT.c.user_id,
        CONVERSATION.c.category,
        CONVERSATION.c.origin,
        CONVERSATION.c.opened_at,
        CONVERSATION.c.expires_at,
    ).join(CONTACT, CONTACT.c.id == CONVERSATION.c.contact_id)
    if wa_id:
        stmt = stmt.where(CONTACT.c.wa_id == wa_id)
    if category:
        stmt = stmt.where(CONVERSATION.c.category == category)
    return [dict(row._mapping) for row in await conn.execute(_page(stmt, CONVERSATION.c.id, limit, before))]


async def list_messages(
    conn: AsyncConnection, *, wa_id: str | None, direction: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    stmt = select(
        MESSAGE.c.id,
        MESSAGE.c.wamid,
        CONTACT.c.wa_id,
        MESSAGE.c.direction,
        MESSAGE.c.type,
        MESSAGE.c.text,
        MESSAGE.c.template_name,
        MESSAGE.c.category,
        MESSAGE.c.status,
        MESSAGE.c.pricing,
        MESSAGE.c.error,
        MESSAGE.c.conversation_id,
        MESSAGE.c.created_at,
        MESSAGE.c.sent_at,
        MESSAGE.c.delivered_at,
        MESSAGE.c.read_at,
        MESSAGE.c.failed_at,
    ).join(CONTACT, CONTACT.c.id == MESSAGE.c.contact_id)
    if wa_id:
        stmt = stmt.where(CONTACT.c.wa_id == wa_id)
    if direction:
        stmt = stmt.where(MESSAGE.c.direction == direction)
    return [dict(row._mapping) for row in await conn.execute(_page(stmt, MESSAGE.c.id, limit, before))]


async def contact_by_wa_id(conn: AsyncConnection, wa_id: str) -> ContactBase | None:
    row = (await conn.execute(select(CONTACT).where(CONTACT.c.wa_id == wa_id))).first()
    return ContactBase.model_validate(row._mapping) if row else None
