"""Retention: raw webhook bodies deleted, and message texts blanked, once older than their days; a batch at a time.

Each function is one small batch in the caller's transaction, so a purge of a year's backlog never holds
SQLite's write lock for long: the caller commits between batches and webhooks go first at the gate.
Conversation rows and messages' category, status and pricing are never touched: costs stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import MEDIA, MESSAGE, OUTBOX, WEBHOOK_EVENT

# Outbox rows still to be sent (or held by a paused campaign) keep their payload whatever their age.
WAITING = ("queued", "sending", "paused")


@dataclass(frozen=True)
class Walk:
    """Where a walk by id got to: `after` to read on from now, `resume` to start from next time.

    `resume` stays before the first old row that was still in use (an unhandled message, a queued send),
    so it is looked at again next time; `more` says the batch was full of old rows and more may follow.
    """

    after: int
    resume: int
    purged: int
    more: bool


async def purge_webhooks(conn: AsyncConnection, *, received_before: datetime, limit: int) -> int:
    """Delete up to `limit` raw webhook bodies received before `received_before`, oldest first; how many."""
    old = (
        select(WEBHOOK_EVENT.c.id)
        .where(WEBHOOK_EVENT.c.received_at < received_before)
        .order_by(WEBHOOK_EVENT.c.received_at)
        .limit(limit)
    )
    ids = [int(i) for i in (await conn.execute(old)).scalars()]
    if ids:
        await conn.execute(delete(WEBHOOK_EVENT).where(WEBHOOK_EVENT.c.id.in_(ids)))
    return len(ids)


async def purge_message_texts(conn: AsyncConnection, *, after: int, created_before: datetime, limit: int) -> Walk:
    """Blank the text and raw body of the next `limit` messages after id `after` written before `created_before`.

    An inbound message the bot has not handled yet keeps its text: its turn still needs it.
    """
    has_text = or_(MESSAGE.c.text.is_not(None), MESSAGE.c.body.is_not(None))
    rows = await conn.execute(
        select(
            MESSAGE.c.id,
            MESSAGE.c.created_at,
            and_(MESSAGE.c.direction == "in", MESSAGE.c.handled_at.is_(None)),
            has_text,
        )
        .where(MESSAGE.c.id > after)
        .order_by(MESSAGE.c.id)
        .limit(limit)
    )
    walk, ids = _walk([(i, at, bool(busy), bool(full)) for i, at, busy, full in rows], after, created_before, limit)
    if ids:  # SQL NULL, not JSON null: the walk reads `body IS NOT NULL` as "still holds words"
        await conn.execute(update(MESSAGE).where(MESSAGE.c.id.in_(ids)).values(text=None, body=null()))
        # A file's caption and name are the customer's words too; the file itself follows BOT_RETAIN_MEDIA_DAYS.
        await conn.execute(update(MEDIA).where(MEDIA.c.message_id.in_(ids)).values(caption=None, filename=None))
    return walk


async def purge_outbox_payloads(conn: AsyncConnection, *, after: int, created_before: datetime, limit: int) -> Walk:
    """Blank the payload (the words sent) of the next `limit` settled outbox rows after id `after`."""
    rows = await conn.execute(
        select(OUTBOX.c.id, OUTBOX.c.created_at, OUTBOX.c.status, OUTBOX.c.payload)
        .where(OUTBOX.c.id > after)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    found = [(i, at, status in WAITING, bool(payload)) for i, at, status, payload in rows]
    walk, ids = _walk(found, after, created_before, limit)
    if ids:
        await conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(payload={}))
    return walk


def _walk(
    rows: list[tuple[int, datetime, bool, bool]], after: int, before: datetime, limit: int
) -> tuple[Walk, list[int]]:
    """The old rows of a batch read by id, up to the first young one: which to blank, and where to go on."""
    ids: list[int] = []
    resume: int | None = None
    last = after
    for rid, created_at, busy, full in rows:
        if created_at >= before:
            return Walk(last, last if resume is None else resume, len(ids), False), ids
        if busy and resume is None:
            resume = rid - 1
        if full and not busy:
            ids.append(rid)
        last = rid
    more = len(rows) == limit
    return Walk(last, last if resume is None else resume, len(ids), more), ids
