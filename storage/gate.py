"""An in-process gate for SQLite's single writer, letting webhook batches go first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    """One write transaction at a time in this process, urgent ones (webhook batches) first.

    SQLite has one write lock per database. Left to itself, a writer that finds it taken sleeps in
    SQLite's busy handler (1 ms, then 2, 5 … up to 100 ms) while the lock may already be free; queueing
    in the event loop instead hands the lock over at once. Urgent writers overtake waiting ordinary ones,
    because a webhook waiting for its commit holds Meta's request open, while a turn or a send can wait.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._urgent_waiting = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        if urgent:
            self._urgent_waiting += 1
            self._no_urgent.clear()
            try:
                await self._lock.acquire()
            finally:
                self._urgent_waiting -= 1
                if not self._urgent_waiting:
                    self._no_urgent.set()
        else:
            while True:
                await self._no_urgent.wait()
                await self._lock.acquire()
                if not self._urgent_waiting:
                    break
                self._lock.release()  # an urgent writer arrived meanwhile: let it through first
        try:
            yield
        finally:
            self._lock.release()
