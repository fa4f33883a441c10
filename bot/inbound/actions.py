"""Named async actions that flows' `act` steps call: the business's data for the contact in the turn.

Each action gets the turn's context (its transaction, the contact, the clock) and the step's rendered
arguments, and returns JSON-like data that lands in a slot. Actions only ever see the contact whose turn
it is: an order number typed by one customer never shows another customer's order, and an appointment
id never cancels another customer's appointment. Bookings are written in the turn's transaction, each
with its reminder inside a savepoint: an action that fails half-way leaves nothing behind, and the
turn goes on to the step's `on_error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine import business_hours as hours
from bot.engine.flow import BUTTON_TITLE
from bot.errors import ConfigError, Conflict, NotFound, ValidationError
from bot.field import row_id
from bot.language.reader import Reader
from bot.message_templates.library import TemplateLibrary
from bot.notifications.service import AppointmentChange, AppointmentNotices
from storage import business
from storage.models import AppointmentBase, ContactBase, OrderBase

log = structlog.get_logger("bot.inbound.actions")

BUSINESS_FILE = Path("flows/data/business.yaml")
TEMPLATES = Path("templates")
TAKEN = "that time is no longer free"  # appointments.book and .reschedule fail with this when it was taken


@dataclass(frozen=True)
class ActionContext:
    """One turn as actions see it; `notices` is the app's appointment logic (its templates, its reminder lead).

    Without `notices` the appointment actions use the templates in `templates/` and the default lead.
    """

    conn: AsyncConnection
    contact: ContactBase
    now: datetime
    zone: ZoneInfo
    notices: AppointmentNotices | None = None

    @property
    def reader(self) -> Reader:
        """Dates, times and amounts for this contact: their language, on their clock."""
        contact = self.contact
        return Reader.of(contact.language, contact.time_zone, contact.wa_id, self.zone)


Action = Callable[[ActionContext, Mapping[str, str]], Awaitable[Any]]
RECENT_ORDERS = 10


def _order(order: OrderBase, reader: Reader) -> dict[str, Any]:
    """An order as flows show it: its fields, plus the dates and amounts already written for people."""
    shown: dict[str, Any] = {
        "number": order.number,
        "status": order.status,
        "total": reader.amount(order.total, order.currency) if order.total and order.currency else None,
        "tracking_number": order.tracking_number,
        "delay_reason": order.delay_reason,
        "delivery_date": reader.date(order.delivery_start) if order.delivery_start else None,
        "window_start": reader.time(order.delivery_start, place=False) if order.delivery_start else None,
        "window_end": reader.time(order.delivery_end) if order.delivery_end else None,
    }
    return shown


async def lookup_order(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any] | None:
    """The contact's own order with this number, or None (also when it is someone else's)."""
    number = (args.get("number") or "").strip().lstrip("#")
    order = await business.order_by_number(ctx.conn, number) if number else None
    if order is None or order.contact_id != ctx.contact.id:
        return None
    return _order(order, ctx.reader)


async def recent_orders(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The contact's latest orders as choices: `{id: number, title, description: status}`, newest first."""
    assert ctx.contact.id is not None
    orders = await business.orders_for(ctx.conn, ctx.contact.id, limit=RECENT_ORDERS)
    return [{"id": o.number, "title": f"Order {o.number}", "description": o.status.capitalize()} for o in orders]


async def account_balance(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any] | None:
    """The contact's account: its balance for people, and whether it is below the alert threshold."""
    assert ctx.contact.id is not None
    account = await business.account_for(ctx.conn, ctx.contact.id)
    if account is None:
        return None
    low = False
    try:
        low = account.low_threshold is not None and Decimal(account.balance) < Decimal(account.low_threshold)
    except InvalidOperation:
        low = False
    return {"name": account.name, "balance": ctx.reader.amount(account.balance, account.currency), "low": low}


