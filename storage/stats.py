"""The reads behind the stats: counts grouped by UTC day in SQL, and the rows the pricing needs, streamed.

Counts are aggregated by the database, so a year of traffic comes back as a few rows a day. Pricing needs
rows one by one (a message's country, Meta's reported pricing, its place in the month's free tier): those
are streamed in (time, id) order through a server-side cursor, so memory stays flat however large the range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import CONTACT, CONVERSATION, MESSAGE, OUTBOX

STREAM_BATCH = 1000


@dataclass(frozen=True)
class ConversationCount:
    day: str
    category: str
    count: int


@dataclass(frozen=True)
class MessageCount:
    """Messages of one day, direction and pricing-relevant kind: how many were sent, delivered and failed."""

    day: str
    direction: str
    is_template: bool
    template_category: str | None
    category: str | None
    sent: int
    delivered: int
    failed: int


@dataclass(frozen=True)
class ConversationRow:
    """A conversation to price (CBP), with its contact's number and its opening message's Meta pricing."""

    opened_at: datetime
    category: str
    origin: str
    wa_id: str | None
    pricing: dict[str, Any] | None
    delivered: bool | None  # None: the opening message is not on record


@dataclass(frozen=True)
class MessageRow:
    """A delivered outbound message to price (PMP)."""

    created_at: datetime
    is_template: bool
    template_category: str | None
    category: str | None
    outside_window: bool
    pricing: dict[str, Any] | None
    wa_id: str | None
    origin: str | None  # its conversation's origin: free_entry_point messages are free


def _number() -> ColumnElement[str]:
    """The number a row is priced by: an erased contact's calling code stands in for the number it had."""
    return func.coalesce(CONTACT.c.wa_id, CONTACT.c.calling_code)


def utc_day(conn: AsyncConnection, column: Any) -> ColumnElement[str]:
    """A timestamp column's UTC day as ``YYYY-MM-DD`` text (SQLite stores naive UTC; PostgreSQL `timestamptz`)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column, type_=String)


def _delivered(message: Any) -> ColumnElement[bool]:
    """Delivered, also when Meta reported only `read` (a message can be read without a delivered webhook)."""
    return or_(message.c.delivered_at.is_not(None), message.c.read_at.is_not(None))


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


async def _rows(conn: AsyncConnection, stmt: Any) -> AsyncIterator[Any]:
    """The statement's rows through a server-side cursor, fetched a batch at a time (not one await per row)."""
    result = await conn.stream(stmt.execution_options(yield_per=STREAM_BATCH))
    async for batch in result.partitions(STREAM_BATCH):
        for row in batch:
            yield row


async def conversation_counts(conn: AsyncConnection, start: datetime, end: datetime) -> list[ConversationCount]:
    """Conversations opened in [start, end), by UTC day and category."""
    day = utc_day(conn, CONVERSATION.c.opened_at).label("day")
    stmt = (
        select(day, CONVERSATION.c.category, func.count())
        .where(CONVERSATION.c.opened_at >= start, CONVERSATION.c.opened_at < end)
        .group_by(day, CONVERSATION.c.category)
    )
    return [ConversationCount(str(d), c, int(n)) for d, c, n in await conn.execute(stmt)]


async def message_counts(
    conn: AsyncConnection, start: datetime, end: datetime, *, campaign_id: int | None = None
) -> list[MessageCount]:
    """Messages created in [start, end) (of one campaign, when given), by UTC day, direction and pricing kind."""
    day = utc_day(conn, MESSAGE.c.created_at).label("day")
    is_template = (MESSAGE.c.type == "template").label("is_template")
    keys = (day, MESSAGE.c.direction, is_template, OUTBOX.c.template_category, MESSAGE.c.category)
    stmt = (
        select(
            *keys,
            func.count(),
            _count(_delivered(MESSAGE)),
            _count(MESSAGE.c.status == "failed"),
        )
        .select_from(MESSAGE.outerjoin(OUTBOX, OUTBOX.c.id == MESSAGE.c.outbox_id))
        .where(MESSAGE.c.created_at >= start, MESSAGE.c.created_at < end)
        .group_by(*keys)
    )
    if campaign_id is not None:
        stmt = stmt.where(OUTBOX.c.campaign_id == campaign_id)
    return [
        MessageCount(str(d), direction, bool(tpl), template, category, int(n), int(delivered or 0), int(failed or 0))
        for d, direction, tpl, template, category, n, delivered, failed in await conn.execute(stmt)
    ]


async def conversations_to_price(
    conn: AsyncConnection, start: datetime, end: datetime
) -> AsyncIterator[ConversationRow]:
    """Conversations opened in [start, end), oldest first, streamed."""
    opening = MESSAGE.alias("opening")
    stmt = (
        select(
            CONVERSATION.c.opened_at,
            CONVERSATION.c.category,
            CONVERSATION.c.origin,
            _number(),
            opening.c.pricing,
            case((opening.c.id.is_(None), None), else_=_delivered(opening)),
        )
        .select_from(
            CONVERSATION.join(CONTACT, CONTACT.c.id == CONVERSATION.c.contact_id).outerjoin(
                opening, opening.c.wamid == CONVERSATION.c.opening_wamid
            )
        )
        .where(CONVERSATION.c.opened_at >= start, CONVERSATION.c.opened_at < end)
        .order_by(CONVERSATION.c.opened_at, CONVERSATION.c.id)
    )
    async for row in _rows(conn, stmt):
        delivered = None if row[5] is None else bool(row[5])
        yield ConversationRow(row[0], row[1], row[2], row[3], row[4], delivered)


async def messages_to_price(
    conn: AsyncConnection, start: datetime, end: datetime, *, campaign_id: int | None = None
) -> AsyncIterator[MessageRow]:
    """Delivered outbound messages created in [start, end) (of one campaign, when given), oldest first, streamed."""
    stmt = (
        select(
            MESSAGE.c.created_at,
            MESSAGE.c.type == "template",
            OUTBOX.c.template_category,
            MESSAGE.c.category,
            MESSAGE.c.outside_window,
            MESSAGE.c.pricing,
            _number(),
            CONVERSATION.c.origin,
        )
        .select_from(
            MESSAGE.join(CONTACT, CONTACT.c.id == MESSAGE.c.contact_id)
            .outerjoin(OUTBOX, OUTBOX.c.id == MESSAGE.c.outbox_id)
            .outerjoin(CONVERSATION, CONVERSATION.c.id == MESSAGE.c.conversation_id)
        )
        .where(
            and_(MESSAGE.c.direction == "out", _delivered(MESSAGE)),
            MESSAGE.c.created_at >= start,
            MESSAGE.c.created_at < end,
        )
        .order_by(MESSAGE.c.created_at, MESSAGE.c.id)
    )
    if campaign_id is not None:
        stmt = stmt.where(OUTBOX.c.campaign_id == campaign_id)
    async for row in _rows(conn, stmt):
        yield MessageRow(row[0], bool(row[1]), row[2], row[3], bool(row[4]), row[5], row[6], row[7])


async def campaign_span(conn: AsyncConnection, campaign_id: int) -> tuple[datetime, datetime] | None:
    """When the campaign's first and last messages were created; None before it sent any."""
    stmt = (
        select(func.min(MESSAGE.c.created_at), func.max(MESSAGE.c.created_at))
        .select_from(MESSAGE.join(OUTBOX, OUTBOX.c.id == MESSAGE.c.outbox_id))
        .where(OUTBOX.c.campaign_id == campaign_id)
    )
    first, last = (await conn.execute(stmt)).one()
    return None if first is None else (first, last)
