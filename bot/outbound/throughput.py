"""Rate arithmetic, pure with `now` passed in: the sliding-window count, and the business number's throughput."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Protocol, Self, TypeVar

# Guarded counting (below): a send is assumed to have reached Meta this long after it left, unless its
# answer came sooner. It is the margin for the jitter between leaving and landing, and it costs 2% of the
# ceiling (980 sends a second at 1,000), because the spacing must leave room for it.
ARRIVAL_GUARD = 0.02
# How far the spacing may fall behind the clock when counting is guarded: slots lost to a late wake-up
# are made up, at most this much of them at once, so a stall costs little and an idle spell ends in at
# most a small burst (a bigger one would land bunched, beyond what the guard allows for).
CATCH_UP = 0.01
# Exact counting (below): sends leave at most `rate / EXACT_SPACING` a second, so the first window's worth
# goes out in 0.8 of a window and the window rule sets the pace from then on; and the spacing may fall
# `EXACT_CATCH_UP` of a window behind the clock before time lost to a stall is lost for good. Both only
# shape the sends: however they bunch, the window rule, exact here, keeps every window at `rate` or fewer.
EXACT_SPACING = 0.8
EXACT_CATCH_UP = 0.1


Length = TypeVar("Length", contravariant=True)


class Moment(Protocol[Length]):
    """A point in time that a length of time can be added to: a float and seconds, a datetime and a timedelta."""

    def __add__(self, length: Length, /) -> Self: ...

    def __lt__(self, other: Self, /) -> bool: ...

    def __le__(self, other: Self, /) -> bool: ...


T = TypeVar("T", bound=Moment[Any])
D = TypeVar("D")


class Slot(Generic[T]):
    """One event's place in a window: `counted_by` is the latest moment it can have been counted."""

    __slots__ = ("counted_by",)

    def __init__(self, counted_by: T) -> None:
        self.counted_by = counted_by


class WindowCount(Generic[T, D]):
    """At most `limit` events in any window of `length`: the next may come one `length` after the one `limit` back.

    It remembers at most the last `limit` events, in the order they were recorded, and counts by place:
    the event `limit` places back decides. While the moments are recorded in order, that is "fewer than
    `limit` in the last `length`". A burst at a window's edge can never double the rate, as it can with a
    token bucket or a count per calendar window.

    Each event holds its `Slot`, whose `counted_by` may be moved earlier after it was recorded (the
    sender's sends, counted by the latest moment Meta can have counted them, until they end). Shared by
    the sender (`SlidingWindow`), the sandbox's stand-in for Meta (`bot.sandbox.rules.ThroughputWindow`)
    and the admin token's guess limit (`bot.api.token`).
    """

    def __init__(self, limit: int, length: D) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.length = length
        self._slots: deque[Slot[T]] = deque(maxlen=limit)

    def free_at(self) -> T | None:
        """The first moment one more event fits; None while fewer than `limit` have been recorded."""
        if len(self._slots) < self.limit:
            return None
        return self._slots[0].counted_by + self.length

    def allows(self, now: T) -> bool:
        """Whether one more event at `now` stays within the limit."""
        self._forget(now)
        free = self.free_at()
        return free is None or free <= now

    def count(self, now: T) -> int:
        """How many of the last `limit` events are still in the window at `now`."""
        self._forget(now)
        return sum(1 for slot in self._slots if now < slot.counted_by + self.length)

    def _forget(self, now: T) -> None:
        """Drop the oldest events while they have left the window: from `now` on they decide nothing.

        So a count whose limit is far above its traffic (a stand-in allowing a million a second) holds
        the window's events, not the last `limit`.
        """
        while self._slots and self._slots[0].counted_by + self.length <= now:
            self._slots.popleft()

    def record(self, counted_by: T) -> Slot[T]:
        """Count one event, counted at `counted_by` (or by then, at the latest); returns its place."""
        slot = Slot(counted_by)
        self._slots.append(slot)
        return slot

    def resize(self, limit: int) -> None:
        """Change the limit, keeping the latest events counted: no window after this holds more than `limit`."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._slots = deque(list(self._slots)[-limit:], maxlen=limit)


class SlidingWindow:
    """At most `rate` sends in any window of `window` seconds, as the far end counts them: on arrival.

    We never see a send arrive. We see it leave (`record`) and end (`end`: answered, refused or given up
    on), and it arrives, if at all, in between. So each send holds its place in the window until the
    latest moment it can have been counted, and the window rule is `WindowCount`'s: a send may leave no
    earlier than one window after that moment for the send `rate` places back.

    *Exact* (`guard=None`): a send holds its place until it ends. Nothing arrives before it leaves or
    after it ends, so any `rate + 1` sends in a row arrive at least a window apart, first to last, and
    no window holds more than `rate`, whatever the network and the sender's own event loop did to each
    send. The window rule sets the pace (`rate` per window plus the time an answer takes); the spacing
    rule only smooths, letting sends leave at most `rate / EXACT_SPACING` a second.

    *Guarded* (`guard=g`): a send holds its place until it ends or until `g` after it left, whichever
    comes first. That is an assumption, and it fails when a send lands later than `g` after it left:
    against the local stand-in, a garbage collection between the gate and the socket held single sends
    back 105-119 ms, and where the window rule set the pace such a send made a window of 1,001. So the
    spacing (`(window + guard) / rate` after the previous *scheduled* send) sets the pace, and the window
    rule only backs it up.

    Sends are recorded at the moment they actually leave, not when they were booked, so a sender whose
    event loop woke late is still held to the limit by what it really did.
    """

    def __init__(self, rate: int, window: float = 1.0, guard: float | None = None) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1")
        self.window = window
        self.guard = guard
        if guard is None:
            self.spacing, self.catch_up = EXACT_SPACING * window / rate, EXACT_CATCH_UP * window
        else:
            self.spacing, self.catch_up = (window + guard) / rate, CATCH_UP
        self._counted = WindowCount[float, float](rate, window)
        self._scheduled = -math.inf
        self._paused_until = 0.0

    @property
    def rate(self) -> int:
        return self._counted.limit

    def earliest(self, now: float) -> float:
        """The first moment (≥ now) the next send may leave; infinite while the one it waits for has not ended."""
        at = max(now, self._paused_until, self._scheduled + self.spacing)
        free = self._counted.free_at()
        return at if free is None else max(at, free)

    def record(self, at: float) -> Slot[float]:
        """Count one send that left at `at` (no earlier than `earliest` allowed); returns its place."""
        slot = self._counted.record(math.inf if self.guard is None else at + self.guard)
        self._scheduled = max(self._scheduled + self.spacing, at - self.catch_up)
        return slot

    def end(self, slot: Slot[float], at: float) -> None:
        """The send in `slot` ended at `at`: answered, refused or given up on, it has been counted if ever."""
        slot.counted_by = min(slot.counted_by, at)

    def reserve(self, now: float, *, lasting: float | None = None) -> float:
        """Book the next send at the first moment it may leave, ending `lasting` later; returns when it leaves."""
        at = self.earliest(now)
        slot = self.record(at)
        if lasting is not None:
            self.end(slot, at + lasting)
        return at

    def pause(self, until: float) -> None:
        """Hold every send until `until` (after Meta answered 130429)."""
        self._paused_until = max(self._paused_until, until)

    def resize(self, rate: int) -> None:
        """Change the rate, keeping the latest sends counted: no window after this holds more than `rate`."""
        if rate < 1:
            raise ValueError("rate must be at least 1")
        if rate == self.rate:
            return
        self._counted.resize(rate)
        self.spacing = (EXACT_SPACING * self.window if self.guard is None else self.window + self.guard) / rate


class Turns:
    """One holder at a time; those waiting get the turn by priority (lower first), then in order of arrival.

    Like `asyncio.Lock`, but a send of a more urgent kind (a one-time code) that comes while bulk sends
    queue for the gate passes ahead of them all, behind at most the one holding the turn.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = 0) -> AsyncIterator[None]:
        if self._held:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
            try:
                await turn
            except BaseException:
                if turn.done() and not turn.cancelled():  # handed the turn, then cancelled: hand it on
                    self._hand_on()
                raise  # still waiting: its cancelled future is skipped when the turn is handed on
        else:
            self._held = True
        try:
            yield
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._held = False


