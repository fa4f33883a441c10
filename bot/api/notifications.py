"""The business-data routes of the admin API: orders, appointments, accounts and utility notifications.

Bodies are read into `bot.notifications.service`' values here, with a 400 naming the field for anything wrong;
the service does the rest. Bearer auth is the admin API's middleware, as for every /api route.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.api.request import (
    json_body,
    json_response,
    page_of,
    paging,
    path_id,
    required_text,
    template_parameters,
    text_field,
    valid_wa_id,
)
from bot.errors import ValidationError
from bot.field import check_text, in_range
from bot.notifications.rules import ORDER_STATUSES
from bot.notifications.service import (
    NOTIFICATIONS,
    AppointmentChange,
    BalanceUpdate,
    Customer,
    OrderChange,
    Queued,
)
from bot.notifications.utility import NotificationRequest
from storage.models import AccountBase, AppointmentBase, OrderBase

MAX_BATCH = 1000


# -- reading bodies ------------------------------------------------------------------------------------


def _time(body: dict[str, Any], name: str) -> datetime | None:
    """An ISO 8601 time with its UTC offset, as UTC; a time without an offset would be a guess."""
    value = body.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError(f"{name} must be an ISO 8601 time with a UTC offset, e.g. 2026-04-14T09:30:00+01:00")
    return in_range(parsed, name)


def _amount(body: dict[str, Any], name: str) -> str | None:
    """A money amount given as decimal text or a number, kept as decimal text with two places."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f'{name} must be an amount such as "84.90"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f'{name} must be an amount such as "84.90"') from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 12:
        raise ValidationError(f"{name} must be a finite amount below 10^12")
    return f"{amount.quantize(Decimal('0.01'))}"


def _currency(body: dict[str, Any]) -> str | None:
    value = body.get("currency")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise ValidationError("currency must be an ISO 4217 code such as EUR")
    return value.upper()


def _customer(body: dict[str, Any], wa_id: Any = None) -> Customer:
    return Customer(
        valid_wa_id(body.get("wa_id") if wa_id is None else wa_id), text_field(body, "name", max_length=128)
    )


