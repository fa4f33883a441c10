"""Rate arithmetic for the business number's throughput: pure, with `now` passed in."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Callable

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


class Slot:
    """One send's place in the window: `counted_by` is the latest moment the far end can have counted it."""

    __slots__ = ("counted_by",)

    def __init__(self, counted_by: float) -> None:
        self.counted_by = counted_by


class SlidingWindow:
    """At most `rate` sends in any window of `window` seconds, as the far end counts them: on arrival.

    We never see a send arrive. We see it leave (`record`) and end (`end`: answered, refused or given up
    on), and it arrives, if at all, in between. So each send holds its place in the window until the
    latest moment it can have been counted, and the window rule is: a send may leave no earlier than one
    window after that moment for the send `rate` places back. Unlike a token bucket, a burst at a
    window's edge can never double the rate.

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
        self.rate = rate
        self.window = window
        self.guard = guard
        if guard is None:
            self.spacing, self.catch_up = EXACT_SPACING * window / rate, EXACT_CATCH_UP * window
        else:
            self.spacing, self.catch_up = (window + guard) / rate, CATCH_UP
        self._slots: deque[Slot] = deque(maxlen=rate)
        self._scheduled = -math.inf
        self._paused_until = 0.0

    def earliest(self, now: float) -> float:
        """The first moment (≥ now) the next send may leave; infinite while the one it waits for has not ended."""
        at = max(now, self._paused_until, self._scheduled + self.spacing)
        if len(self._slots) == self.rate:
            at = max(at, self._slots[0].counted_by + self.window)
        return at

    def record(self, at: float) -> Slot:
        """Count one send that left at `at` (no earlier than `earliest` allowed); returns its place."""
        slot = Slot(math.inf if self.guard is None else at + self.guard)
        self._slots.append(slot)
        self._scheduled = max(self._scheduled + self.spacing, at - self.catch_up)
        return slot

    def end(self, slot: Slot, at: float) -> None:
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
        self.rate = rate
        self.spacing = (EXACT_SPACING * self.window if self.guard is None else self.window + self.guard) / rate
        self._slots = deque(list(self._slots)[-rate:], maxlen=rate)


class Throttle:
    """An async gate in front of the Cloud API client built on `SlidingWindow`.

    Callers pass one at a time, in order of arrival; each is counted at the moment it passes, read
    from the clock after any wait, so a late wake-up can never push two sends into one window's slot.
    With exact counting (`guard=None`) every send must end, through `done` or by sending inside
    `sending()`; the send `rate` places later waits for it.
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
        self._clock = clock or asyncio.get_running_loop().time
        self._turn = asyncio.Lock()
        self._ended = asyncio.Event()

    async def acquire(self) -> Slot:
        """Wait for the next send's turn and count it as leaving now; its slot goes to `done` when it ends."""
        async with self._turn:
            now = self._clock()
            while (at := self._window.earliest(now)) > now:
                if math.isinf(at):  # the send a window's worth back is still out: wait for it to end
                    self._ended.clear()
                    await self._ended.wait()
                else:
                    await asyncio.sleep(at - now)
                now = self._clock()
            return self._window.record(now)

    def done(self, slot: Slot) -> None:
        """The send that took `slot` has ended (answered, refused or given up on)."""
        self._window.end(slot, self._clock())
        self._ended.set()

    @contextlib.asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """Pass the gate for one send made inside the block; the send ends when the block does."""
        slot = await self.acquire()
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
