"""The business numbers a deployment serves: the `phone_number` table, written from numbers.yaml and the API.

Every process reads the whole table (a deployment has a handful of numbers, a thousand at most), so
each sender keeps every number within its own limit and the webhook knows which numbers it serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_ignoring_conflicts
from storage.models import PHONE_NUMBER, PhoneNumberBase

# What the file and the settings own of a number; `quality` (and later the tier) Meta's webhooks write.
CONFIGURED = ("display_number", "account_id", "token_env", "throughput", "tier", "main_flow")


async def all_numbers(conn: AsyncConnection) -> list[PhoneNumberBase]:
    """Every number, oldest first (the order numbers.yaml listed them in, then the API's)."""
    stmt = select(PHONE_NUMBER).order_by(PHONE_NUMBER.c.created_at, PHONE_NUMBER.c.id)
    return [PhoneNumberBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def list_numbers(conn: AsyncConnection, *, limit: int, after: str | None = None) -> list[PhoneNumberBase]:
    """A page of numbers by id: at most `limit`, with ids after `after` when given."""
    stmt = select(PHONE_NUMBER).order_by(PHONE_NUMBER.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(PHONE_NUMBER.c.id > after)
    return [PhoneNumberBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def number_by_id(conn: AsyncConnection, number_id: str) -> PhoneNumberBase | None:
    row = (await conn.execute(select(PHONE_NUMBER).where(PHONE_NUMBER.c.id == number_id))).first()
    return PhoneNumberBase.model_validate(row._mapping) if row else None


async def add_number(conn: AsyncConnection, values: dict[str, Any], now: datetime) -> PhoneNumberBase | None:
    """Store a new number; None when its id is already served."""
    row = {**values, "source": "api", "created_at": now, "updated_at": now}
    stmt = insert_ignoring_conflicts(conn, PHONE_NUMBER, "id").values(**row).returning(*PHONE_NUMBER.c)
    added = (await conn.execute(stmt)).first()
    return PhoneNumberBase.model_validate(added._mapping) if added else None


async def change_number(
    conn: AsyncConnection, number_id: str, values: dict[str, Any], now: datetime
) -> PhoneNumberBase | None:
    """Change some of a number's values; None for an unknown id."""
    if values:
        stmt = update(PHONE_NUMBER).where(PHONE_NUMBER.c.id == number_id).values(**values, updated_at=now)
        await conn.execute(stmt)
    return await number_by_id(conn, number_id)


async def put_numbers(conn: AsyncConnection, rows: Sequence[dict[str, Any]], source: str, now: datetime) -> None:
    """Write configured numbers (from the file or the settings): new ones added, known ones given these values."""
    known = {n.id for n in await all_numbers(conn)}
    for row in rows:
        values = {key: row[key] for key in CONFIGURED}
        if row["id"] in known:
            stmt = update(PHONE_NUMBER).where(PHONE_NUMBER.c.id == row["id"])
            await conn.execute(stmt.values(**values, source=source, updated_at=now))
        else:
            insert = PHONE_NUMBER.insert().values(id=row["id"], **values, source=source, created_at=now)
            await conn.execute(insert.values(updated_at=now))