def _order_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The order fields present in `body`, read and checked; absent ones are left out."""
    fields: dict[str, Any] = {
        "total": _amount(body, "total"),
        "currency": _currency(body),
        "delivery_start": _time(body, "delivery_start"),
        "delivery_end": _time(body, "delivery_end"),
        "tracking_number": text_field(body, "tracking_number", max_length=128),
        "delay_reason": text_field(body, "reason"),
    }
    if "items" in body and not isinstance(body["items"], list):
        raise ValidationError("items must be a list")
    fields["items"] = body.get("items")
    start, end = fields["delivery_start"], fields["delivery_end"]
    if start and end and end <= start:
        raise ValidationError("delivery_end must be after delivery_start")
    return {name: value for name, value in fields.items() if value is not None}


def _status(body: dict[str, Any]) -> str | None:
    status = body.get("status")
    if status is not None and status not in ORDER_STATUSES:
        raise ValidationError(f"status {status!r} is not one of {', '.join(ORDER_STATUSES)}")
    return status


def _queued(queued: Queued | None) -> dict[str, Any] | None:
    return queued.as_dict() if queued else None


def _order(order: OrderBase) -> dict[str, Any]:
    return order.model_dump(exclude={"id", "contact_id"})


def _appointment(appointment: AppointmentBase) -> dict[str, Any]:
    return appointment.model_dump(exclude={"contact_id"})


def _account(account: AccountBase, wa_id: str) -> dict[str, Any]:
    return {"wa_id": wa_id, **account.model_dump(exclude={"id", "contact_id", "low_alerts"})}


# -- orders --------------------------------------------------------------------------------------------


async def create_order(request: web.Request) -> web.Response:
    """Store an order; a repeat of an order number already stored answers it unchanged (200)."""
    body = await json_body(request)
    customer = _customer(body)
    order = OrderBase(number=required_text(body, "number", 64), contact_id=0, status=_status(body) or "placed")
    order = order.model_copy(update=_order_fields(body))
    stored, queued, created = await request.config_dict[NOTIFICATIONS].create_order(customer, order)
    return json_response({"order": _order(stored), "notification": _queued(queued)}, 201 if created else 200)


async def change_order(request: web.Request) -> web.Response:
    body = await json_body(request)
    change = OrderChange(status=_status(body), fields=_order_fields(body))
    if change.status is None and not change.fields:
        raise ValidationError("give a status and/or order fields to change")
    order, queued = await request.config_dict[NOTIFICATIONS].change_order(
        check_text(request.match_info["number"], "number"), change
    )
    return json_response({"order": _order(order), "notification": _queued(queued)})


# -- appointments --------------------------------------------------------------------------------------


def _duration(body: dict[str, Any]) -> int | None:
    value = body.get("duration_minutes")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 24 * 60:
        raise ValidationError("duration_minutes must be a whole number from 1 to 1440")
    return value


async def book_appointment(request: web.Request) -> web.Response:
    body = await json_body(request)
    customer = _customer(body)
    starts_at = _time(body, "starts_at")
    if starts_at is None:
        raise ValidationError("starts_at is required")
    appointment = AppointmentBase(
        contact_id=0,
        service=required_text(body, "service"),
        starts_at=starts_at,
        duration_minutes=_duration(body) or 30,
        location=required_text(body, "location"),
    )
    stored, reminder = await request.config_dict[NOTIFICATIONS].book(customer, appointment)
    return json_response({"appointment": _appointment(stored), "reminder": _queued(reminder)}, 201)


async def change_appointment(request: web.Request) -> web.Response:
    appointment_id = path_id(request, "appointment")
    body = await json_body(request)
    status = body.get("status")
    if status not in (None, "booked", "cancelled"):
        raise ValidationError("status must be booked or cancelled")
    change = AppointmentChange(
        starts_at=_time(body, "starts_at"),
        service=text_field(body, "service"),
        location=text_field(body, "location"),
        duration_minutes=_duration(body),
        cancel=status == "cancelled",
    )
    if change == AppointmentChange() and status is None:
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
    body = await json_body(request)
    customer = _customer(body, request.match_info["wa_id"])
    balance = _amount(body, "balance")
    if balance is None:
        raise ValidationError("balance is required")
    change = BalanceUpdate(
        balance=balance,
        currency=_currency(body),
        account_name=text_field(body, "account_name", max_length=128),
        low_threshold=_amount(body, "low_threshold"),
        set_threshold="low_threshold" in body,
    )
    account, queued = await request.config_dict[NOTIFICATIONS].set_balance(customer, change)
    return json_response({"account": _account(account, customer.wa_id), "notification": _queued(queued)})


# -- notifications -------------------------------------------------------------------------------------


def _notification(body: Any) -> NotificationRequest:
    if not isinstance(body, dict):
        raise ValidationError("each notification must be a JSON object")
    return NotificationRequest(
        wa_id=valid_wa_id(body.get("wa_id")),
        template=required_text(body, "template", 512),
        parameters=template_parameters(body),
        send_at=_time(body, "send_at"),
        idempotency_key=text_field(body, "idempotency_key", max_length=128),
        language=text_field(body, "language", max_length=16),
        urgent=_flag(body, "urgent"),
    )


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false")
    return value


async def post_notifications(request: web.Request) -> web.Response:
    """One notification (`202`), or `{"items": [...]}` answered item by item (`200`), queued in one transaction.

    Every item is read and checked on its own, and a bad one is answered with its own error; the good
    ones are queued together, so a batch is all stored or (the database failing) not at all, and posting
    it again queues nothing twice.
    """
    body = await json_body(request)
    service = request.config_dict[NOTIFICATIONS]
    if "items" not in body:
        queued = await service.notify(_notification(body))
        return json_response({"notification": queued.as_dict()}, 202)
    items = body["items"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(f"items must be a list of 1 to {MAX_BATCH} notifications")
    read: list[NotificationRequest | ValidationError] = []
    for item in items:
        try:
            read.append(_notification(item))
        except ValidationError as exc:
            read.append(exc)
    answers = iter(await service.notify_many([r for r in read if isinstance(r, NotificationRequest)]))
    outcomes = [r if isinstance(r, ValidationError) else next(answers) for r in read]
    return json_response({"items": [_item(index, outcome) for index, outcome in enumerate(outcomes)]})


def _item(index: int, outcome: Queued | ValidationError) -> dict[str, Any]:
    if isinstance(outcome, ValidationError):
        return {"index": index, "status": "error", "error": {"code": outcome.code, "message": outcome.message}}
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