async def upcoming_appointments(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The contact's booked appointments still ahead, soonest first, as choices: `{id, title, description}`.

    Each also has `service`, `day`, `time` and `location` for texts. Titles fit a reply button and are
    distinct (the service, or the day and time when two share one), since three or fewer are buttons.
    """
    if ctx.contact.wa_id is None:
        return []
    booked = [
        a
        for a in await business.appointments_for(ctx.conn, ctx.contact.wa_id)
        if a.status == "booked" and a.starts_at > ctx.now
    ]
    services = [_fit(a.service, BUTTON_TITLE) for a in booked]
    reader = ctx.reader
    titles = services if len(set(services)) == len(services) else [_when(a, reader) for a in booked]
    return [
        {
            "id": str(a.id),
            "title": title,
            "description": f"{reader.date_time(a.starts_at)}, {a.location}"[:72],
            **_shown(a, reader),
        }
        for a, title in zip(booked, titles, strict=True)
    ]


# -- booking -------------------------------------------------------------------------------------------


class BusinessFile:
    """The business file (hours, services, booking rules), read once per process when an action first needs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._business: hours.Business | None = None
        self._chosen = False  # a file chosen with `use` (tests, a reload) that apps' `follow` leaves alone

    def business(self) -> hours.Business:
        """The business; a missing or broken file is a `ConfigError` (logged), tried again on the next call."""
        if self._business is None:
            try:
                self._business = hours.load_business(self.path)
            except ConfigError as exc:
                log.error("business_file.invalid", path=str(self.path), problems=exc.message)
                raise
        return self._business

    def use(self, path: Path) -> None:
        """Read `path` instead from now on (tests, a reload); choosing the default file again lets apps choose."""
        self.path, self._business = path, None
        self._chosen = path != BUSINESS_FILE

    def follow(self, path: Path) -> None:
        """An app over these flows: read their business file, unless one was chosen with `use`."""
        if not self._chosen and path != self.path:
            self.path, self._business = path, None


BUSINESS = BusinessFile(BUSINESS_FILE)


@cache
def _templates(root: Path) -> TemplateLibrary:
    return TemplateLibrary.load(root)


def _notices(ctx: ActionContext) -> AppointmentNotices:
    return ctx.notices or AppointmentNotices(_templates(TEMPLATES), ctx.zone)


async def list_services(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The services as choices: `{id, title, description}` (how long, where), plus `location` and `minutes`."""
    return [
        {
            "id": s.id,
            "title": s.title,
            "description": f"{_minutes(s.duration)} min, {s.location}"[:72],
            "location": s.location,
            "minutes": _minutes(s.duration),
        }
        for s in BUSINESS.business().services
    ]


async def list_days(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, str]]:
    """The bookable days with a free slot for `service` (or for moving `appointment`): `{id: 2026-04-13, title}`."""
    found = BUSINESS.business()
    duration, moving = await _length(ctx, found, args)
    days = hours.bookable_days(found, ctx.now, ctx.zone)
    if not days:
        return []
    start, end = hours.day_bounds(days[0], ctx.zone)[0], hours.day_bounds(days[-1], ctx.zone)[1]
    busy = await _busy(ctx, start, end, moving)
    return [
        hours.day_choice(day)
        for day in days
        if hours.free_slots(found, day, duration, now=ctx.now, zone=ctx.zone, busy=busy)
    ]


async def list_slots(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, str]]:
    """The free starts on `day` for `service` (or for moving `appointment`): `{id: ISO start, title: "09:30"}`."""
    found = BUSINESS.business()
    duration, moving = await _length(ctx, found, args)
    day = _day(args.get("day", ""))
    busy = await _busy(ctx, *hours.day_bounds(day, ctx.zone), moving)
    free = hours.free_slots(found, day, duration, now=ctx.now, zone=ctx.zone, busy=busy)
    return [hours.slot_choice(start, ctx.zone) for start in free]


async def book_appointment(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any]:
    """Book `service` at `slot` for the contact, if that slot is still free; its reminder is queued with it.

    Answers the appointment for texts, and `remind_later`: whether its reminder is still to come.

    The check runs again here, under the booking lock, because the slot was offered a turn ago and
    another customer may have taken it since: then this fails with `TAKEN`.
    """
    found = BUSINESS.business()
    service = _service(found, args.get("service", ""))
    start = _start(args.get("slot", ""))
    contact = ctx.contact
    if contact.id is None or contact.wa_id is None:
        raise ValidationError("appointments need the customer's WhatsApp number for their reminder")
    await business.lock_bookings(ctx.conn)
    await _still_free(ctx, found, start, service.duration, moving=None)
    appointment = AppointmentBase(
        contact_id=contact.id,
        service=service.title,
        starts_at=start,
        duration_minutes=_minutes(service.duration),
        location=service.location,
    )
    async with ctx.conn.begin_nested():
        stored, reminder = await _notices(ctx).book_in(ctx.conn, contact, appointment, ctx.now)
    return {**_shown(stored, ctx.reader), "remind_later": reminder is not None and reminder.due_at > ctx.now}


async def cancel_appointment(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any]:
    """Cancel one of the contact's upcoming appointments (`id`); its queued reminder is cancelled with it."""
    appointment = await _own(ctx, args.get("id", ""), for_update=True)
    async with ctx.conn.begin_nested():
        cancelled, _ = await _notices(ctx).change_in(
            ctx.conn, _id(appointment), AppointmentChange(cancel=True), ctx.now
        )
    return _shown(cancelled, ctx.reader)


async def reschedule_appointment(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any]:
    """Move one of the contact's upcoming appointments (`id`) to a free `slot`; the reminder moves with it."""
    found = BUSINESS.business()
    start = _start(args.get("slot", ""))
    await business.lock_bookings(ctx.conn)
    appointment = await _own(ctx, args.get("id", ""), for_update=True)
    await _still_free(ctx, found, start, timedelta(minutes=appointment.duration_minutes), moving=appointment.id)
    change = AppointmentChange(starts_at=start)
    async with ctx.conn.begin_nested():
        moved, queued = await _notices(ctx).change_in(ctx.conn, _id(appointment), change, ctx.now)
    later = any(q.template == "appointment_reminder" and q.due_at > ctx.now for q in queued)
    return {**_shown(moved, ctx.reader), "remind_later": later}


async def _length(ctx: ActionContext, found: hours.Business, args: Mapping[str, str]) -> tuple[timedelta, int | None]:
    """How long the time sought is, and the appointment being moved (whose own time does not count as taken)."""
    if args.get("appointment"):
        appointment = await _own(ctx, args["appointment"])
        return timedelta(minutes=appointment.duration_minutes), appointment.id
    return _service(found, args.get("service", "")).duration, None


async def _own(ctx: ActionContext, appointment_id: str, *, for_update: bool = False) -> AppointmentBase:
    """The contact's own booked, upcoming appointment with this id; anything else is not found, alike."""
    appointment = None
    if (row := row_id(appointment_id.strip())) is not None:
        appointment = await business.appointment_by_id(ctx.conn, row, for_update=for_update)
    if (
        appointment is None
        or appointment.contact_id != ctx.contact.id
        or appointment.status != "booked"
        or appointment.starts_at <= ctx.now
    ):
        raise NotFound(f"no upcoming appointment {appointment_id!r} for this contact")
    return appointment


async def _busy(ctx: ActionContext, start: datetime, end: datetime, moving: int | None) -> list[hours.Busy]:
    booked = await business.booked_between(ctx.conn, start, end)
    return [(a.starts_at, a.starts_at + timedelta(minutes=a.duration_minutes)) for a in booked if a.id != moving]


async def _still_free(
    ctx: ActionContext, found: hours.Business, start: datetime, duration: timedelta, *, moving: int | None
) -> None:
    busy = await _busy(ctx, start, start + duration, moving)
    if not hours.is_free(found, start, duration, now=ctx.now, zone=ctx.zone, busy=busy):
        raise Conflict(TAKEN)


def _service(found: hours.Business, service_id: str) -> hours.Service:
    service = found.service(service_id)
    if service is None:
        raise ValidationError(f"no service {service_id!r}")
    return service


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"day {value!r} is not a date like 2026-04-13") from None


def _start(value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        raise ValidationError(f"slot {value!r} is not a start time with its offset")
    return start.astimezone(UTC)


def _shown(appointment: AppointmentBase, reader: Reader) -> dict[str, Any]:
    """An appointment's fields for texts: ``Cut on Mon 13 Apr at 09:30 at Main St 1``."""
    return {
        "service": appointment.service,
        "day": hours.show_day(hours.local_day(appointment.starts_at, reader.zone)),
        "date": reader.date(appointment.starts_at),
        "time": reader.time(appointment.starts_at),
        "location": appointment.location,
    }


def _when(appointment: AppointmentBase, reader: Reader) -> str:
    day = hours.show_day(hours.local_day(appointment.starts_at, reader.zone))
    return f"{day} {reader.time(appointment.starts_at, place=False)}"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _minutes(duration: timedelta) -> int:
    return duration // timedelta(minutes=1)


def _id(appointment: AppointmentBase) -> int:
    assert appointment.id is not None
    return appointment.id


# The fields of an action's result that may be empty (None), which `bot check` warns about printing unguarded.
MAY_BE_EMPTY: dict[str, frozenset[str]] = {
    "orders.lookup": frozenset(
        {"total", "tracking_number", "delay_reason", "delivery_date", "window_start", "window_end"}
    ),
}
ACTIONS: dict[str, Action] = {
    "orders.lookup": lookup_order,
    "orders.recent": recent_orders,
    "account.balance": account_balance,
    "appointments.upcoming": upcoming_appointments,
    "appointments.services": list_services,
    "appointments.days": list_days,
    "appointments.slots": list_slots,
    "appointments.book": book_appointment,
    "appointments.cancel": cancel_appointment,
    "appointments.reschedule": reschedule_appointment,
}
