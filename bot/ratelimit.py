"""Rate arithmetic for the business number's throughput: pure, with `now` passed in."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `rate` events in any one-second window.

    Each reservation returns the moment the event may happen: `now`, or one second after the event
    `rate` places back. Unlike a token bucket this never lets a burst at a window's edge double the rate,
    so the largest one-second window of sends never exceeds the limit Meta enforces.
    """

    def __init__(self, rate: int, window: float = 1.0) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1")
        self.rate = rate
        self.window = window
        self._times: deque[float] = deque(maxlen=rate)
        self._paused_until = 0.0

    def reserve(self, now: float) -> float:
        """Book the next slot and return when it is (≥ now)."""
        at = max(now, self._paused_until)
        if len(self._times) == self.rate:
            at = max(at, self._times[0] + self.window)
        self._times.append(at)
        return at

    def pause(self, until: float) -> None:
        """Hold every send until `until` (after Meta answered 130429)."""
        self._paused_until = max(self._paused_until, until)


class Throttle:
    """An async gate in front of the Cloud API client built on `SlidingWindow`."""

    def __init__(self, rate: int, clock: Callable[[], float] | None = None) -> None:
        self._window = SlidingWindow(rate)
        self._clock = clock or asyncio.get_running_loop().time

    async def acquire(self) -> None:
        delay = self._window.reserve(self._clock()) - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        self._window.pause(self._clock() + seconds)
