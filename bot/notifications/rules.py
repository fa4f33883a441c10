"""The pure core of utility notifications: which template a change sends, with which values, and when.

No I/O and no clock of its own: `bot.notifications.service` loads the rows, asks these functions, and writes.
Times are UTC inside; dates, times and amounts are written by a `Reader`: in the template's language, on
the customer's clock (`bot.language.reader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.errors import ValidationError
from bot.language.reader import Reader
from storage.models import AccountBase, AppointmentBase, OrderBase

ORDER_STATUSES = ("placed", "confirmed", "shipped", "delayed", "delivered", "cancelled")
# The utility template each order status sends. Delivered and cancelled send nothing: no approved
# template says so, and a made-up one would need Meta's approval first (add it here once it has one).
ORDER_TEMPLATES = {
    "confirmed": "order_confirmation",
    "shipped": "shipping_window",
    "delayed": "order_delayed",
    "delivered": "order_delivered",
}
# What each of those templates needs from the order, by the field a caller sets.
ORDER_NEEDS = {
    "confirmed": ("total", "currency", "delivery_start"),
    "shipped": ("delivery_start", "delivery_end", "tracking_number"),
    "delayed": ("delivery_start", "delay_reason"),
    "delivered": (),
}
DEFAULT_NAME = "there"  # "Hi there," when the business never learnt the customer's name


@dataclass(frozen=True)
class Notice:
    """One utility message to queue: the template, its values, its idempotency key and when it is due."""

    template: str
    values: dict[str, str]
    key: str
    due_at: datetime
    subject: str | None = None  # what the sender re-checks at send time (see `storage.policy.unwanted_subjects`)
    urgent: bool = False  # sent even in quiet hours


def order_template(order: OrderBase) -> str | None:
    """The template the order's current status sends, or None when that status sends nothing."""
    return ORDER_TEMPLATES.get(order.status)


def check_order(order: OrderBase) -> None:
    """A `ValidationError` naming what the order's status message needs and the order lacks."""
    name = order_template(order)
    missing = [field for field in ORDER_NEEDS.get(order.status, ()) if getattr(order, field) is None]
    if name is not None and missing:
        raise ValidationError(f"a {order.status} order needs {', '.join(missing)} for its {name} message")


def order_notice(order: OrderBase, customer_name: str, reader: Reader, now: datetime) -> Notice | None:
    """The template the order's current status sends, or None when that status sends nothing.

    The key is ``order:{number}:{status}``, so repeating a status change queues nothing new.
    """
    name = order_template(order)
    if name is None:
        return None
    check_order(order)
    values = {"order_number": order.number, "customer_name": customer_name}
    start = order.delivery_start
    if order.status == "confirmed":
        assert start is not None
        assert order.total is not None
        assert order.currency is not None
        values |= {"total": reader.amount(order.total, order.currency), "delivery_date": reader.date(start)}
    elif order.status == "shipped":
        assert start is not None
        assert order.delivery_end is not None
        assert order.tracking_number is not None
        values |= {
            "delivery_date": reader.date(start),
            "window_start": reader.time(start, place=False),
            "window_end": reader.time(order.delivery_end),
            "tracking_number": order.tracking_number,
        }
    elif order.status == "delayed":
        assert start is not None
        assert order.delay_reason is not None
        values |= {"new_delivery_date": reader.date(start), "reason": order.delay_reason}
    else:  # delivered: the day the business reported it
        values |= {"delivered_date": reader.date(now)}
    return Notice(name, values, f"order:{order.number}:{order.status}", now, f"order:{order.id}:{order.status}")


def appointment_values(appointment: AppointmentBase, customer_name: str, reader: Reader) -> dict[str, str]:
    """The values of both appointment templates (reminder and update): who, what, when and where."""
    return {
        "customer_name": customer_name,
        "service": appointment.service,
        "date": reader.date(appointment.starts_at),
        "time": reader.time(appointment.starts_at),
        "location": appointment.location,
    }


def reminder_due(starts_at: datetime, lead: timedelta, now: datetime) -> datetime | None:
    """When the reminder goes: `lead` before the start, at once if that is past, never once it has started."""
    if starts_at <= now:
        return None
    return max(starts_at - lead, now)


def reminder_key(appointment_id: int, revision: int) -> str:
    """``appointment:{id}:reminder``; a reminder re-sent after a reschedule gets the revision appended."""
    base = f"appointment:{appointment_id}:reminder"
    return base if revision == 0 else f"{base}:{revision}"


@dataclass(frozen=True)
class BalanceCheck:
    """What a new balance means for the low-balance alert: send one now, and the alert's new state."""

    alert: bool
    alerted: bool


def check_balance(balance: str, threshold: str | None, *, alerted: bool) -> BalanceCheck:
    """Alert once when the balance goes below the threshold; going back to it or above re-arms the alert."""
    low = threshold is not None and Decimal(balance) < Decimal(threshold)
    return BalanceCheck(alert=low and not alerted, alerted=low)


def balance_values(account: AccountBase, customer_name: str, reader: Reader) -> dict[str, str]:
    assert account.low_threshold is not None
    return {
        "customer_name": customer_name,
        "account_name": account.name,
        "balance": reader.amount(account.balance, account.currency),
        "threshold": reader.amount(account.low_threshold, account.currency),
    }
