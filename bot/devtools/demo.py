"""`bot demo`: demo contacts (with consent and tags), orders, appointments and accounts, so every page has data.

Read by the API's own readers, then stored directly without sending anything: no order update or reminder is
queued by loading them. Loading
twice changes nothing (contacts are upserted, orders and accounts looked up first, appointments keyed
by contact and time). The people and numbers are made up; meant for the sandbox, where nothing leaves
the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.api.notifications import appointment_from, order_from
from bot.engine.business_hours import Business, Service, bookable_days, free_slots, local_day, wall_time
from bot.notifications.rules import check_order
from storage import business, consent
from storage.consent import ConsentChange
from storage.contacts import ContactValues, upsert_contacts
from storage.models import AccountBase
from storage.repository import Repository

_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class DemoContact:
    wa_id: str
    name: str
    language: str
    time_zone: str
    tags: tuple[str, ...]
    marketing: str | None  # opt_in, opt_out or None (never asked)


CONTACTS = (
    DemoContact("31699990001", "Ana de Vries", "nl", "Europe/Amsterdam", ("vip", "spring"), "opt_in"),
    DemoContact("31699990002", "Bram Jansen", "nl", "Europe/Amsterdam", ("spring",), "opt_out"),
    DemoContact("5511999990003", "Carla Souza", "pt_BR", "America/Sao_Paulo", ("spring", "newsletter"), "opt_in"),
    DemoContact("491519990004", "Dieter Braun", "de", "Europe/Berlin", ("newsletter",), None),
    DemoContact("447999990005", "Emma Clarke", "en", "Europe/London", ("vip",), "opt_in"),
    DemoContact("351919990006", "Filipa Lopes", "en", "Europe/Lisbon", ("spring",), "opt_in"),
)
# Each order as the body of `POST /api/orders` (its times filled in by `_order_bodies`): number, contact index,
# status, total, and what that status's message needs.
ORDERS: tuple[tuple[str, int, str, str, dict[str, str]], ...] = (
    ("10482", 0, "shipped", "84.90", {"tracking_number": "3SDEMO10482"}),
    ("10483", 0, "delivered", "19.50", {}),
    ("10490", 2, "delayed", "142.00", {"reason": "the courier missed the pick-up"}),
    ("10495", 4, "confirmed", "39.99", {}),
)
ACCOUNTS = ((0, "250.00"), (2, "12.40"), (4, "1200.00"))  # contact index, balance (EUR)
APPOINTMENTS = ((0, 0), (4, 1))  # contact index, index of the business file's service
# Without a business file: Monday to Saturday, 09:00-17:00, one service.
_NO_FILE = Business(hours=(((9 * 60, 17 * 60),),) * 6 + ((),), services=(), slot=timedelta(minutes=30))


@dataclass(frozen=True)
class Loaded:
    contacts: int
    orders: int
    appointments: int
    accounts: int


async def load_demo(
    repository: Repository, now: datetime | None = None, *, business: Business | None = None, zone: ZoneInfo = _UTC
) -> Loaded:
    """Store the demo data in one transaction; returns what was new.

    Orders and appointments are read by the API's own readers (`bot.api.notifications`), so they hold what
    the API would accept, and each order has what its status's message needs. Appointments are booked in
    free slots of `business` (flows/data/business.yaml: its services, hours and places) in `zone`.
    """
    now = now or datetime.now(UTC)
    async with repository.transaction() as conn:
        values = [ContactValues(c.wa_id, c.name, c.language, c.time_zone, c.tags) for c in CONTACTS]
        stored = await upsert_contacts(conn, values, now)
        ids = [stored[c.wa_id].contact_id for c in CONTACTS]
        changes = [
            ConsentChange(cid, c.marketing, "import", {"evidence": "bot demo", "line": index + 1}, now,
                          dedupe_key=f"demo:{c.wa_id}:{c.marketing}")
            for index, (c, cid) in enumerate(zip(CONTACTS, ids, strict=True)) if c.marketing
        ]  # fmt: skip
        await consent.record(conn, changes, now)
        orders = await _orders(conn, ids, now, zone)
        appointments = await _appointments(conn, ids, now, business, zone)
        accounts = await _accounts(conn, ids, now)
    return Loaded(sum(s.created for s in stored.values()), orders, appointments, accounts)


def chat_as() -> list[str]:
    """The demo's numbers, with who they are and what they have: what `bot demo` tells people to chat as."""
    lines = []
    for index, contact in enumerate(CONTACTS):
        has = [f"order {number} {status}" for number, who, status, _, _ in ORDERS if who == index]
        has += ["an appointment" for who, _ in APPOINTMENTS if who == index]
        has += ["an account" for who, _ in ACCOUNTS if who == index]
        lines.append(f"  {contact.wa_id:<14} {contact.name} ({contact.language}): {', '.join(has) or 'no data'}")
    return lines


