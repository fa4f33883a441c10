"""Recurring schedules and their runs: stored, listed, claimed when due, and advanced after each run.

Every function takes the caller's connection, so a run's row, the messages it queues and the schedule's
next due time are written in one transaction. A run is unique per (schedule, scheduled_for): whatever
else goes wrong, two instances never both run the same occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.contacts import ensure_contacts
from storage.dialect import insert_ignoring_conflicts
from storage.models import OUTBOX, SCHEDULE, SCHEDULE_RUN, ScheduleBase, ScheduleRunBase


async def add_schedule(conn: AsyncConnection, schedule: ScheduleBase) -> ScheduleBase | None:
    """Store a new schedule; None when its name is already taken."""
    values: dict[str, Any] = schedule.model_dump(exclude={"id"})
    stmt = insert_ignoring_conflicts(conn, SCHEDULE, "name").values(**values).returning(*SCHEDULE.c)
    row = (await conn.execute(stmt)).first()
    return ScheduleBase.model_validate(row._mapping) if row else None


async def list_schedules(conn: AsyncConnection, *, limit: int, before: int | None = None) -> list[ScheduleBase]:
    """A page of schedules, newest first: at most `limit`, with ids below `before` when given."""
    stmt = select(SCHEDULE).order_by(SCHEDULE.c.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(SCHEDULE.c.id < before)
    rows = await conn.execute(stmt)
    return [ScheduleBase.model_validate(row._mapping) for row in rows]


async def schedule_by_id(conn: AsyncConnection, schedule_id: int) -> ScheduleBase | None:
    row = (await conn.execute(select(SCHEDULE).where(SCHEDULE.c.id == schedule_id))).first()
    return ScheduleBase.model_validate(row._mapping) if row else None


async def recent_runs(conn: AsyncConnection, schedule_id: int, limit: int = 20) -> list[ScheduleRunBase]:
    """The schedule's latest runs, newest first."""
    stmt = (
        select(SCHEDULE_RUN)
        .where(SCHEDULE_RUN.c.schedule_id == schedule_id)
        .order_by(SCHEDULE_RUN.c.scheduled_for.desc(), SCHEDULE_RUN.c.id.desc())
        .limit(limit)
    )
    return [ScheduleRunBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def name_is_free(conn: AsyncConnection, name: str, schedule_id: int) -> bool:
    """No other schedule has this name."""
    stmt = select(SCHEDULE.c.id).where(SCHEDULE.c.name == name, SCHEDULE.c.id != schedule_id)
    return (await conn.execute(stmt)).first() is None


async def change(conn: AsyncConnection, schedule_id: int, values: dict[str, Any]) -> ScheduleBase:
    """Set these columns of a schedule the caller found in this transaction; the schedule as it is now."""
    await conn.execute(update(SCHEDULE).where(SCHEDULE.c.id == schedule_id).values(**values))
    found = await schedule_by_id(conn, schedule_id)
    assert found is not None
    return found


async def remove(conn: AsyncConnection, schedule_id: int, now: datetime) -> int:
    """Delete a schedule and its runs, cancelling its messages still queued; returns how many were cancelled."""
    cancel = (
        update(OUTBOX)
        .where(OUTBOX.c.subject == f"schedule:{schedule_id}", OUTBOX.c.status.in_(("queued", "paused")))
        .values(status="cancelled", updated_at=now)
    )
    cancelled = (await conn.execute(cancel)).rowcount
    await conn.execute(delete(SCHEDULE_RUN).where(SCHEDULE_RUN.c.schedule_id == schedule_id))
    await conn.execute(delete(SCHEDULE).where(SCHEDULE.c.id == schedule_id))
    return int(cancelled or 0)


async def deactivate(conn: AsyncConnection, schedule_id: int, now: datetime) -> ScheduleBase | None:
    """Stop a schedule (it keeps its history); doing it again changes nothing. None for an unknown id."""
    stmt = (
        update(SCHEDULE)
        .where(SCHEDULE.c.id == schedule_id, SCHEDULE.c.active.is_(True))
        .values(active=False, next_run_at=None, updated_at=now)
    )
    await conn.execute(stmt)
    return await schedule_by_id(conn, schedule_id)


async def due_schedules(conn: AsyncConnection, now: datetime, limit: int) -> list[ScheduleBase]:
    """Active schedules due by `now`, earliest first, locked for this transaction.

    `FOR UPDATE SKIP LOCKED` lets several schedulers share the table on PostgreSQL: each takes schedules
    the others are not running. SQLAlchemy leaves the clause out on SQLite, whose `BEGIN IMMEDIATE`
    already gives one writer at a time.
    """
    stmt = (
        select(SCHEDULE)
        .where(SCHEDULE.c.active.is_(True), SCHEDULE.c.next_run_at <= now)
        .order_by(SCHEDULE.c.next_run_at, SCHEDULE.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [ScheduleBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    """When the earliest active schedule is next due; None when none is."""
    stmt = select(func.min(SCHEDULE.c.next_run_at)).where(SCHEDULE.c.active.is_(True))
    due: datetime | None = (await conn.execute(stmt)).scalar()
    return due


async def record_run(
    conn: AsyncConnection, schedule_id: int, scheduled_for: datetime, queued: int, now: datetime
) -> bool:
    """Record a run of the schedule for `scheduled_for`; False when that run was already recorded."""
    stmt = (
        insert_ignoring_conflicts(conn, SCHEDULE_RUN, "schedule_id", "scheduled_for")
        .values(schedule_id=schedule_id, scheduled_for=scheduled_for, queued=queued, created_at=now)
        .returning(SCHEDULE_RUN.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def recipients(conn: AsyncConnection, wa_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """The contact id of each number a run goes to, creating the contacts not known yet.

    A few statements for the whole list, not two per number (`storage.contacts.ensure_contacts`): on
    SQLite the run holds the one write lock the webhook needs too, so a run to a thousand numbers must
    not take it for long.
    """
    return await ensure_contacts(conn, wa_ids, now)


async def advance(
    conn: AsyncConnection, schedule_id: int, next_run_at: datetime, last_run_at: datetime | None, now: datetime
) -> None:
    """Set when the schedule is next due and, after a run, which occurrence ran last."""
    values: dict[str, Any] = {"next_run_at": next_run_at, "updated_at": now}
    if last_run_at is not None:
        values["last_run_at"] = last_run_at
    await conn.execute(update(SCHEDULE).where(SCHEDULE.c.id == schedule_id).values(**values))
