"""The bodies of `/api/notifications`, `/api/orders`, `/api/appointments` and `/api/accounts` as Pydantic models.

The handlers check a body with them (`bot.api.model.validated`: every wrong field in one answer) and the
document shows them; what a model cannot say (a time between 1970 and 9998, a template's parameters, a
delivery window's order) is checked after it, in `bot.api.notifications` and the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, WithJsonSchema

from bot.api.model import Body, FieldProblem
from bot.api.request import MAX_TEXT, template_parameters
from bot.errors import ValidationError
from bot.notifications.rules import ORDER_STATUSES

MAX_BATCH = 1000
_WA_ID = re.compile(r"^[0-9]{6,15}$")  # ASCII digits: \d would take Arabic-Indic ones too
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be given as a string of 6 to 15 digits")
    return value


def _wa_id(value: str) -> str:
    if not _WA_ID.match(value):
        raise ValueError(f"{value!r} is not a WhatsApp number (6 to 15 digits, no +)")
    return value


def _one_line(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("must be non-empty text")
        if "\n" in value or "\t" in value:
            raise ValueError(f"must be one line of at most {max_length} characters")
        return value.strip()

    return check


def _zoned(value: Any) -> Any:
    """An ISO 8601 time with its UTC offset; a time without one would be a guess."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise ValueError("must be an ISO 8601 time with a UTC offset, e.g. 2026-04-14T09:30:00+01:00")


def _amount(value: Any) -> str:
    """A money amount given as decimal text or a number, kept as decimal text with two places."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('must be an amount such as "84.90"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError('must be an amount such as "84.90"') from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 12:
        raise ValueError("must be a finite amount below 10^12")
    return f"{amount.quantize(Decimal('0.01'))}"


def _currency(value: str) -> str:
    if not _CURRENCY.match(value):
        raise ValueError("must be an ISO 4217 code such as EUR")
    return value.upper()


def _parameters(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of variable names to values")
    try:
        return template_parameters({"parameters": value})
    except ValidationError as exc:
        raise ValueError(exc.message) from None


WaId = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_wa_id),
    Field(description="E.164 digits without +", json_schema_extra={"pattern": _WA_ID.pattern}),
]


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_one_line(MAX_TEXT))]
Text16 = Annotated[str, Field(min_length=1, max_length=16), AfterValidator(_one_line(16))]
Text64 = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_one_line(64))]
Text128 = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_one_line(128))]
Text512 = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_one_line(512))]
Zoned = Annotated[
    datetime,
    BeforeValidator(_zoned),
    Field(description="ISO 8601 with a UTC offset, between 1970 and 9998"),
]
Amount = Annotated[
    str,
    PlainValidator(_amount),
    WithJsonSchema({"type": ["string", "number"], "description": 'Decimal amount, e.g. "84.90"'}),
]
Currency = Annotated[
    str,
    AfterValidator(_currency),
    Field(description="ISO 4217 code", json_schema_extra={"pattern": _CURRENCY.pattern}),
]
Parameters = Annotated[
    dict[str, str],
    PlainValidator(_parameters),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "number"]},
            "description": (
                "The template's variables by name, as text or numbers; a file header's variable is an "
                "http(s) URL or a media id, a location header's are its latitude, longitude, name and address"
            ),
        }
    ),
]
OrderStatus = Literal["placed", "confirmed", "shipped", "delayed", "delivered", "cancelled"]
assert get_args(OrderStatus) == ORDER_STATUSES


# -- orders ------------------------------------------------------------------------------------------


class OrderFields(Body):
    """What `PATCH /api/orders/{number}` may change; a status change sends its template once."""

    status: OrderStatus | None = None
    items: list[Any] | None = Field(None, description="The order's lines, as the business keeps them")
    total: Amount | None = None
    currency: Currency | None = None
    delivery_start: Zoned | None = None
    delivery_end: Zoned | None = Field(None, description="After delivery_start")
    tracking_number: Text128 | None = None
    reason: Text | None = Field(None, description="Why a delayed order is late (order_delayed's reason)")


class OrderCreate(OrderFields):
    """An order to store; the contact is created if missing."""

    number: Text64
    wa_id: WaId | None = Field(None, description="Required: the customer's number, E.164 digits without +")
    name: Text128 | None = Field(None, description="The customer's name, to greet them by")


# -- appointments --------------------------------------------------------------------------------------

Minutes = Annotated[int, Field(ge=1, le=24 * 60)]


class AppointmentBook(Body):
    """An appointment to book; its reminder is queued the lead time before it."""

    wa_id: WaId | None = Field(None, description="Required: the customer's number, E.164 digits without +")
    name: Text128 | None = Field(None, description="The customer's name, to greet them by")
    service: Text
    starts_at: Zoned
    duration_minutes: Minutes = 30
    location: Text


class AppointmentPatch(Body):
    """A reschedule (any of the times and places) or a cancellation."""

    service: Text | None = None
    starts_at: Zoned | None = None
    duration_minutes: Minutes | None = None
    location: Text | None = None
    status: Literal["booked", "cancelled"] | None = None


# -- accounts ------------------------------------------------------------------------------------------


class AccountPut(Body):
    """A balance to set; dropping below low_threshold sends account_balance_low once per crossing."""

    balance: Amount
    currency: Currency | None = Field(None, description="ISO 4217 code; required when the account is new")
    low_threshold: Amount | None = Field(None, description="null clears it")
    account_name: Text128 | None = None
    name: Text128 | None = Field(None, description="The customer's name, to greet them by")


# -- answers -------------------------------------------------------------------------------------------


class QueuedMessage(pydantic.BaseModel):
    """The utility message a call queued; queued=false when its key was already queued."""

    template: str
    key: str
    due_at: datetime
    queued: bool


class Order(pydantic.BaseModel):
    """An order as stored; its number is the business's own."""

    number: str
    status: OrderStatus
    items: list[Any] | None = Field(description="The order's lines, as the business keeps them")
    total: str | None = Field(description='Decimal amount with two places, e.g. "84.90"')
    currency: str | None = Field(description="ISO 4217 code")
    delivery_start: datetime | None
    delivery_end: datetime | None
    tracking_number: str | None
    delay_reason: str | None = Field(description="Why a delayed order is late")
    created_at: datetime
    updated_at: datetime


