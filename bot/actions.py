"""Named async actions that flows' `act` steps call: reads of the business's data for the contact in the turn.

Each action gets the turn's context (its transaction, the contact, the clock) and the step's rendered
arguments, and returns JSON-like data that lands in a slot. Actions only ever see the contact whose turn
it is: an order number typed by one customer never shows another customer's order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.notification_rules import show_amount, show_date, show_time
from storage import business
from storage.models import ContactBase, OrderBase


@dataclass(frozen=True)
class ActionContext:
    conn: AsyncConnection
    contact: ContactBase
    now: datetime
    zone: ZoneInfo


Action = Callable[[ActionContext, Mapping[str, str]], Awaitable[Any]]
RECENT_ORDERS = 10


def _order(order: OrderBase, zone: ZoneInfo) -> dict[str, Any]:
    """An order as flows show it: its fields, plus the dates and amounts already written for people."""
    shown: dict[str, Any] = {
        "number": order.number,
        "status": order.status,
        "total": show_amount(order.total, order.currency) if order.total and order.currency else None,
        "tracking_number": order.tracking_number,
        "delay_reason": order.delay_reason,
        "delivery_date": show_date(order.delivery_start, zone) if order.delivery_start else None,
        "window_start": show_time(order.delivery_start, zone) if order.delivery_start else None,
        "window_end": show_time(order.delivery_end, zone) if order.delivery_end else None,
    }
    return shown


async def lookup_order(ctx: ActionContext, args: Mapping[str, str]) -> dict[str, Any] | None:
    """The contact's own order with this number, or None (also when it is someone else's)."""
    number = (args.get("number") or "").strip().lstrip("#")
    order = await business.order_by_number(ctx.conn, number) if number else None
    if order is None or order.contact_id != ctx.contact.id:
        return None
    return _order(order, ctx.zone)


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
    return {"name": account.name, "balance": show_amount(account.balance, account.currency), "low": low}


async def upcoming_appointments(ctx: ActionContext, args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The contact's booked appointments still ahead, soonest first, as choices: `{id, title, description}`."""
    if ctx.contact.wa_id is None:
        return []
    booked = [
        a
        for a in await business.appointments_for(ctx.conn, ctx.contact.wa_id)
        if a.status == "booked" and a.starts_at > ctx.now
    ]
    return [
        {
            "id": str(a.id),
            "title": a.service[:24],
            "description": f"{show_date(a.starts_at, ctx.zone)} at {show_time(a.starts_at, ctx.zone)}, {a.location}"[
                :72
            ],
        }
        for a in booked
    ]


ACTIONS: dict[str, Action] = {
    "orders.lookup": lookup_order,
    "orders.recent": recent_orders,
    "account.balance": account_balance,
    "appointments.upcoming": upcoming_appointments,
}
