"""Read-only queries behind the dashboard: one contact's chat as it happened, and contacts' names by number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import media
from storage.dialect import among
from storage.models import CONTACT, CONVERSATION, MESSAGE, OUTBOX, ConversationBase, MediaBase, MessageBase, OutboxBase

# Outbox rows that never became a message Meta accepted: still waiting, or settled unsent with a reason.
UNSENT = ("queued", "sending", "failed", "cancelled", "expired", "unknown")


@dataclass(frozen=True)
class Timeline:
    """A contact's latest messages (oldest first), the conversations they fall in, and what is not sent."""

    messages: list[MessageBase]
    conversations: list[ConversationBase]
    unsent: list[OutboxBase]
    media: dict[int, MediaBase] = field(default_factory=dict)  # the files of its media messages, by message id


async def timeline(conn: AsyncConnection, contact_id: int, limit: int = 200) -> Timeline:
    """The last `limit` messages in and out, every conversation since the first of them, and unsent rows."""
    newest = (
        select(MESSAGE)
        .where(MESSAGE.c.contact_id == contact_id)
        .order_by(MESSAGE.c.created_at.desc(), MESSAGE.c.id.desc())
        .limit(limit)
    )
    messages = [MessageBase.model_validate(row._mapping) for row in await conn.execute(newest)][::-1]
    conversations = select(CONVERSATION).where(CONVERSATION.c.contact_id == contact_id)
    if messages and len(messages) == limit:
        conversations = conversations.where(CONVERSATION.c.expires_at > messages[0].created_at)
    unsent = (
        select(OUTBOX)
        .where(OUTBOX.c.contact_id == contact_id, OUTBOX.c.status.in_(UNSENT))
        .order_by(OUTBOX.c.created_at.desc(), OUTBOX.c.id.desc())
        .limit(limit)
    )
    files = [m.id for m in messages if m.id is not None and m.type in media.MEDIA_KINDS]
    return Timeline(
        messages,
        [ConversationBase.model_validate(r._mapping) for r in await conn.execute(conversations.order_by("opened_at"))],
        [OutboxBase.model_validate(r._mapping) for r in await conn.execute(unsent)][::-1],
        await media.for_messages(conn, files),
    )


async def names_by_wa_id(conn: AsyncConnection, wa_ids: Sequence[str]) -> dict[str, str | None]:
    """The profile name of each of these numbers the service knows."""
    if not wa_ids:
        return {}
    rows = await conn.execute(select(CONTACT.c.wa_id, CONTACT.c.name).where(among(CONTACT.c.wa_id, set(wa_ids))))
    return {wa_id: name for wa_id, name in rows}
