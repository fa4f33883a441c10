"""The background loops' shared life: woken early when there is work, stopped between rounds, never mid-write."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog

# How long shutdown waits for loops to finish their round (a send in flight, a transaction) before it
# cancels them. A loop cancelled mid-statement leaves the database driver's thread running on.
STOP_GRACE = 15.0
log = structlog.get_logger("bot.loop")
# Allocations between collections of the youngest generation (Python's default: 700). A request, a send
# or a turn makes a few hundred short-lived objects, most freed by their reference counts well before
# 7,000 more come: the served campaign bench spent 0.94 s in the collector at 700 and 0.56 s at 7,000.
YOUNG_COLLECTION_AFTER = 7000


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop `bot serve` and `bot worker` run on: uvloop's where it is installed, else asyncio's.

    uvloop (libuv) runs the same coroutines with less CPU per callback, socket read and write than
    asyncio's pure-Python selector loop; a send or an acknowledgement is mostly such work
    (docs/benchmarks.md). Windows has no uvloop, so the standard loop stays the fallback.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - every supported Linux and macOS install has it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's reach (`gc.freeze`).

    Modules, SQLAlchemy's tables, the flows and templates live as long as the process, yet each full
    collection walked them all again: in `bot bench campaign --served` the service ran 16 of them of
    90-176 ms each, and every one held the event loop, and with it every send and answer, that long.
    Called once the app has started (`bot serve`, `bot worker`); what is made later is collected as ever,
    the youngest generation after `YOUNG_COLLECTION_AFTER` allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, *gc.get_threshold()[1:])


class Wakeful:
    """A loop that idles between rounds until woken or until its pause ends, and stops when asked."""

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._stop_asked = asyncio.Event()

    def wake(self) -> None:
        """There may be work: end the current pause now."""
        self._wakeup.set()

    def stop(self) -> None:
        """Finish the current round and leave `run`."""
        self._stopping = True
        self._wakeup.set()
        self._stop_asked.set()

    @property
    def running(self) -> bool:
        return not self._stopping

    async def sleep(self, seconds: float) -> None:
        """Pause `seconds` whatever work comes in; only a stop ends it early."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop_asked.wait()

    async def idle(self, seconds: float) -> None:
        """Pause up to `seconds`, or less when woken or stopped."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that coincides with
        # the wake-up, and the loop would then outlive its owner.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        self._wakeup.clear()

    async def rounds(self, one_round: Callable[[], Awaitable[float]], failed: str, *, on_error: float) -> None:
        """Run `one_round` until stopped; it answers how long to idle before the next (0: go on at once).

        A round that raises is logged as the event `failed` and followed by `on_error` seconds of idling:
        this is the top-level loop, where one bad round must not end the service.
        """
        while self.running:
            try:
                pause = await one_round()
            except Exception as exc:  # top-level loop: log and go on
                log.error(failed, error=f"{type(exc).__name__}: {exc}")
                pause = on_error
            if pause > 0:
                await self.idle(pause)


class Stoppable(Protocol):
    def stop(self) -> None: ...


async def stop_all(loops: Sequence[Stoppable], tasks: Sequence[asyncio.Task[None]], grace: float = STOP_GRACE) -> None:
    """Ask every loop to stop, wait up to `grace` seconds for their tasks, then cancel what is left."""
    for loop in loops:
        loop.stop()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
