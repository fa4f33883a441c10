"""`Repository.write_whole`: storage functions written for `AsyncConnection`, run as one write transaction.

On SQLite the whole coroutine runs in a worker thread on a synchronous connection (`storage.whole`); on
PostgreSQL in an ordinary transaction. Either way it commits all or nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import outbox, presence
from storage.contacts import ContactValues, upsert_contacts
from storage.models import OUTBOX
from storage.outbox import NewMessage
from storage.repository import Repository

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def message(contact_id: int, n: int) -> NewMessage:
    body = {"messaging_product": "whatsapp", "to": "31600000001", "type": "text", "text": {"body": f"m{n}"}}
    return NewMessage(kind="reply", contact_id=contact_id, recipient="31600000001", payload=body, due_at=NOW)


async def contact(repository: Repository) -> int:
    async with repository.transaction() as conn:
        stored = await upsert_contacts(conn, [ContactValues("31600000001", "Ana")], NOW)
    return stored["31600000001"].contact_id


async def queued(repository: Repository) -> int:
    async with repository.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one())


async def test_the_work_commits_whole_and_answers_what_it_returned(repository: Repository) -> None:
    """Several statements, reads among them, one transaction: the answer is the work's, the rows are stored."""
    cid = await contact(repository)

    async def work(conn: AsyncConnection) -> tuple[int, int]:
        added = await outbox.enqueue(conn, [message(cid, n) for n in range(3)], NOW)
        seen = await presence.beat(conn, "sender-a", NOW, timedelta(seconds=10))
        return added, seen.alive

    assert await repository.write_whole(work) == (3, 1)
    assert await queued(repository) == 3
    claimed = await repository.claim_due(owner="sender-a", now=NOW, lease=timedelta(seconds=60), limit=10)
    assert len(claimed) == 1  # one contact's messages go one at a time, in order


async def test_work_that_raises_leaves_nothing_behind(repository: Repository) -> None:
    cid = await contact(repository)

    async def work(conn: AsyncConnection) -> None:
        await outbox.enqueue(conn, [message(cid, 1)], NOW)
        raise LookupError("taken")

    with pytest.raises(LookupError):
        await repository.write_whole(work)
    assert await queued(repository) == 0


async def test_on_sqlite_work_that_waits_on_anything_but_its_connection_is_refused(repository: Repository) -> None:
    """It runs without the event loop, so it cannot await a sleep or a lock; it is refused and rolled back."""
    if repository.dialect != "sqlite":
        pytest.skip("only SQLite runs the work in a thread without the event loop")
    cid = await contact(repository)

    async def work(conn: AsyncConnection) -> None:
        await outbox.enqueue(conn, [message(cid, 1)], NOW)
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="cannot run whole in a thread"):
        await repository.write_whole(work)
    assert await queued(repository) == 0
