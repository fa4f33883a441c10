"""An in-process gate for SQLite's single writer, letting webhook batches go first but never always."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    """One write transaction at a time in this process, urgent ones (webhook batches) first, turn about.

    SQLite has one write lock per database. Left to itself, a writer that finds it taken sleeps in
    SQLite's busy handler (1 ms, then 2, 5 … up to 100 ms) while the lock may already be free; queueing
    in the event loop instead hands the lock over at once.

    Urgent writers overtake waiting ordinary ones, because a webhook waiting for its commit holds Meta's
    request open, while a turn or a send can wait. But not for ever: after an urgent transaction that
    committed, a waiting ordinary one goes next. When the webhook batches came back to back (4,000
    customer texts posted in 1.4 s), strict priority kept every turn and every send out until the last
    webhook was stored, and the first reply left 1.5 s after the first text. Turn about, a webhook waits
    for at most one ordinary transaction, and the batch it then joins is larger.

    After a transaction that failed (the database locked by another process past the busy timeout,
    say), urgent writers keep the priority: each ordinary transaction would wait out its own busy
    timeout too, and the webhooks, which answer 503 so that Meta retries, would wait behind them.

    The gate is handed on in the next turn of the event loop, not as the holder leaves: the webhook
    writer asks again at once for the batch that formed meanwhile, and is counted as waiting.
    """

    def __init__(self) -> None:
        self._held = False
        self._last_urgent = False
        self._last_failed = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        failed = True
        try:
            yield
            failed = False
        finally:
            self._last_failed = failed
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held:  # free: nobody waits while it is free
            self._held, self._last_urgent = True, urgent
            return
        turn = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._ordinary).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed the gate as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # already passed over by `_release`
                    (self._urgent if urgent else self._ordinary).remove(turn)
            raise

    def _release(self) -> None:
        if self._urgent or self._ordinary:
            asyncio.get_running_loop().call_soon(self._hand_on)  # still held meanwhile: newcomers queue
        else:
            self._held = False

    def _hand_on(self) -> None:
        turn_about = self._last_urgent and not self._last_failed
        first, then = (self._ordinary, self._urgent) if turn_about else (self._urgent, self._ordinary)
        for queue in (first, then):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # the gate stays held, by the waiter now
                    self._last_urgent = queue is self._urgent
                    return
        self._held = False
