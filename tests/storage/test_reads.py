"""Specification of storage.reads: read marks, unread counts of the customers waiting for a person, new rows."""

from __future__ import annotations

from sqlalchemy import insert

from storage import reads, session
from storage.contacts import ContactValues, upsert_contacts
from storage.models import MESSAGE
from storage.repository import Repository
from tests.conftest import FakeClock

ANA, BEN = "31612345001", "31612345002"
_wamids = iter(range(10**6))


async def _messages(repository: Repository, clock: FakeClock, contact_id: int, *directions: str) -> None:
    rows = [
        {"wamid": f"wamid.{next(_wamids)}", "direction": d, "contact_id": contact_id,
         "type": "text", "text": "hi", "status": "received", "created_at": clock.now}
        for d in directions
    ]  # fmt: skip
    async with repository.transaction() as conn:
        await conn.execute(insert(MESSAGE), rows)


async def test_unread_counts_the_waiting_customers_messages_after_the_read_mark(
    repository: Repository, clock: FakeClock
) -> None:
    """Only customers waiting for a person count, only their own messages, and only those after the mark."""
    async with repository.transaction() as conn:
        stored = await upsert_contacts(conn, [ContactValues(ANA), ContactValues(BEN)], clock.now)
        ana, ben = stored[ANA].contact_id, stored[BEN].contact_id
        await session.save_sessions(conn, {ana: {"handed_off": True}, ben: {"flow": "main"}}, clock.now)
    await _messages(repository, clock, ana, "in", "out", "in")
    await _messages(repository, clock, ben, "in")
    async with repository.engine.connect() as conn:
        assert await reads.unread(conn) == {ana: 2}  # Ben talks with the bot: nothing waits for a person
        assert await reads.waiting_numbers(conn) == {ANA}
        newest = await reads.newest_id(conn)
        assert [(w.wa_id, w.direction) for w in await reads.messages_after(conn, newest - 2, 10)] == [
            (ANA, "in"),
            (BEN, "in"),
        ]

    async with repository.transaction() as conn:
        await reads.mark_read(conn, ana, clock.now)
    await _messages(repository, clock, ana, "in")
    async with repository.engine.connect() as conn:
        assert await reads.unread(conn) == {ana: 1}


async def test_a_read_mark_never_moves_back(repository: Repository, clock: FakeClock) -> None:
    """Marking a chat read twice, or from a page opened earlier, keeps the newest mark."""
    async with repository.transaction() as conn:
        ana = (await upsert_contacts(conn, [ContactValues(ANA)], clock.now))[ANA].contact_id
        await session.save_sessions(conn, {ana: {"handed_off": True}}, clock.now)
        await reads.mark_read(conn, ana, clock.now)  # no messages yet: nothing to mark
    await _messages(repository, clock, ana, "in", "in")
    async with repository.transaction() as conn:
        await reads.mark_read(conn, ana, clock.now)
        await reads.mark_read(conn, ana, clock.now)
    async with repository.engine.connect() as conn:
        assert await reads.unread(conn) == {}
