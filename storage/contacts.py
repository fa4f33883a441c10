"""Contacts as the business manages them: create or update many at once, find them by tag or text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import among, insert_ignoring_conflicts
from storage.models import CONTACT, ContactBase

CHUNK = 500  # numbers a round of statements: bounds each INSERT's rows and what one round holds


@dataclass(frozen=True)
class ContactValues:
    """What the business says about a contact; None keeps what is stored, tags are added to the stored ones."""

    wa_id: str
    name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upserted:
    contact_id: int
    created: bool


async def upsert_contacts(
    conn: AsyncConnection, contacts: Sequence[ContactValues], now: datetime
) -> dict[str, Upserted]:
    """Create the unknown numbers and update the known ones, a chunk per statement; wa_id → row id."""
    done: dict[str, Upserted] = {}
    for start in range(0, len(contacts), CHUNK):
        chunk = contacts[start : start + CHUNK]
        existing = await _existing(conn, [c.wa_id for c in chunk])
        new = [c for c in chunk if c.wa_id not in existing]
        if new:
            rows = [
                {"wa_id": c.wa_id, "name": c.name, "language": c.language, "time_zone": c.time_zone,
                 "tags": list(c.tags) or None, "created_at": now, "updated_at": now}
                for c in new
            ]  # fmt: skip
            await conn.execute(insert_ignoring_conflicts(conn, CONTACT, "wa_id"), rows)
        updates = [_update(c, existing[c.wa_id], now) for c in chunk if c.wa_id in existing]
        if updates:
            await conn.execute(update(CONTACT).where(CONTACT.c.id == bindparam("cid")), updates)
        ids = await _ids(conn, [c.wa_id for c in new]) if new else {}
        done.update({c.wa_id: Upserted(ids[c.wa_id], True) for c in new if c.wa_id in ids})
        done.update({c.wa_id: Upserted(existing[c.wa_id].id, False) for c in chunk if c.wa_id in existing})
    return done


async def ensure_contacts(conn: AsyncConnection, wa_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """The ids of the contacts with these numbers, the missing ones created (with nothing else known); wa_id → id.

    A few statements a chunk, whatever the count: the known numbers are read, the others inserted in one
    executemany (in number order, so two batches that share numbers take their rows' locks in the same
    order on PostgreSQL and cannot deadlock), and read back.
    """
    ids: dict[str, int] = {}
    numbers = sorted(set(wa_ids))
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start : start + CHUNK]
        ids.update(await _ids(conn, chunk))
        missing = [wa_id for wa_id in chunk if wa_id not in ids]
        if missing:
            rows = [{"wa_id": wa_id, "created_at": now, "updated_at": now} for wa_id in missing]
            await conn.execute(insert_ignoring_conflicts(conn, CONTACT, "wa_id"), rows)
            ids.update(await _ids(conn, missing))
    return ids


async def _ids(conn: AsyncConnection, wa_ids: list[str]) -> dict[str, int]:
    """The row ids of these numbers: two columns, not the whole row (its JSON tags cost the most to read)."""
    rows = await conn.execute(select(CONTACT.c.wa_id, CONTACT.c.id).where(among(CONTACT.c.wa_id, wa_ids)))
    return {wa_id: int(contact_id) for wa_id, contact_id in rows}


async def _existing(conn: AsyncConnection, wa_ids: list[str]) -> dict[str, Any]:
    columns = [CONTACT.c[n] for n in ("id", "wa_id", "name", "language", "time_zone", "tags")]
    rows = await conn.execute(select(*columns).where(among(CONTACT.c.wa_id, wa_ids)))
    return {row.wa_id: row for row in rows}


def _update(values: ContactValues, row: Any, now: datetime) -> dict[str, Any]:
    tags = list(dict.fromkeys([*(row.tags or []), *values.tags]))
    return {
        "cid": row.id, "name": values.name or row.name, "language": values.language or row.language,
        "time_zone": values.time_zone or row.time_zone, "tags": tags or None, "updated_at": now,
    }  # fmt: skip


async def edit_contact(
    conn: AsyncConnection,
    contact_id: int,
    *,
    name: str | None,
    language: str | None,
    time_zone: str,
    tags: Sequence[str],
    now: datetime,
) -> None:
    """Set a contact's name, language, time zone and tags to these, as a person edited them (None clears)."""
    values = {"name": name, "language": language, "time_zone": time_zone, "tags": list(tags) or None}
    await conn.execute(update(CONTACT).where(CONTACT.c.id == contact_id).values(**values, updated_at=now))


async def find_contacts(
    conn: AsyncConnection, *, text: str | None, tag: str | None, limit: int, before: int | None
) -> list[ContactBase]:
    """Contacts newest first, by part of the name or number, and by tag (matched in Python: tags are JSON)."""
    stmt = select(CONTACT).where(CONTACT.c.erased_at.is_(None)).order_by(CONTACT.c.id.desc())  # no tombstones
    if text:
        needle = text.lower()  # autoescape: a % or _ typed is that character, not a LIKE wildcard
        name, number = func.lower(CONTACT.c.name), CONTACT.c.wa_id
        stmt = stmt.where(or_(name.contains(needle, autoescape=True), number.contains(needle, autoescape=True)))
    if before is not None:
        stmt = stmt.where(CONTACT.c.id < before)
    found: list[ContactBase] = []
    # Tags live in a JSON list, which the two databases query differently; scan in pages instead.
    async for page in _pages(conn, stmt, limit if tag is None else max(limit, 500)):
        found += [c for c in page if tag is None or tag in (c.tags or [])]
        if len(found) >= limit:
            break
    return found[:limit]


async def _pages(conn: AsyncConnection, stmt: Any, size: int) -> Any:
    last: int | None = None
    while True:
        page_stmt = stmt.limit(size) if last is None else stmt.where(CONTACT.c.id < last).limit(size)
        rows = [ContactBase.model_validate(r._mapping) for r in await conn.execute(page_stmt)]
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1].id