class Throttle:
    """An async gate in front of the Cloud API client built on `SlidingWindow`.

    Callers pass one at a time, by priority and then in order of arrival (`Turns`); each is counted
    at the moment it passes, read from the clock after any wait, so a late wake-up can never push two
    sends into one window's slot. With exact counting (`guard=None`) every send must end, through
    `done` or by sending inside `sending()`; the send `rate` places later waits for it.
    """

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] | None = None,
        *,
        guard: float | None = ARRIVAL_GUARD,
        window: float = 1.0,
    ) -> None:
        self._window = SlidingWindow(rate, window, guard)
        # The process's monotonic clock, read when asked, not the event loop's: uvloop's `time()` is in whole
        # milliseconds and read once per turn of the loop, so an answer could be counted as having come up to
        # a millisecond before it did, and a send a window later could land 999 ms after it (the stand-in saw
        # 1,001 in one second). Both loops' clocks are CLOCK_MONOTONIC, so sleeps computed from it agree.
        self._clock = clock or time.monotonic
        self._turns = Turns()
        self._ended = asyncio.Event()

    async def acquire(self, priority: int = 0) -> Slot[float]:
        """Wait for this send's turn and count it as leaving now; its slot goes to `done` when it ends.

        Lower `priority` goes first among those waiting (`storage.outbox.PRIORITY`: a code before a reply).
        """
        async with self._turns.hold(priority):
            now = self._clock()
            while (at := self._window.earliest(now)) > now:
                if math.isinf(at):  # the send a window's worth back is still out: wait for it to end
                    self._ended.clear()
                    await self._ended.wait()
                else:
                    await asyncio.sleep(at - now)
                now = self._clock()
            return self._window.record(now)

    def done(self, slot: Slot[float]) -> None:
        """The send that took `slot` has ended (answered, refused or given up on)."""
        self._window.end(slot, self._clock())
        self._ended.set()

    @contextlib.asynccontextmanager
    async def sending(self, priority: int = 0) -> AsyncIterator[None]:
        """Pass the gate for one send made inside the block; the send ends when the block does."""
        slot = await self.acquire(priority)
        try:
            yield
        finally:
            self.done(slot)

    def pause(self, seconds: float) -> None:
        self._window.pause(self._clock() + seconds)

    @property
    def rate(self) -> int:
        return self._window.rate

    def resize(self, rate: int) -> None:
        """Send at `rate` from now on (this process's share of the number's limit)."""
        self._window.resize(rate)
        self._ended.set()  # a send waiting on a slot that no longer counts may go
