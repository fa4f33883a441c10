"""SQLite's write transactions done whole in one go: on the event loop while the write lock is free, else in a thread.

Through aiosqlite every statement is a hand-off to the driver's thread and back; work done whole on the
standard `sqlite3` driver costs one hand-off, or none. A webhook batch goes on the event loop when the
write lock is free, which it nearly always is: the gate keeps this process's own writers out, so only
another process (a `bot worker`, a command) can hold it. Handed to a worker thread, the same batches cost a
fifth more CPU per acknowledgement (`bot bench webhook`: 5,110-5,480 acks/s against 6,090-6,150), in the
hand-off and in the two threads taking the GIL from each other. A batch is pure CPU for the few milliseconds
it takes: commits do not wait for the disk (WAL, `synchronous=NORMAL`), and the checkpoints that do run in a
worker thread. When another process holds the lock, the batch waits for it in a worker thread, within the
busy timeout, as every other write does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from storage.database import checkpoint, create_sqlite_thread_engine
from storage.gate import WriteGate

# Transactions on the event loop leave SQLite's write-ahead log to grow: after this many, it is copied into
# the database file in a worker thread. A copy waits for the disk (800 pages took 10-13 ms here); SQLite's
# own, at 1,000 pages, would have stalled the event loop that long.
CHECKPOINT_EVERY = 16
_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # `BEGIN IMMEDIATE` found the write lock taken

log = structlog.get_logger("storage.sqlite_writes")
T = TypeVar("T")


class SQLiteWrites:
    """The gate for this process's writers, and two synchronous engines on the file to write whole with.

    Failures surface as SQLAlchemy's `OperationalError`; the repository says what they mean.
    """

    def __init__(self, url: str) -> None:
        self.gate = WriteGate()
        self._thread_engine = create_sqlite_thread_engine(url)
        self._loop_engine = create_sqlite_thread_engine(url, busy_timeout_ms=0, checkpoints=False)
        self._since_checkpoint = 0
        self._checkpointing: asyncio.Task[None] | None = None

    async def in_thread(self, fn: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """`fn` in one write transaction, in a worker thread: one hand-off."""
        async with self.gate.hold(urgent=urgent):
            return await self._thread_transaction(fn)

    async def at_once(self, fn: Callable[[Connection], T]) -> T:
        """`fn` in one urgent write transaction: on the event loop if the write lock is free, else in a thread."""
        async with self.gate.hold(urgent=True):
            done = self._on_loop(fn)
            if done is None:
                return await self._thread_transaction(fn)
            self._checkpoint_soon()
            return done[0]

    async def close(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
        self._thread_engine.dispose()
        self._loop_engine.dispose()

    async def _thread_transaction(self, fn: Callable[[Connection], T]) -> T:
        def transaction() -> T:
            with self._thread_engine.begin() as conn:
                return fn(conn)

        return await asyncio.to_thread(transaction)

    def _on_loop(self, fn: Callable[[Connection], T]) -> tuple[T] | None:
        """`fn` in one write transaction right here, if SQLite's write lock is free; None if it is not.

        Called with the gate held, so no transaction of this process has the lock: only another
        process's can, and then `BEGIN IMMEDIATE` fails at once (the engine has no busy timeout).
        """
        with self._loop_engine.connect() as conn:
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", None) in _LOCKED:
                    return None
                raise
            with transaction:
                return (fn(conn),)

    def _checkpoint_soon(self) -> None:
        """Count a transaction on the loop; every `CHECKPOINT_EVERY`, checkpoint in a worker thread."""
        self._since_checkpoint += 1
        if self._since_checkpoint < CHECKPOINT_EVERY or self._checkpointing is not None:
            return
        self._since_checkpoint = 0
        self._checkpointing = asyncio.create_task(self._checkpoint(), name="sqlite-checkpoint")

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(checkpoint, self._loop_engine)
        except Exception as exc:  # top-level task: the next one tries again; SQLite's log only grows meanwhile
            log.warning("sqlite.checkpoint_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            self._checkpointing = None
