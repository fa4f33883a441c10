"""Group commit for webhook deliveries: many requests, one transaction, each answered only once stored."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from bot.errors import StorageUnavailable
from storage.inbox import Delivery, StoredDelivery
from storage.repository import DatabaseUnavailable, Repository

log = structlog.get_logger("bot.inbound.ingest")

# Turns of the event loop the writer lets pass between the first delivery of a batch and taking the
# batch. The first request wakes the writer before the loop has handled the others already received;
# taken at once, batches averaged 24 deliveries with 64 webhooks in flight, and a batch's fixed cost
# (the transaction, its commit, four look-ups) was paid that often. Three turns: `bot bench webhook`
# went from 3,700-3,750 acks/s (0.25 ms CPU each) to 4,100-5,400 (0.17-0.23 ms) on a noisy machine.
# A turn with nothing to do costs microseconds and no timer, so a lone webhook is not delayed.
GATHER_TURNS = 3


@dataclass
class _Pending:
    delivery: Delivery
    done: asyncio.Future[StoredDelivery] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Ingestor:
    """Stores webhook deliveries in batches so that one fsync serves every request waiting for it.

    A request calls `store()` and waits; one writer task takes everything queued so far (up to
    `max_batch`), writes it in one transaction and resolves every waiter. A batch that fails is retried
    one delivery at a time, so one poisoned delivery cannot keep others from being acknowledged; a
    delivery that fails on its own, or a batch the database was unavailable for, gets `StorageUnavailable`
    (the webhook answers 503 and Meta retries).
    """

    def __init__(
        self,
        repository: Repository,
        *,
        max_batch: int = 256,
        on_stored: Callable[[Sequence[Delivery]], None] | None = None,
    ) -> None:
        self._repository = repository
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.on_stored = on_stored
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-ingestor")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(StorageUnavailable("the service is shutting down"))

    async def store(self, delivery: Delivery) -> StoredDelivery:
        """Wait until `delivery` is committed; raise `StorageUnavailable` when it could not be."""
        if self._task is None or self._task.done():
            raise StorageUnavailable("the webhook writer is not running")
        pending = _Pending(delivery)
        self._queue.put_nowait(pending)
        # Not shielded: a request whose client left cancels only its own future; the writer stores the
        # delivery all the same and skips answering it (every `set_*` below checks `done()` first).
        return await pending.done

    async def _run(self) -> None:
        stored = True
        while True:
            batch = [await self._queue.get()]
            # Not after a batch that could not be stored: the writer then asks for the write lock at once, so
            # that SQLite's gate, which gives webhooks the priority after a failure, finds it waiting (letting
            # the loop turn first, a turn or a clean-up went ahead and each waited out its busy timeout: a
            # webhook answered after four timeouts in `tests/faults/test_database.py`). The requests that came
            # during the failed write are already queued.
            for _ in range(GATHER_TURNS if stored else 0):
                await asyncio.sleep(0)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            stored = await self._write(batch)
            if self.on_stored:
                self.on_stored([p.delivery for p in batch])

    async def _write(self, batch: list[_Pending]) -> bool:
        """Store `batch` and answer each waiter; whether the whole batch went in one transaction."""
        try:
            results = await self._repository.store_deliveries([p.delivery for p in batch])
        except asyncio.CancelledError:
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(StorageUnavailable("the service is shutting down"))
            raise
        except Exception as exc:  # top-level loop: log, answer 503, go on
            # One delivery at a time finds a poisoned one; against a database that is away it would only make
            # each request wait out its own connection attempt (on SQLite, the busy timeout) before its 503.
            if len(batch) > 1 and not isinstance(exc, DatabaseUnavailable):
                log.warning("webhook.batch_failed", size=len(batch), error=_describe(exc))
                for pending in batch:
                    await self._write([pending])
                return False
            log.error("webhook.store_failed", size=len(batch), error=_describe(exc))
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(StorageUnavailable(f"could not store the webhook: {_describe(exc)}"))
            return False
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)
        return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DatabaseUnavailable):
        return f"database unavailable: {exc}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


INGESTOR = web.AppKey("ingestor", Ingestor)
