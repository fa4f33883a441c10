"""Wrong admin tokens, counted per client address: past a few a minute, that address is refused for a while.

The admin token guards `/api` and the dashboard. A generated one is 32 random characters, but an operator
may set a short one; without a limit, anyone who can reach the port could try tokens as fast as the
service answers. After `LIMIT` wrong tokens within `WINDOW` from one address, every token from that
address (the right one too, or guessing would go on) is refused until the oldest of them leaves the
window. Counted in this process's memory: each instance counts for itself. Behind a proxy every client
shares the proxy's address, so there the proxy should limit as well (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from aiohttp import web

from bot.outbound.throughput import WindowCount

LIMIT = 10
WINDOW = timedelta(minutes=1)
MAX_ADDRESSES = 10_000  # addresses remembered at once; the least recently wrong is forgotten first
log = structlog.get_logger("bot.api.token")


def address_of(request: web.Request) -> str:
    """The client address that wrong tokens are counted by (the peer: behind a proxy, the proxy)."""
    return request.remote or "unknown"


class WrongGuesses:
    """Wrong tokens per address in the last `window`; answers how long an address must wait."""

    def __init__(self, clock: Callable[[], datetime], limit: int = LIMIT, window: timedelta = WINDOW) -> None:
        self._clock, self._limit, self._window = clock, limit, window
        self._wrong: dict[str, WindowCount[datetime, timedelta]] = {}

    def wait(self, address: str) -> float:
        """Seconds before `address` may try a token again; 0 when it may now."""
        now = self._clock()
        counted = self._recent(address, now)
        freed = None if counted is None else counted.free_at()  # when fewer than `limit` are left
        return 0.0 if freed is None else max(0.0, (freed - now).total_seconds())

    def wrong(self, address: str) -> None:
        """Count a wrong token from `address`."""
        now = self._clock()
        counted = self._recent(address, now) or WindowCount(self._limit, self._window)
        reached = counted.count(now) == self._limit - 1  # this one makes `limit`
        counted.record(now)
        self._wrong.pop(address, None)
        self._wrong[address] = counted  # most recently wrong last
        if reached:
            log.warning("auth.throttled", address=address, wrong=self._limit, window_s=self._window.total_seconds())
        while len(self._wrong) > MAX_ADDRESSES:
            del self._wrong[next(iter(self._wrong))]

    def _recent(self, address: str, now: datetime) -> WindowCount[datetime, timedelta] | None:
        """The address's count, forgotten once none of its wrong tokens is left in the window."""
        counted = self._wrong.get(address)
        if counted is not None and not counted.count(now):
            del self._wrong[address]
            return None
        return counted


GUESSES = web.AppKey("guesses", WrongGuesses)
