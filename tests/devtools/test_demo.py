"""`bot demo`: demo contacts with consent, orders, appointments and accounts, stored once, nothing sent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bot.devtools.demo import CONTACTS, load_demo
from storage import business, consent
from storage.models import OUTBOX, AppointmentBase
from storage.repository import Repository

BUSINESS_YAML = Path(__file__).resolve().parents[2] / "flows" / "data" / "business.yaml"


async def test_demo_data_loads_once_and_sends_nothing(repository: Repository) -> None:
    """A second load adds nothing; consent follows each demo contact; the outbox stays empty."""
    first = await load_demo(repository)
    assert (first.contacts, first.orders, first.appointments, first.accounts) == (6, 4, 2, 3)
    again = await load_demo(repository)
    assert (again.contacts, again.orders, again.appointments, again.accounts) == (0, 0, 0, 0)
    async with repository.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one() == 0
        for demo in CONTACTS:
            contact = await repository.contact_by_wa_id(demo.wa_id)
            assert contact is not None
            assert contact.id is not None
            assert (await consent.states(conn, [contact.id])).get(contact.id) == demo.marketing
            assert len(await consent.history(conn, contact.id)) == (1 if demo.marketing else 0)


async def test_demo_appointments_are_free_slots_of_the_business_file(repository: Repository) -> None:
    """With flows/data/business.yaml, each appointment is one of its services, at its place, in an open slot."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from bot.engine.business_hours import load_business, slot_starts

    shop = load_business(BUSINESS_YAML)
    zone = ZoneInfo("Europe/Lisbon")
    assert (await load_demo(repository, business=shop, zone=zone)).appointments == 2
    services = {s.title: s for s in shop.services}
    for wa_id in (CONTACTS[0].wa_id, CONTACTS[4].wa_id):
        [appointment] = await repository_appointments(repository, wa_id)
        service = services[appointment.service]
        assert appointment.location == service.location
        assert appointment.duration_minutes == service.duration // timedelta(minutes=1)
        day = appointment.starts_at.astimezone(zone).date()
        assert appointment.starts_at in slot_starts(shop, day, service.duration, zone)


async def repository_appointments(repository: Repository, wa_id: str) -> list[AppointmentBase]:
    async with repository.engine.connect() as conn:
        return await business.appointments_page(conn, wa_id, limit=10, before=None)
