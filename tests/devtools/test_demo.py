"""`bot demo`: demo contacts with consent, orders, appointments and accounts, stored once, nothing sent."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.devtools.demo import CONTACTS, load_demo
from storage import consent
from storage.models import OUTBOX
from storage.repository import Repository


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
