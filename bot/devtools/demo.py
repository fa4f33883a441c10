"""`bot demo`: demo contacts (with consent and tags), orders, appointments and accounts, so every page has data.

Stored directly, without sending anything: no order update or reminder is queued by loading them. Loading
twice changes nothing (contacts are upserted, orders and accounts looked up first, appointments keyed
by contact and time). The people and numbers are made up; meant for the sandbox, where nothing leaves
the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from storage import business, consent
from storage.consent import ConsentChange
from storage.contacts import ContactValues, upsert_contacts
from storage.models import AccountBase, AppointmentBase, OrderBase
from storage.repository import Repository


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
ORDERS = (  # number, contact index, status, total
    ("10482", 0, "shipped", "84.90"),
    ("10483", 0, "delivered", "19.50"),
    ("10490", 2, "delayed", "142.00"),
    ("10495", 4, "confirmed", "39.99"),
)
ACCOUNTS = ((0, "250.00"), (2, "12.40"), (4, "1200.00"))  # contact index, balance (EUR)


@dataclass(frozen=True)
class Loaded:
    contacts: int
    orders: int
    appointments: int
    accounts: int


async def load_demo(repository: Repository, now: datetime | None = None) -> Loaded:
    """Store the demo data in one transaction; returns what was new."""
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
        orders = await _orders(conn, ids, now)
        appointments = await _appointments(conn, ids, now)
        accounts = await _accounts(conn, ids, now)
    return Loaded(sum(s.created for s in stored.values()), orders, appointments, accounts)


async def _orders(conn: AsyncConnection, ids: list[int], now: datetime) -> int:
    added = 0
    for number, who, status, total in ORDERS:
        if await business.order_by_number(conn, number) is not None:
            continue
        window = (
            (now + timedelta(days=1), now + timedelta(days=3)) if status in ("shipped", "delayed") else (None, None)
        )
        await business.add_order(
            conn,
            OrderBase(
                number=number, contact_id=ids[who], status=status, total=total, currency="EUR",
                items=[{"name": "Merino running jacket", "quantity": 1}], delivery_start=window[0],
                delivery_end=window[1], created_at=now - timedelta(days=4), updated_at=now,
            ),
        )  # fmt: skip
        added += 1
    return added


async def _appointments(conn: AsyncConnection, ids: list[int], now: datetime) -> int:
    day = (now + timedelta(days=2)).date()
    wanted = [
        (ids[0], "Fitting", datetime.combine(day, time(10, 0), UTC)),
        (ids[4], "Repair", datetime.combine(day, time(14, 30), UTC)),
    ]
    added = 0
    for contact_id, service, starts_at in wanted:
        if await business.has_appointment_at(conn, contact_id, starts_at):
            continue
        appointment = AppointmentBase(
            contact_id=contact_id, service=service, starts_at=starts_at, location="Example Store, Baixa",
            created_at=now, updated_at=now,
        )  # fmt: skip
        await business.add_appointment(conn, appointment)
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
