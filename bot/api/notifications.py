"""The business-data routes of the admin API: orders, appointments, accounts and utility notifications.

Bodies are read into `bot.notifications.service`' values here, with a 400 naming the field for anything wrong;
the service does the rest. Bearer auth is the admin API's middleware, as for every /api route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from bot.api.model import validated
from bot.api.notification_model import MAX_BATCH as MAX_BATCH  # its home before the models
from bot.api.notification_model import (
    AccountPut,
    AppointmentBook,
    AppointmentPatch,
    NotificationItem,
    OrderCreate,
    OrderFields,
)
from bot.api.request import (
    json_body,
    json_response,
    page_of,
    paging,
    path_id,
    valid_wa_id,
)
from bot.errors import ValidationError
from bot.field import check_text, in_range
from bot.notifications.service import (
    NOTIFICATIONS,
    AppointmentChange,
    BalanceUpdate,
    Customer,
    OrderChange,
    Queued,
)
from bot.notifications.utility import NotificationRequest
from bot.numbers.number import NUMBERS, NumberBook, sending_number
from storage.models import AccountBase, AppointmentBase, OrderBase

# -- reading bodies ------------------------------------------------------------------------------------


def _zoned(moment: datetime | None, name: str) -> datetime | None:
    """A time the model read (ISO 8601 with its offset) as UTC, if it falls between 1970 and 9998."""
    return in_range(moment, name) if moment is not None else None


def _customer(wa_id: str | None, name: str | None) -> Customer:
    return Customer(valid_wa_id(wa_id), name)


def _order_fields(given: OrderFields) -> dict[str, Any]:
    """The order fields given, checked; absent ones are left out."""
    fields: dict[str, Any] = {
        "total": given.total,
        "currency": given.currency,
        "delivery_start": _zoned(given.delivery_start, "delivery_start"),
        "delivery_end": _zoned(given.delivery_end, "delivery_end"),
        "tracking_number": given.tracking_number,
        "delay_reason": given.reason,
        "items": given.items,
    }
    start, end = fields["delivery_start"], fields["delivery_end"]
    if start and end and end <= start:
        raise ValidationError("delivery_end must be after delivery_start")
    return {name: value for name, value in fields.items() if value is not None}


def _queued(queued: Queued | None) -> dict[str, Any] | None:
    return queued.as_dict() if queued else None


def _order(order: OrderBase) -> dict[str, Any]:
    return order.model_dump(exclude={"id", "contact_id"})


def _appointment(appointment: AppointmentBase) -> dict[str, Any]:
    return appointment.model_dump(exclude={"contact_id"})


def _account(account: AccountBase, wa_id: str) -> dict[str, Any]:
    return {"wa_id": wa_id, **account.model_dump(exclude={"id", "contact_id", "low_alerts"})}


# -- orders --------------------------------------------------------------------------------------------


def order_from(body: Any) -> tuple[Customer, OrderBase]:
    """A `POST /api/orders` body read and checked as the API does (`bot demo` stores its orders through it)."""
    given = validated(OrderCreate, body)
    order = OrderBase(number=given.number, contact_id=0, status=given.status or "placed")
    return _customer(given.wa_id, given.name), order.model_copy(update=_order_fields(given))


async def create_order(request: web.Request) -> web.Response:
    """Store an order; a repeat of an order number already stored answers it unchanged (200)."""
    customer, order = order_from(await json_body(request))
    stored, queued, created = await request.config_dict[NOTIFICATIONS].create_order(customer, order)
    return json_response({"order": _order(stored), "notification": _queued(queued)}, 201 if created else 200)


async def change_order(request: web.Request) -> web.Response:
    given = validated(OrderFields, await json_body(request))
    change = OrderChange(status=given.status, fields=_order_fields(given))
    if change.status is None and not change.fields:
        raise ValidationError("give a status and/or order fields to change")
    order, queued = await request.config_dict[NOTIFICATIONS].change_order(
        check_text(request.match_info["number"], "number"), change
    )
    return json_response({"order": _order(order), "notification": _queued(queued)})


# -- appointments --------------------------------------------------------------------------------------


def appointment_from(body: Any) -> tuple[Customer, AppointmentBase]:
    """A `POST /api/appointments` body read and checked as the API does (`bot demo` books through it)."""
    given = validated(AppointmentBook, body)
    appointment = AppointmentBase(
        contact_id=0,
        service=given.service,
        starts_at=in_range(given.starts_at, "starts_at"),
        duration_minutes=given.duration_minutes,
        location=given.location,
    )
    return _customer(given.wa_id, given.name), appointment


async def book_appointment(request: web.Request) -> web.Response:
    customer, appointment = appointment_from(await json_body(request))
    stored, reminder = await request.config_dict[NOTIFICATIONS].book(customer, appointment)
    return json_response({"appointment": _appointment(stored), "reminder": _queued(reminder)}, 201)


async def change_appointment(request: web.Request) -> web.Response:
    appointment_id = path_id(request, "appointment")
    given = validated(AppointmentPatch, await json_body(request))
    change = AppointmentChange(
        starts_at=_zoned(given.starts_at, "starts_at"),
        service=given.service,
        location=given.location,
        duration_minutes=given.duration_minutes,
        cancel=given.status == "cancelled",
    )
    if change == AppointmentChange() and given.status is None:
        raise ValidationError("give starts_at, service, location, duration_minutes or status to change")
    appointment, queued = await request.config_dict[NOTIFICATIONS].change_appointment(appointment_id, change)
    return json_response({"appointment": _appointment(appointment), "notifications": [q.as_dict() for q in queued]})


async def list_appointments(request: web.Request) -> web.Response:
    wa_id = valid_wa_id(request.query.get("wa_id"))
    limit, before = paging(request)
    appointments = await request.config_dict[NOTIFICATIONS].appointments(wa_id, limit, before)
    return json_response(page_of([_appointment(a) for a in appointments], limit))


# -- accounts ------------------------------------------------------------------------------------------


async def put_account(request: web.Request) -> web.Response:
    given = validated(AccountPut, await json_body(request))
    customer = _customer(request.match_info["wa_id"], given.name)
    change = BalanceUpdate(
        balance=given.balance,
        currency=given.currency,
        account_name=given.account_name,
        low_threshold=given.low_threshold,
        set_threshold="low_threshold" in given.model_fields_set,
    )
    account, queued = await request.config_dict[NOTIFICATIONS].set_balance(customer, change)
    return json_response({"account": _account(account, customer.wa_id), "notification": _queued(queued)})


# -- notifications -------------------------------------------------------------------------------------


def _notification(body: Any, numbers: NumberBook) -> NotificationRequest:
    if not isinstance(body, dict):
        raise ValidationError("each notification must be a JSON object")
    item = validated(NotificationItem, body)
    return NotificationRequest(
        wa_id=valid_wa_id(item.wa_id),
        template=item.template,
        parameters=item.parameters,
        send_at=_zoned(item.send_at, "send_at"),
        idempotency_key=item.idempotency_key,
        language=item.language,
        urgent=item.urgent,
        # Checked when given; left unset, it goes out from the default number (and keeps its key as before).
        phone_number_id=None if item.phone_number_id is None else sending_number(numbers, item.phone_number_id),
    )


async def post_notifications(request: web.Request) -> web.Response:
    """One notification (`202`), or `{"items": [...]}` answered item by item (`200`), queued in one transaction.

    Every item is read and checked on its own, and a bad one is answered with its own error; the good
    ones are queued together, so a batch is all stored or (the database failing) not at all, and posting
    it again queues nothing twice.
    """
    body = await json_body(request)
    service = request.config_dict[NOTIFICATIONS]
    if "items" not in body:
        queued = await service.notify(_notification(body, request.config_dict[NUMBERS]))
        return json_response({"notification": queued.as_dict()}, 202)
    items = body["items"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(f"items must be a list of 1 to {MAX_BATCH} notifications")
    read: list[NotificationRequest | ValidationError] = []
    numbers = request.config_dict[NUMBERS]
    for item in items:
        try:
            read.append(_notification(item, numbers))
        except ValidationError as exc:
            read.append(exc)
    answers = iter(await service.notify_many([r for r in read if isinstance(r, NotificationRequest)]))
    outcomes = [r if isinstance(r, ValidationError) else next(answers) for r in read]
    return json_response({"items": [_item(index, outcome) for index, outcome in enumerate(outcomes)]})


def _item(index: int, outcome: Queued | ValidationError) -> dict[str, Any]:
    if isinstance(outcome, ValidationError):
        error: dict[str, Any] = {"code": outcome.code, "message": outcome.message}
        if outcome.fields:
            error["fields"] = [f.as_json() for f in outcome.fields]
        return {"index": index, "status": "error", "error": error}
    status = "queued" if outcome.queued else "duplicate"
    return {"index": index, "status": status, "notification": outcome.as_dict()}


routes = (
    web.post("/orders", create_order),
    web.patch("/orders/{number}", change_order),
    web.post("/appointments", book_appointment),
    web.get("/appointments", list_appointments),
    web.patch("/appointments/{id}", change_appointment),
    web.put("/accounts/{wa_id}", put_account),
    web.post("/notifications", post_notifications),
)
