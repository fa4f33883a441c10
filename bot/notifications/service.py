"""Utility notifications at the I/O edge: business data changes in, utility outbox rows out.

`bot.notifications.rules` decides what a change sends; this module loads and stores the business rows
and queues the messages in the same transaction, each under an idempotency key, so repeating a call is
harmless. The sender applies the category rules at send time (a utility template opens or joins a
utility conversation) and honours each row's due time.

Why one module of about 430 lines: orders, appointments and balances each take a few short functions of
the same shape (load, decide with `rules`, queue under a key), and they share the queueing helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import NotFound, ValidationError
from bot.language.reader import Reader
from bot.message_templates.library import MessageTemplate, Templates, to_cloud_api
from bot.notifications import rules, utility
from bot.notifications.utility import NotificationRequest
from storage import business
from storage.contacts import ensure_contacts
from storage.models import AccountBase, AppointmentBase, ContactBase, OrderBase
from storage.outbox import NewMessage, enqueue, enqueue_keyed
from storage.repository import Repository

log = structlog.get_logger("bot.notifications.service")

DEFAULT_REMINDER_LEAD = timedelta(hours=24)
_ORDER_FIELDS = ("items", "total", "currency", "delivery_start", "delivery_end", "tracking_number", "delay_reason")
_SHOWN = ("starts_at", "service", "location")  # what the customer reads: changing one is a reschedule


@dataclass(frozen=True)
class Queued:
    """A utility message a call asked for: which template, under which key, due when, and whether it is new."""

    template: str
    key: str
    due_at: datetime
    queued: bool

    def as_dict(self) -> dict[str, Any]:
        return {"template": self.template, "key": self.key, "due_at": self.due_at, "queued": self.queued}


@dataclass(frozen=True)
class Customer:
    """Who a call is about: the number, and a name to greet them by when the business knows it."""

    wa_id: str
    name: str | None = None


@dataclass(frozen=True)
class OrderChange:
    """A status and/or order fields to set; only the fields given change."""

    status: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppointmentChange:
    """A reschedule (new time, place or service) or a cancellation."""

    starts_at: datetime | None = None
    service: str | None = None
    location: str | None = None
    duration_minutes: int | None = None
    cancel: bool = False


@dataclass(frozen=True)
class BalanceUpdate:
    """A new balance; the threshold, currency and account name change only when given."""

    balance: str
    currency: str | None = None
    account_name: str | None = None
    low_threshold: str | None = None
    set_threshold: bool = False


@dataclass(frozen=True)
class NotificationService:
    """Turns order, appointment and balance changes into utility messages; `on_enqueued` wakes the sender."""

    repository: Repository
    library: Templates
    zone: ZoneInfo
    clock: Callable[[], datetime]
    reminder_lead: timedelta = DEFAULT_REMINDER_LEAD
    on_enqueued: Callable[[], None] = lambda: None

    # -- orders ------------------------------------------------------------------------------------

    async def create_order(self, customer: Customer, order: OrderBase) -> tuple[OrderBase, Queued | None, bool]:
        """Store a new order (its contact created if missing); a repeat of the same number changes nothing.

        Answers the order, the message its status sent (if any) and whether it was created now.
        """
        now = self.clock()

        async def work(conn: AsyncConnection) -> tuple[OrderBase, Queued | None, bool]:
            contact = await self._contact(conn, customer, now)
            existing = await business.order_by_number(conn, order.number)
            if existing is not None:
                if existing.contact_id != contact.id:
                    raise ValidationError(f"order {order.number} belongs to another contact")
                return existing, None, False
            stored = await business.add_order(
                conn, order.model_copy(update={"contact_id": contact.id, "created_at": now, "updated_at": now})
            )
            return stored, await self._order_notice(conn, contact, stored, now), True

        stored, queued, created = await self.repository.write_whole(work)
        if not created:
            return stored, None, False
        log.info("order.created", number=stored.number, status=stored.status)
        self._woken(queued)
        return stored, queued, True

    async def change_order(self, number: str, change: OrderChange) -> tuple[OrderBase, Queued | None]:
        """Set an order's fields and status; a status that has a template sends it once (`order:{n}:{status}`)."""
        if change.status is not None and change.status not in rules.ORDER_STATUSES:
            raise ValidationError(f"status {change.status!r} is not one of {', '.join(rules.ORDER_STATUSES)}")
        now = self.clock()

        async def work(conn: AsyncConnection) -> tuple[OrderBase, Queued | None]:
            order = await business.order_by_number(conn, number, for_update=True)
            if order is None:
                raise NotFound(f"no order {number}")
            updates = {k: v for k, v in change.fields.items() if k in _ORDER_FIELDS}
            if change.status is not None:
                updates["status"] = change.status
            order = await business.update_order(conn, _id(order), {**updates, "updated_at": now})
            if change.status is None:
                return order, None
            contact = await business.contact_by_id(conn, order.contact_id)
            return order, await self._order_notice(conn, contact, order, now)

        order, queued = await self.repository.write_whole(work)
        log.info("order.changed", number=number, status=order.status, queued=bool(queued and queued.queued))
        self._woken(queued)
        return order, queued

    async def _order_notice(
        self, conn: AsyncConnection, contact: ContactBase, order: OrderBase, now: datetime
    ) -> Queued | None:
        name = rules.order_template(order)
        if name is None:
            return None
        template, reader = _for(self.library, name, contact, self.zone)
        notice = rules.order_notice(order, _greeting(contact), reader, now)
        return await self._queue(conn, contact, notice, template) if notice else None

    # -- appointments ------------------------------------------------------------------------------

    @property
    def appointment_notices(self) -> AppointmentNotices:
        """The appointment logic that runs inside a caller's transaction, with this service's templates and lead."""
        return AppointmentNotices(self.library, self.zone, self.reminder_lead)

    async def book(self, customer: Customer, appointment: AppointmentBase) -> tuple[AppointmentBase, Queued | None]:
        """Book an appointment and queue its reminder `reminder_lead` before it (none once it has begun)."""
        stored, queued = await self.repository.write_whole(lambda conn: self.book_in(conn, customer, appointment))
        self._woken(queued)
        return stored, queued

    async def book_in(
        self, conn: AsyncConnection, customer: Customer, appointment: AppointmentBase
    ) -> tuple[AppointmentBase, Queued | None]:
        """`book` inside the caller's transaction; the caller wakes the sender after committing."""
        now = self.clock()
        contact = await self._contact(conn, customer, now)
        return await self.appointment_notices.book_in(conn, contact, appointment, now)

    async def change_appointment(
        self, appointment_id: int, change: AppointmentChange
    ) -> tuple[AppointmentBase, list[Queued]]:
        """Reschedule (the reminder moves and `appointment_update` goes out) or cancel (the reminder is cancelled)."""
        appointment, queued = await self.repository.write_whole(
            lambda conn: self.change_appointment_in(conn, appointment_id, change)
        )
        self._woken(*queued)
        return appointment, queued

    async def change_appointment_in(
        self, conn: AsyncConnection, appointment_id: int, change: AppointmentChange
    ) -> tuple[AppointmentBase, list[Queued]]:
        """`change_appointment` inside the caller's transaction; the caller wakes the sender after committing."""
        return await self.appointment_notices.change_in(conn, appointment_id, change, self.clock())

    async def appointments(self, wa_id: str, limit: int = 100, before: int | None = None) -> list[AppointmentBase]:
        """A page of the contact's appointments, newest booked first (ids below `before`)."""
        async with self.repository.engine.connect() as conn:
            return await business.appointments_page(conn, wa_id, limit=limit, before=before)

    # -- accounts ----------------------------------------------------------------------------------

    async def set_balance(self, customer: Customer, change: BalanceUpdate) -> tuple[AccountBase, Queued | None]:
        """Store a balance; going below the threshold alerts once per crossing (`account:{wa_id}:low:{n}`)."""
        now = self.clock()

        async def work(conn: AsyncConnection) -> tuple[AccountBase, Queued | None, rules.BalanceCheck]:
            contact = await self._contact(conn, customer, now)
            account = await business.account_for(conn, _id(contact))
            if account is None:
                if change.currency is None:
                    raise ValidationError("currency is required for a new account")
                account = AccountBase(contact_id=_id(contact), balance=change.balance, currency=change.currency)
            updates: dict[str, Any] = {"balance": change.balance, "updated_at": now}
            if change.currency is not None:
                updates["currency"] = change.currency
            if change.account_name is not None:
                updates["name"] = change.account_name
            if change.set_threshold:
                updates["low_threshold"] = change.low_threshold
            account = account.model_copy(update=updates)
            check = rules.check_balance(account.balance, account.low_threshold, alerted=account.low_alerted)
            queued = None
            if check.alert:
                account = account.model_copy(update={"low_alerts": account.low_alerts + 1})
                template, reader = _for(self.library, "account_balance_low", contact, self.zone)
                values = rules.balance_values(account, _greeting(contact), reader)
                key = f"account:{customer.wa_id}:low:{account.low_alerts}"
                notice = rules.Notice(template.name, values, key, now, f"account:{contact.id}:low")
                queued = await self._queue(conn, contact, notice, template)
            account = await business.save_account(conn, account.model_copy(update={"low_alerted": check.alerted}))
            return account, queued, check

        account, queued, check = await self.repository.write_whole(work)
        log.info("account.balance_set", wa_id=customer.wa_id, low=check.alerted, alerted=check.alert)
        self._woken(queued)
        return account, queued

    # -- any utility template ----------------------------------------------------------------------

    def utility_template(self, name: str, language: str | None = None) -> MessageTemplate:
        """The utility template `name`; an unknown one or one of another category is a `ValidationError`."""
        return utility.utility_template(self.library, name, language)

    async def notify(self, request: NotificationRequest) -> Queued:
        """Queue one utility template; without a caller's key, identical content is queued once."""
        (result,) = await self.notify_many([request])
        if isinstance(result, ValidationError):
            raise result
        return result

    async def notify_many(self, requests: Sequence[NotificationRequest]) -> list[Queued | ValidationError]:
        """Queue utility templates in one transaction, answered one by one in the order asked.

        Each request is checked and rendered on its own, and a bad one is answered with its own
        `ValidationError`; then the contacts are found (or created) and the messages inserted with a few
        statements for the whole batch. A key already in the outbox, or met earlier in the batch, is
        answered `queued=False`, exactly as repeating `notify` would be.
        """
        now = self.clock()
        meta = await self.repository.meta_word()
        checked = [utility.ready(self.library, request, now, meta) for request in requests]
        firsts: dict[str, utility.Ready] = {}
        for item in checked:
            if isinstance(item, utility.Ready):
                firsts.setdefault(item.key, item)
        added: set[str] = set()
        if firsts:
            async with self.repository.transaction() as conn:
                contacts = await ensure_contacts(conn, [r.wa_id for r in firsts.values()], now)
                added = await enqueue_keyed(conn, [r.message(contacts[r.wa_id]) for r in firsts.values()], now)
        results: list[Queued | ValidationError] = [
            item
            if isinstance(item, ValidationError)
            else Queued(item.template.name, item.key, item.due_at, firsts[item.key] is item and item.key in added)
            for item in checked
        ]
        queued = [r for r in results if isinstance(r, Queued)]
        log.info(
            "notification.requested",
            items=len(results),
            queued=sum(q.queued for q in queued),
            duplicates=sum(not q.queued for q in queued),
            refused=len(results) - len(queued),
        )
        self._woken(*queued)
        return results

    # -- shared ------------------------------------------------------------------------------------

    async def _contact(self, conn: AsyncConnection, customer: Customer, now: datetime) -> ContactBase:
        return await business.customer(conn, customer.wa_id, customer.name, now)

    async def _queue(
        self,
        conn: AsyncConnection,
        contact: ContactBase,
        notice: rules.Notice,
        template: MessageTemplate,
    ) -> Queued:
        return await _enqueue_notice(conn, contact, notice, template, self.clock())

    def _woken(self, *queued: Queued | None) -> None:
        if any(q is not None and q.queued and q.due_at <= self.clock() for q in queued):
            self.on_enqueued()