class Appointment(pydantic.BaseModel):
    """An appointment as stored; each reschedule bumps its revision."""

    id: int
    service: str
    starts_at: datetime
    duration_minutes: int
    status: Literal["booked", "cancelled"]
    location: str
    revision: int = Field(description="How many times it was rescheduled")
    created_at: datetime
    updated_at: datetime


class AppointmentPage(pydantic.BaseModel):
    items: list[Appointment]
    next_before: int | None


class Account(pydantic.BaseModel):
    """A customer's account balance, and whether the current dip below its threshold was alerted."""

    wa_id: str
    name: str = Field(description="The account's name, as account_name set it")
    balance: str = Field(description='Decimal amount with two places, e.g. "84.90"')
    currency: str
    low_threshold: str | None
    low_alerted: bool = Field(description="account_balance_low went out for the current dip")
    updated_at: datetime


class OrderAnswer(pydantic.BaseModel):
    order: Order
    notification: QueuedMessage | None


class AppointmentBooked(pydantic.BaseModel):
    appointment: Appointment
    reminder: QueuedMessage | None = Field(description="null once it has begun")


class AppointmentChanged(pydantic.BaseModel):
    appointment: Appointment
    notifications: list[QueuedMessage] = Field(description="The messages the change queued or moved")


class AccountAnswer(pydantic.BaseModel):
    account: Account
    notification: QueuedMessage | None


# -- notifications -------------------------------------------------------------------------------------


class NotificationItem(Body):
    """Any utility template to one contact, now or at send_at."""

    wa_id: WaId | None = Field(None, description="Required: the number, E.164 digits without +")
    template: Text512 = Field(description="A utility template's name")
    parameters: Parameters = Field(default_factory=dict)
    send_at: Zoned | None = Field(None, description="When to send; absent or past means now")
    idempotency_key: Text128 | None = Field(None, description="Without one, identical content is queued once")
    language: Text16 | None = None
    urgent: bool = Field(
        False, description="Send even in quiet hours (BOT_QUIET_HOURS), e.g. a payment the customer waits for"
    )


class NotificationBatch(Body):
    """Many notifications, each checked and answered on its own."""

    items: list[NotificationItem] = Field(min_length=1, max_length=MAX_BATCH)


class NotificationQueued(pydantic.BaseModel):
    notification: QueuedMessage


class ItemError(pydantic.BaseModel):
    """Why this item was not queued (code invalid_request), and with a body checked whole every wrong field."""

    code: str
    message: str
    fields: list[FieldProblem] | None = None


class ItemResult(pydantic.BaseModel):
    index: int = Field(description="The item's place in the request's items, from 0")
    status: Literal["queued", "duplicate", "error"]
    notification: QueuedMessage | None = Field(None, description="With queued and duplicate: the message and its key")
    error: ItemError | None = Field(None, description="With error: why this item was not queued")


class BatchResults(pydantic.BaseModel):
    """One result per item, in the order given."""

    items: list[ItemResult]
