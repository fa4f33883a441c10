"""Who may use the admin doors: wrong admin tokens counted per client, and the dashboard sessions not ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import DASHBOARD_SESSION, WRONG_TOKEN


async def latest_wrong_tokens(conn: AsyncConnection, client: str, *, since: datetime, limit: int) -> list[datetime]:
    """When `client`'s latest wrong tokens after `since` came, newest first, at most `limit` of them."""
    rows = await conn.execute(
        select(WRONG_TOKEN.c.at)
        .where(WRONG_TOKEN.c.client == client, WRONG_TOKEN.c.at > since)
        .order_by(WRONG_TOKEN.c.at.desc())
        .limit(limit)
    )
    return [row.at for row in rows]


async def add_wrong_token(conn: AsyncConnection, client: str, *, at: datetime, since: datetime) -> int:
    """Record a wrong token; forget every client's older than `since`; answer `client`'s count after `since`."""
    await conn.execute(delete(WRONG_TOKEN).where(WRONG_TOKEN.c.at <= since))
    await conn.execute(insert(WRONG_TOKEN).values(client=client, at=at))
    counted = select(func.count()).where(WRONG_TOKEN.c.client == client, WRONG_TOKEN.c.at > since)
    return int((await conn.execute(counted)).scalar_one())


async def open_session(conn: AsyncConnection, digest: str, *, expires_at: datetime, now: datetime) -> None:
    """Store a new dashboard session, and forget the ones that have expired."""
    await conn.execute(delete(DASHBOARD_SESSION).where(DASHBOARD_SESSION.c.expires_at <= now))
    await conn.execute(insert(DASHBOARD_SESSION).values(digest=digest, expires_at=expires_at))


async def session_is_open(conn: AsyncConnection, digest: str, *, now: datetime) -> bool:
    """Whether the session is stored and not past its expiry."""
    found = await conn.execute(
        select(DASHBOARD_SESSION.c.digest).where(
            DASHBOARD_SESSION.c.digest == digest, DASHBOARD_SESSION.c.expires_at > now
        )
    )
    return found.first() is not None


async def end_session(conn: AsyncConnection, digest: str) -> None:
    """Logout: the session's row goes, so its cookie is refused from now on, by every process."""
    await conn.execute(delete(DASHBOARD_SESSION).where(DASHBOARD_SESSION.c.digest == digest))
