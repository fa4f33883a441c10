"""The inbox's read marks and unread counts, and the message rows the live inbox has not told of yet.

A read mark is the newest message id a person has seen in a customer's chat; what the customer sent after
it is unread. Counts are of the customers waiting for a person (the inbox), so the navigation's number is
the work waiting. The live inbox (`bot.dashboard.live`) polls `messages_after` with a high-water mark, which
is cheap (a range of the primary key) and works across processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_ignoring_conflicts
from storage.models import CONTACT, INBOX_READ, MESSAGE, SESSION


@dataclass(frozen=True)
class Written:
    """A message row as the live inbox tells of it: its id, whose chat, and which way it went."""

    id: int
    contact_id: int
    wa_id: str | None
    direction: str


async def newest_id(conn: AsyncConnection) -> int:
    """The highest message id stored: the live inbox's high-water mark to start from."""
    return int((await conn.execute(select(func.coalesce(func.max(MESSAGE.c.id), 0)))).scalar_one())


async def messages_after(conn: AsyncConnection, after: int, limit: int) -> list[Written]:
    """Up to `limit` messages with ids above `after`, oldest first, with their contact's number."""
    stmt = (
        select(MESSAGE.c.id, MESSAGE.c.contact_id, CONTACT.c.wa_id, MESSAGE.c.direction)
        .join(CONTACT, CONTACT.c.id == MESSAGE.c.contact_id)
        .where(MESSAGE.c.id > after)
        .order_by(MESSAGE.c.id)
        .limit(limit)
    )
    return [Written(int(i), int(cid), wa_id, str(d)) for i, cid, wa_id, d in await conn.execute(stmt)]


async def waiting_numbers(conn: AsyncConnection) -> set[str]:
    """The numbers of the customers waiting for a person."""
    stmt = select(CONTACT.c.wa_id).join(SESSION, SESSION.c.contact_id == CONTACT.c.id).where(SESSION.c.handed_off)
    return {str(n) for n in (await conn.execute(stmt)).scalars() if n}


async def unread(conn: AsyncConnection) -> dict[int, int]:
    """Each waiting customer's messages after their chat's read mark (only customers with some).

    A count per waiting customer through the message table's (contact, time) index, not one join over all
    messages: planners chose to scan the whole table for the join (380 ms over 200,000 messages on SQLite).
    """
    after = func.coalesce(INBOX_READ.c.read_id, 0)
    count = (
        select(func.count())
        .where(MESSAGE.c.contact_id == SESSION.c.contact_id, MESSAGE.c.direction == "in", MESSAGE.c.id > after)
        .scalar_subquery()
    )
    stmt = (
        select(SESSION.c.contact_id, count)
        .outerjoin(INBOX_READ, INBOX_READ.c.contact_id == SESSION.c.contact_id)
        .where(SESSION.c.handed_off)
    )
    return {int(cid): int(n) for cid, n in await conn.execute(stmt) if n}


async def mark_read(conn: AsyncConnection, contact_id: int, now: datetime) -> None:
    """Everything in this customer's chat so far is read (a person opened it); the mark never moves back."""
    newest = (await conn.execute(select(func.max(MESSAGE.c.id)).where(MESSAGE.c.contact_id == contact_id))).scalar_one()
    if newest is None:
        return
    await conn.execute(
        insert_ignoring_conflicts(conn, INBOX_READ), [{"contact_id": contact_id, "read_id": 0, "read_at": now}]
    )
    await conn.execute(
        INBOX_READ.update()
        .where(INBOX_READ.c.contact_id == contact_id, INBOX_READ.c.read_id < newest)
        .values(read_id=newest, read_at=now)
    )
