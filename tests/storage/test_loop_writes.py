"""SQLite: webhook batches written on the event loop while the write lock is free, in a worker thread when not."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection

from bot.whatsapp.webhook_parser import parse_payload
from storage import inbox
from storage.repository import Repository
from storage.sqlite_writes import CHECKPOINT_EVERY
from tests.conftest import text_webhook


@pytest.fixture
async def sqlite_repository(migrated_sqlite: Path, tmp_path: Path) -> AsyncIterator[tuple[Repository, Path]]:
    path = tmp_path / "bot.db"
    shutil.copyfile(migrated_sqlite, path)
    repository = Repository.connect(f"sqlite+aiosqlite:///{path}")
    yield repository, path
    await repository.close()


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each batch was stored in."""
    seen: list[str] = []
    store = inbox.store_deliveries

    def spy(conn: Connection, deliveries: Sequence[inbox.Delivery]) -> list[inbox.StoredDelivery]:
        seen.append(threading.current_thread().name)
        return store(conn, deliveries)

    monkeypatch.setattr(inbox, "store_deliveries", spy)
    return seen


def _batch(tag: str, size: int = 3) -> list[inbox.Delivery]:
    return [
        inbox.Delivery(body="{}", parsed=parse_payload(text_webhook(wa_id=f"3161{i:07d}", wamid=f"wamid.{tag}.{i}")))
        for i in range(size)
    ]


def _in_database_file(path: Path) -> int:
    """Messages in the database file itself: what a checkpoint has copied there, not what is only in the log."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM message").fetchone()[0])


async def test_a_batch_is_written_on_the_event_loop_while_the_write_lock_is_free(
    sqlite_repository: tuple[Repository, Path], threads: list[str]
) -> None:
    repository, _ = sqlite_repository
    stored = await repository.store_deliveries(_batch("a"))
    assert [s.new_messages for s in stored] == [1, 1, 1]
    assert threads == [threading.current_thread().name]
    again = await repository.store_deliveries(_batch("a"))  # the same wamids: duplicates, nothing new
    assert [(s.new_messages, s.duplicate_messages) for s in again] == [(0, 1)] * 3


async def test_a_batch_waits_in_a_worker_thread_while_another_process_holds_the_write_lock(
    sqlite_repository: tuple[Repository, Path], threads: list[str]
) -> None:
    """The event loop goes on meanwhile; the batch is stored once the lock is let go."""
    repository, path = sqlite_repository
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        storing = asyncio.create_task(repository.store_deliveries(_batch("b")))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20
        assert not storing.done()
    finally:
        other.execute("COMMIT")
        other.close()
    stored = await asyncio.wait_for(storing, timeout=30)
    assert [s.new_messages for s in stored] == [1, 1, 1]
    assert len(threads) == 1
    assert threads[0] != threading.current_thread().name


async def test_the_log_the_loop_leaves_is_checkpointed_in_a_worker_thread(
    sqlite_repository: tuple[Repository, Path],
) -> None:
    """The loop's commits never copy the log into the file; every `CHECKPOINT_EVERY` batches, a thread does."""
    repository, path = sqlite_repository
    for n in range(CHECKPOINT_EVERY - 1):
        await repository.store_deliveries(_batch(str(n), size=2))
    assert _in_database_file(path) == 0
    await repository.store_deliveries(_batch("last", size=2))
    for _ in range(500):
        if _in_database_file(path) == 2 * CHECKPOINT_EVERY:
            break
        await asyncio.sleep(0.01)
    assert _in_database_file(path) == 2 * CHECKPOINT_EVERY
