"""Which senders are running: each one says so every few seconds, and reads which others did lately.

Beats are serialised. Two first beats in concurrent transactions would each insert a row and count the
senders alive before the other had committed, so each would see itself alone and take the whole limit
(READ COMMITTED hides the other's uncommitted row; it did, in 2 starts out of 11 on PostgreSQL). So on
PostgreSQL a beat first takes one transaction-level advisory lock and counts only once it holds it: of
two beats, the later one sees the earlier one's row. On SQLite `BEGIN IMMEDIATE` already lets one
writer in at a time, across processes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_ignoring_conflicts
from storage.models import SENDER_PRESENCE

_BEAT_LOCK_NAMESPACE = 7304  # pg_advisory_xact_lock(namespace, 0): one presence beat at a time


@dataclass(frozen=True)
class Presence:
    """The senders alive at a beat (the beating one included), each with the moment it last beat."""

    seen: Mapping[str, datetime]

    @property
    def alive(self) -> int:
        return len(self.seen)


async def beat(conn: AsyncConnection, owner: str, now: datetime, alive_for: timedelta) -> Presence:
    """Mark `owner` alive now and answer which senders are alive (seen within `alive_for`), itself included.

    Every beat before this one has committed when it counts, so whoever beats after this one commits
    sees `owner` too.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": _BEAT_LOCK_NAMESPACE})
    seen = await conn.execute(update(SENDER_PRESENCE).where(SENDER_PRESENCE.c.owner == owner).values(seen_at=now))
    if seen.rowcount == 0:
        await conn.execute(insert_ignoring_conflicts(conn, SENDER_PRESENCE).values(owner=owner, seen_at=now))
    await conn.execute(delete(SENDER_PRESENCE).where(SENDER_PRESENCE.c.seen_at < now - alive_for * 10))
    alive = select(SENDER_PRESENCE.c.owner, SENDER_PRESENCE.c.seen_at).where(
        SENDER_PRESENCE.c.seen_at >= now - alive_for
    )
    return Presence({row.owner: row.seen_at for row in await conn.execute(alive)})


async def leave(conn: AsyncConnection, owner: str) -> None:
    """`owner` stops: the others may take its share, a window after they see it gone."""
    await conn.execute(delete(SENDER_PRESENCE).where(SENDER_PRESENCE.c.owner == owner))
