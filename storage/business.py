"""The business's own data (orders, appointments, accounts) and the queued messages that follow it.

Every function takes the caller's connection, so a data change and the utility message it causes are
written in one transaction: either both happen or neither does. Reads meant for a change lock the row on
PostgreSQL (`FOR UPDATE`); SQLite's `BEGIN IMMEDIATE` already serialises writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import among, insert_ignoring_conflicts
from storage.models import (
    ACCOUNT,
    APPOINTMENT,
    CONTACT,
    ORDER,
    OUTBOX,
    AccountBase,
    AppointmentBase,
    ContactBase,
    OrderBase,
)
from storage.otp import ensure_contact

_BOOKING_LOCK_NAMESPACE = 7303  # pg_advisory_xact_lock(namespace, 0): one booking check-and-insert at a time
LONGEST_APPOINTMENT = timedelta(days=1)  # the API's limit on duration_minutes; bounds the overlap search

__all__ = [
    "account_for",
    "add_appointment",
    "add_order",
    "appointment_by_id",
    "appointments_for",
    "appointments_page",
    "booked_between",
    "cancel_queued",
    "contact_by_id",
    "customer",
    "ensure_contact",
    "lock_bookings",
    "move_queued",
    "order_by_number",
    "orders_for",
    "save_account",
    "update_appointment",
    "update_order",
]


async def contact_by_id(conn: AsyncConnection, contact_id: int) -> ContactBase:
    row = (await conn.execute(select(CONTACT).where(CONTACT.c.id == contact_id))).one()
    return ContactBase.model_validate(row._mapping)


async def customer(conn: AsyncConnection, wa_id: str, name: str | None, now: datetime) -> ContactBase:
    """The contact with this number, created when missing, and given `name` when it has none.

    Every business route starts with it, so it reads the whole row once rather than an id and then the row.
    """
    await conn.execute(
        insert_ignoring_conflicts(conn, CONTACT, "wa_id").values(wa_id=wa_id, created_at=now, updated_at=now)
    )
    if name:
        await conn.execute(
            update(CONTACT).where(CONTACT.c.wa_id == wa_id, CONTACT.c.name.is_(None)).values(name=name, updated_at=now)
        )
    row = (await conn.execute(select(CONTACT).where(CONTACT.c.wa_id == wa_id))).one()
    return ContactBase.model_validate(row._mapping)


# -- orders --------------------------------------------------------------------------------------------


async def add_order(conn: AsyncConnection, order: OrderBase) -> OrderBase:
    """Store a new order; the caller checked that its number is free."""
    values: dict[str, Any] = order.model_dump(exclude={"id"})
    row = (await conn.execute(insert(ORDER).values(**values).returning(*ORDER.c))).one()
    stored = OrderBase.model_validate(row._mapping)
    await _tell(conn, "order.changed", stored, "created")
    return stored


async def order_by_number(conn: AsyncConnection, number: str, *, for_update: bool = False) -> OrderBase | None:
    stmt = select(ORDER).where(ORDER.c.number == number)
    row = (await conn.execute(stmt.with_for_update() if for_update else stmt)).first()
    return OrderBase.model_validate(row._mapping) if row else None


async def orders_for(conn: AsyncConnection, contact_id: int, *, limit: int) -> list[OrderBase]:
    """The contact's latest orders, newest first."""
    stmt = (
        select(ORDER)
        .where(ORDER.c.contact_id == contact_id)
        .order_by(ORDER.c.created_at.desc(), ORDER.c.id.desc())
        .limit(limit)
    )
    return [OrderBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def update_order(conn: AsyncConnection, order_id: int, changes: dict[str, Any]) -> OrderBase:
    stmt = update(ORDER).where(ORDER.c.id == order_id).values(**changes).returning(*ORDER.c)
    stored = OrderBase.model_validate((await conn.execute(stmt)).one()._mapping)
    await _tell(conn, "order.changed", stored, "updated")
    return stored


async def _tell(conn: AsyncConnection, event_type: str, row: OrderBase | AppointmentBase, change: str) -> None:
    """An `order.changed` or `appointment.changed` event with the row as it now is."""
    data = {"change": change, **row.model_dump(mode="json", exclude={"contact_id"})}
    await events.emit(conn, [events.Event(event_type, data, row.contact_id, row.updated_at)])


# -- appointments --------------------------------------------------------------------------------------


async def add_appointment(conn: AsyncConnection, appointment: AppointmentBase) -> AppointmentBase:
    values: dict[str, Any] = appointment.model_dump(exclude={"id"})
    row = (await conn.execute(insert(APPOINTMENT).values(**values).returning(*APPOINTMENT.c))).one()
    stored = AppointmentBase.model_validate(row._mapping)
    await _tell(conn, "appointment.changed", stored, "created")
    return stored


async def appointment_by_id(
    conn: AsyncConnection, appointment_id: int, *, for_update: bool = False
) -> AppointmentBase | None:
    stmt = select(APPOINTMENT).where(APPOINTMENT.c.id == appointment_id)
    row = (await conn.execute(stmt.with_for_update() if for_update else stmt)).first()
    return AppointmentBase.model_validate(row._mapping) if row else None


async def has_appointment_at(conn: AsyncConnection, contact_id: int, starts_at: datetime) -> bool:
    """Whether the contact already has an appointment starting at `starts_at`."""
    stmt = select(APPOINTMENT.c.id).where(APPOINTMENT.c.contact_id == contact_id, APPOINTMENT.c.starts_at == starts_at)
    return (await conn.execute(stmt)).first() is not None


async def update_appointment(conn: AsyncConnection, appointment_id: int, changes: dict[str, Any]) -> AppointmentBase:
    stmt = update(APPOINTMENT).where(APPOINTMENT.c.id == appointment_id).values(**changes).returning(*APPOINTMENT.c)
    stored = AppointmentBase.model_validate((await conn.execute(stmt)).one()._mapping)
    await _tell(conn, "appointment.changed", stored, "updated")
    return stored


async def appointments_for(conn: AsyncConnection, wa_id: str) -> list[AppointmentBase]:
    """The contact's appointments, soonest first."""
    stmt = (
        select(APPOINTMENT)
        .join(CONTACT, CONTACT.c.id == APPOINTMENT.c.contact_id)
        .where(CONTACT.c.wa_id == wa_id)
        .order_by(APPOINTMENT.c.starts_at, APPOINTMENT.c.id)
    )
    return [AppointmentBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def appointments_page(
    conn: AsyncConnection, wa_id: str, *, limit: int, before: int | None = None
) -> list[AppointmentBase]:
    """A page of the contact's appointments, newest booked first: at most `limit`, ids below `before` if given."""
    stmt = (
        select(APPOINTMENT)
        .join(CONTACT, CONTACT.c.id == APPOINTMENT.c.contact_id)
        .where(CONTACT.c.wa_id == wa_id)
        .order_by(APPOINTMENT.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(APPOINTMENT.c.id < before)
    return [AppointmentBase.model_validate(row._mapping) for row in await conn.execute(stmt)]


async def booked_between(conn: AsyncConnection, start: datetime, end: datetime) -> list[AppointmentBase]:
    """Every booked appointment, whoever's, that overlaps [`start`, `end`), soonest first."""
    stmt = (
        select(APPOINTMENT)
        .where(
            APPOINTMENT.c.status == "booked",
            APPOINTMENT.c.starts_at < end,
            APPOINTMENT.c.starts_at > start - LONGEST_APPOINTMENT,
        )
        .order_by(APPOINTMENT.c.starts_at, APPOINTMENT.c.id)
    )
    found = [AppointmentBase.model_validate(row._mapping) for row in await conn.execute(stmt)]
    return [a for a in found if a.starts_at + timedelta(minutes=a.duration_minutes) > start]


async def lock_bookings(conn: AsyncConnection) -> None:
    """Hold the booking lock for the rest of `conn`'s transaction, so a free-slot check and its booking are one step.

    Two customers' turns in different processes could otherwise both find a slot free and both book it.
    On PostgreSQL this is a transaction-scoped advisory lock; on SQLite `BEGIN IMMEDIATE` already
    serialises writers, so it is a no-op.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": _BOOKING_LOCK_NAMESPACE})


# -- accounts ------------------------------------------------------------------------------------------


async def account_for(conn: AsyncConnection, contact_id: int) -> AccountBase | None:
    stmt = select(ACCOUNT).where(ACCOUNT.c.contact_id == contact_id).with_for_update()
    row = (await conn.execute(stmt)).first()
    return AccountBase.model_validate(row._mapping) if row else None


async def save_account(conn: AsyncConnection, account: AccountBase) -> AccountBase:
    """Insert the account, or update it in place when it has an id."""
    values: dict[str, Any] = account.model_dump(exclude={"id"})
    if account.id is None:
        stmt: Any = insert(ACCOUNT).values(**values).returning(*ACCOUNT.c)
    else:
        stmt = update(ACCOUNT).where(ACCOUNT.c.id == account.id).values(**values).returning(*ACCOUNT.c)
    return AccountBase.model_validate((await conn.execute(stmt)).one()._mapping)


# -- queued messages -----------------------------------------------------------------------------------


async def move_queued(
    conn: AsyncConnection, keys: Sequence[str], *, due_at: datetime, payload: dict[str, Any], now: datetime
) -> str | None:
    """Give the message under one of `keys` that is still queued a new due time and body; answers its key.

    None when none is queued: it already left, or never was.
    """
    stmt = (
        update(OUTBOX)
        .where(among(OUTBOX.c.idempotency_key, keys), OUTBOX.c.status == "queued")
        .values(due_at=due_at, payload=payload, updated_at=now)
        .returning(OUTBOX.c.idempotency_key)
    )
    key = (await conn.execute(stmt)).scalar()
    return None if key is None else str(key)


async def cancel_queued(conn: AsyncConnection, keys: Sequence[str], now: datetime) -> bool:
    """Mark the messages under `keys` that are still queued `cancelled`, so no sender claims them.

    False when none was queued.
    """
    stmt = (
        update(OUTBOX)
        .where(among(OUTBOX.c.idempotency_key, keys), OUTBOX.c.status == "queued")
        .values(status="cancelled", updated_at=now)
        .returning(OUTBOX.c.id)
    )
    return (await conn.execute(stmt)).first() is not None
