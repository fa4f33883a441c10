"""Which senders are running: each one says so every few seconds, and counts the others that did lately."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_ignoring_conflicts
from storage.models import SENDER_PRESENCE


async def beat(conn: AsyncConnection, owner: str, now: datetime, alive_for: timedelta) -> int:
    """Mark `owner` alive now and answer how many senders are alive (seen within `alive_for`), itself included."""
    seen = await conn.execute(update(SENDER_PRESENCE).where(SENDER_PRESENCE.c.owner == owner).values(seen_at=now))
    if seen.rowcount == 0:
        await conn.execute(insert_ignoring_conflicts(conn, SENDER_PRESENCE).values(owner=owner, seen_at=now))
    await conn.execute(delete(SENDER_PRESENCE).where(SENDER_PRESENCE.c.seen_at < now - alive_for * 10))
    alive = select(func.count()).where(SENDER_PRESENCE.c.seen_at >= now - alive_for)
    return int((await conn.execute(alive)).scalar_one())


async def leave(conn: AsyncConnection, owner: str) -> None:
    """`owner` stops: the others may take its share at their next beat."""
    await conn.execute(delete(SENDER_PRESENCE).where(SENDER_PRESENCE.c.owner == owner))
