"""Rate arithmetic for the business number's throughput: pure, with `now` passed in."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

# How far the even spacing may fall behind the clock: slots lost to a late wake-up are made up, at most
# this much of them at once, so a stall costs little and an idle spell ends in at most a small burst.
CATCH_UP = 0.01
# The margin for the jitter between a request leaving and Meta counting it: measured against a local
# stand-in (`bot bench send`), arrival minus departure is 0.4 ms at the median, 5 ms at p99 and up to
# 20 ms while connections open. It costs 2% of the ceiling (980 sends a second at 1,000); without it,
# a window that held 1,000 departures held up to 1,004 arrivals, and every refusal pauses all sends.
ARRIVAL_GUARD = 0.02


class SlidingWindow:
    """At most `rate` events in any one-second window, spread evenly across it.

    Two rules decide when the next event may happen. The window rule (one second, plus `guard`, after
    the event `rate` places back) is the hard limit: unlike a token bucket it never lets a burst at a
    window's edge double the rate. The spacing rule (`(window + guard) / rate` after the previous
    *scheduled* event) keeps sends from leaving in bursts: Meta counts requests as they arrive, and a burst that
    queues on the way arrives bunched, so a window that held `rate` sends as they left can hold more as
    they land. `guard` is the margin for that jitter between leaving and landing.

    Events are recorded at the moment they actually happen (`record`), not when they were booked, so a
    sender whose event loop woke late is still held to the limit by what it really did.
    """

    def __init__(self, rate: int, window: float = 1.0, guard: float = 0.0) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1")
        self.rate = rate
        self.window = window
        self.guard = guard
        # Evenly spaced over the window *and* its guard, so that in steady state the spacing, not the
        # window rule, sets the pace: were the window rule to bind, every gap a late wake-up left in one
        # second would be copied into every second after it.
        self.spacing = (window + guard) / rate
        self._times: deque[float] = deque(maxlen=rate)
        self._scheduled = float("-inf")
        self._paused_until = 0.0

    def earliest(self, now: float) -> float:
        """The first moment (≥ now) the next event may happen."""
        at = max(now, self._paused_until, self._scheduled + self.spacing)
        if len(self._times) == self.rate:
            at = max(at, self._times[0] + self.window + self.guard)
        return at

    def record(self, at: float) -> None:
        """Count one event that happened at `at` (no earlier than `earliest` allowed)."""
        self._times.append(at)
        self._scheduled = max(self._scheduled + self.spacing, at - CATCH_UP)

    def reserve(self, now: float) -> float:
        """Book the next event at the first moment it may happen, and return that moment."""
        at = self.earliest(now)
        self.record(at)
        return at

    def pause(self, until: float) -> None:
        """Hold every send until `until` (after Meta answered 130429)."""
        self._paused_until = max(self._paused_until, until)


class Throttle:
    """An async gate in front of the Cloud API client built on `SlidingWindow`.

    Callers pass one at a time, in order of arrival; each is counted at the moment it passes, read
    from the clock after any wait, so a late wake-up can never push two sends into one window's slot.
    """

    def __init__(self, rate: int, clock: Callable[[], float] | None = None, *, guard: float = ARRIVAL_GUARD) -> None:
        self._window = SlidingWindow(rate, guard=guard)
        self._clock = clock or asyncio.get_running_loop().time
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._turn:
            now = self._clock()
            while (at := self._window.earliest(now)) > now:
                await asyncio.sleep(at - now)
                now = self._clock()
            self._window.record(now)

    def pause(self, seconds: float) -> None:
        self._window.pause(self._clock() + seconds)