@dataclass(frozen=True)
class AppointmentNotices:
    """Appointments and their reminders inside a caller's transaction, for the admin API and flows alike.

    It needs no repository and no clock of its own: the caller brings the transaction and the time, so a
    flow's booking commits with its turn, and the API's with its request.
    """

    library: Templates
    zone: ZoneInfo
    reminder_lead: timedelta = DEFAULT_REMINDER_LEAD

    async def book_in(
        self, conn: AsyncConnection, contact: ContactBase, appointment: AppointmentBase, now: datetime
    ) -> tuple[AppointmentBase, Queued | None]:
        """Store the appointment for `contact` and queue its reminder `reminder_lead` before it, if it is ahead."""
        stored = await business.add_appointment(
            conn, appointment.model_copy(update={"contact_id": contact.id, "created_at": now, "updated_at": now})
        )
        due = rules.reminder_due(stored.starts_at, self.reminder_lead, now)
        queued = None
        if due is not None:
            template, reader = _for(self.library, "appointment_reminder", contact, self.zone)
            values = rules.appointment_values(stored, _greeting(contact), reader)
            key = rules.reminder_key(_id(stored), 0)
            notice = rules.Notice(template.name, values, key, due, _subject(stored))
            queued = await _enqueue_notice(conn, contact, notice, template, now)
        log.info("appointment.booked", appointment_id=stored.id, reminder_due=due)
        return stored, queued

    async def change_in(
        self, conn: AsyncConnection, appointment_id: int, change: AppointmentChange, now: datetime
    ) -> tuple[AppointmentBase, list[Queued]]:
        """Reschedule (the reminder moves and `appointment_update` is queued) or cancel (the reminder is cancelled)."""
        appointment = await business.appointment_by_id(conn, appointment_id, for_update=True)
        if appointment is None:
            raise NotFound(f"no appointment {appointment_id}")
        if change.cancel:
            return await self._cancel(conn, appointment, now), []
        if appointment.status == "cancelled":
            raise ValidationError(f"appointment {appointment_id} is cancelled; book a new one")
        updates = {
            name: value
            for name in (*_SHOWN, "duration_minutes")
            if (value := getattr(change, name)) is not None and value != getattr(appointment, name)
        }
        if not updates:
            return appointment, []
        if "starts_at" in updates and updates["starts_at"] <= now:
            raise ValidationError("starts_at must be in the future to reschedule to it")
        rescheduled = any(name in updates for name in _SHOWN)
        revision = appointment.revision + 1 if rescheduled else appointment.revision
        appointment = await business.update_appointment(
            conn, appointment_id, {**updates, "revision": revision, "updated_at": now}
        )
        queued = await self._rescheduled(conn, appointment, now) if rescheduled else []
        log.info("appointment.changed", appointment_id=appointment_id, revision=appointment.revision)
        return appointment, queued

    async def _rescheduled(self, conn: AsyncConnection, appointment: AppointmentBase, now: datetime) -> list[Queued]:
        """Tell the customer the new time at once and move the reminder to it.

        Inside the reminder's lead time the update already reminds them, so the queued reminder is
        cancelled rather than sent alongside it. A reminder that already went out is followed by a new
        one keyed with the revision.
        """
        contact = await business.contact_by_id(conn, appointment.contact_id)
        update, reader = _for(self.library, "appointment_update", contact, self.zone)
        values = rules.appointment_values(appointment, _greeting(contact), reader)
        appointment_id = _id(appointment)
        update_key = f"appointment:{appointment_id}:update:{appointment.revision}"
        notice = rules.Notice(update.name, values, update_key, now, _subject(appointment))
        queued = [await _enqueue_notice(conn, contact, notice, update, now)]
        keys = [rules.reminder_key(appointment_id, r) for r in range(appointment.revision + 1)]
        due = rules.reminder_due(appointment.starts_at, self.reminder_lead, now)
        if due is None or due <= now:
            await business.cancel_queued(conn, keys, now)
            return queued
        template, reader = _for(self.library, "appointment_reminder", contact, self.zone)
        values = rules.appointment_values(appointment, _greeting(contact), reader)
        reminder = rules.Notice(template.name, values, keys[-1], due, _subject(appointment))
        payload = to_cloud_api(template, _wa_id(contact), reminder.values)
        moved = await business.move_queued(conn, keys, due_at=due, payload=payload, now=now)
        if moved is not None:
            return [*queued, Queued(template.name, moved, due, False)]
        return [*queued, await _enqueue_notice(conn, contact, reminder, template, now)]

    async def _cancel(self, conn: AsyncConnection, appointment: AppointmentBase, now: datetime) -> AppointmentBase:
        if appointment.status == "cancelled":
            return appointment
        appointment_id = _id(appointment)
        keys = [rules.reminder_key(appointment_id, r) for r in range(appointment.revision + 1)]
        await business.cancel_queued(conn, keys, now)
        log.info("appointment.cancelled", appointment_id=appointment_id)
        return await business.update_appointment(conn, appointment_id, {"status": "cancelled", "updated_at": now})