def _at(day: date, hour: int, zone: ZoneInfo) -> str:
    return wall_time(day, hour * 60, zone).astimezone(zone).isoformat()


def _order_bodies(now: datetime, zone: ZoneInfo) -> list[dict[str, Any]]:
    today = local_day(now, zone)
    bodies = []
    for number, who, status, total, extra in ORDERS:
        body: dict[str, Any] = {
            "number": number, "wa_id": CONTACTS[who].wa_id, "name": CONTACTS[who].name, "status": status,
            "total": total, "currency": "EUR", "items": [{"name": "Merino running jacket", "quantity": 1}], **extra,
        }  # fmt: skip
        if status == "shipped":  # a window on one day, in the morning
            day = today + timedelta(days=2)
            body |= {"delivery_start": _at(day, 9, zone), "delivery_end": _at(day, 13, zone)}
        elif status in ("delayed", "confirmed"):
            body["delivery_start"] = _at(today + timedelta(days=5 if status == "delayed" else 3), 9, zone)
        bodies.append(body)
    return bodies


async def _orders(conn: AsyncConnection, ids: list[int], now: datetime, zone: ZoneInfo) -> int:
    added = 0
    for body, (_, who, *_) in zip(_order_bodies(now, zone), ORDERS, strict=True):
        _, order = order_from(body)
        check_order(order)
        if await business.order_by_number(conn, order.number) is not None:
            continue
        update = {"contact_id": ids[who], "created_at": now - timedelta(days=4), "updated_at": now}
        await business.add_order(conn, order.model_copy(update=update))
        added += 1
    return added


def _slots(shop: Business | None, now: datetime, zone: ZoneInfo) -> list[tuple[int, dict[str, Any]]]:
    """The demo's appointments as `POST /api/appointments` bodies, in free slots two or more days ahead."""
    shop = shop if shop is not None and shop.services else None
    hours = shop or _NO_FILE
    services = shop.services if shop else (Service("fitting", "Fitting", timedelta(minutes=30), "Main St 1"),)
    taken: list[tuple[datetime, datetime]] = []
    wanted = []
    days = [d for d in bookable_days(hours, now, zone) if d >= local_day(now, zone) + timedelta(days=2)]
    for who, service_index in APPOINTMENTS:
        service = services[service_index % len(services)]
        start = next(
            (s for d in days for s in free_slots(hours, d, service.duration, now=now, zone=zone, busy=taken)), None
        )
        if start is None:  # a business file with nothing free in its horizon: no demo appointment
            continue
        taken.append((start, start + service.duration + timedelta(hours=2)))  # apart, not back to back
        minutes = int(service.duration.total_seconds() // 60)
        body = {
            "wa_id": CONTACTS[who].wa_id, "service": service.title, "starts_at": start.astimezone(zone).isoformat(),
            "duration_minutes": minutes, "location": service.location,
        }  # fmt: skip
        wanted.append((who, body))
    return wanted


async def _appointments(
    conn: AsyncConnection, ids: list[int], now: datetime, shop: Business | None, zone: ZoneInfo
) -> int:
    added = 0
    for who, body in _slots(shop, now, zone):
        _, appointment = appointment_from(body)
        if await business.has_appointment_at(conn, ids[who], appointment.starts_at):
            continue
        update = {"contact_id": ids[who], "created_at": now, "updated_at": now}
        await business.add_appointment(conn, appointment.model_copy(update=update))
        added += 1
    return added


async def _accounts(conn: AsyncConnection, ids: list[int], now: datetime) -> int:
    added = 0
    for who, balance in ACCOUNTS:
        if await business.account_for(conn, ids[who]) is not None:
            continue
        account = AccountBase(
            contact_id=ids[who], balance=balance, currency="EUR", low_threshold="20.00", updated_at=now
        )
        await business.save_account(conn, account)
        added += 1
    return added
