"""One-time code challenges: the recent ones for a (number, purpose), new ones, and their spent tries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import insert_ignoring_conflicts
from storage.models import CONTACT, OTP_CHALLENGE, OtpChallengeBase


async def recent_challenges(
    conn: AsyncConnection, *, wa_id: str, purpose: str, since: datetime
) -> list[OtpChallengeBase]:
    """The challenges issued to `wa_id` for `purpose` after `since`, oldest first."""
    rows = await conn.execute(
        select(OTP_CHALLENGE)
        .where(OTP_CHALLENGE.c.wa_id == wa_id, OTP_CHALLENGE.c.purpose == purpose, OTP_CHALLENGE.c.created_at > since)
        .order_by(OTP_CHALLENGE.c.created_at, OTP_CHALLENGE.c.id)
    )
    return [OtpChallengeBase.model_validate(row._mapping) for row in rows]


async def add_challenge(conn: AsyncConnection, challenge: OtpChallengeBase) -> int:
    """Store a new challenge (its digest, never the code) and return its id."""
    values: dict[str, Any] = challenge.model_dump(exclude={"id"})
    result = await conn.execute(insert(OTP_CHALLENGE).values(**values).returning(OTP_CHALLENGE.c.id))
    return int(result.scalar_one())


async def record_attempt(conn: AsyncConnection, challenge_id: int, *, attempts: int, used_at: datetime | None) -> None:
    """Persist what a verify attempt changed: the wrong-try count and, on success, when it was used."""
    stmt = update(OTP_CHALLENGE).where(OTP_CHALLENGE.c.id == challenge_id).values(attempts=attempts, used_at=used_at)
    row = (await conn.execute(stmt.returning(OTP_CHALLENGE.c.wa_id, OTP_CHALLENGE.c.purpose))).one()
    if used_at is not None and await events.wanted(conn, "otp.verified"):
        # The number and the purpose, never the code (only its digest is stored anyway).
        contact = (await conn.execute(select(CONTACT.c.id).where(CONTACT.c.wa_id == row[0]))).scalar()
        data = {"wa_id": row[0], "purpose": row[1], "verified_at": used_at.isoformat()}
        await events.emit(conn, [events.Event("otp.verified", data, contact, used_at)])


async def ensure_contact(conn: AsyncConnection, wa_id: str, now: datetime) -> int:
    """The id of the contact with this number, created (with nothing else known) when missing."""
    await conn.execute(insert_ignoring_conflicts(conn, CONTACT).values(wa_id=wa_id, created_at=now, updated_at=now))
    result = await conn.execute(select(CONTACT.c.id).where(CONTACT.c.wa_id == wa_id))
    return int(result.scalar_one())