async def _enqueue_notice(
    conn: AsyncConnection, contact: ContactBase, notice: rules.Notice, template: MessageTemplate, now: datetime
) -> Queued:
    message = NewMessage(
        kind="utility",
        contact_id=_id(contact),
        recipient=_wa_id(contact),
        payload=to_cloud_api(template, _wa_id(contact), notice.values),
        due_at=notice.due_at,
        template_name=template.name,
        template_category=template.category,
        idempotency_key=notice.key,
        subject=notice.subject,
        urgent=notice.urgent,
    )
    added = await enqueue(conn, [message], now)
    return Queued(template.name, notice.key, notice.due_at, added == 1)


def _subject(appointment: AppointmentBase) -> str:
    return f"appointment:{appointment.id}"


def _for(library: Templates, name: str, contact: ContactBase, zone: ZoneInfo) -> tuple[MessageTemplate, Reader]:
    """The template `name` in the contact's language (or its fallback), and the reader that language and
    the contact's clock make: the values are written in the language the template is in."""
    template = library.get(name, contact.language)
    return template, Reader.of(template.language, contact.time_zone, contact.wa_id, zone)


def _greeting(contact: ContactBase) -> str:
    return contact.name or rules.DEFAULT_NAME


def _id(row: ContactBase | OrderBase | AppointmentBase) -> int:
    assert row.id is not None
    return row.id


def _wa_id(contact: ContactBase) -> str:
    assert contact.wa_id is not None
    return contact.wa_id


NOTIFICATIONS = web.AppKey("notifications", NotificationService)
