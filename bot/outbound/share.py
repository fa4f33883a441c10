"""A sender's share of the number's throughput limit, decided from its presence beats; pure, `now` passed in.

Several senders on one database divide the limit by how many are alive (`storage.presence`). The sum
of their rates stays within the limit in every one-second window, however they start, join or leave:

- Beats are serialised (`storage.presence.beat`), so of two senders the later to beat counts both.
- A sender shrinks inside its beat's transaction, before the beat commits (`Repository.sender_beat`):
  once another sender can see a beat, the share it implies is in force.
- A joiner sends nothing until every sender it saw at its first committed beat has beaten again (that
  beat counted the joiner, and shrank) or has gone, and then a window more has passed, for their sends
  at the old share to leave the window. A fixed wait would not do: a loaded sender beats late.
- A sender grows only a window after it first saw fewer senders. One that left had ended its sends
  before its goodbye committed; one that died stopped before it aged out; either way its last sends
  may still be in the window when the survivor sees it gone.

It assumes that a sender alive beats at least every `alive_for`: one frozen longer (a stopped process,
a database it cannot reach while its sends go on) is counted out by the others while it may still send.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime

WINDOW = 1.0  # seconds: Meta counts a number's throughput per second
JOIN_MARGIN = 0.5  # seconds a joiner waits beyond the window, for the others' sends still in flight
JOIN_POLL = 0.25  # seconds between a joiner's beats while it waits for the others to see it


class Share:
    """One sender's rate from its beats: the limit over the most senders it counted in the last window."""

    def __init__(self, owner: str, limit: int, *, alive_for: float, window: float = WINDOW) -> None:
        self.owner = owner
        self.limit = limit
        self.window = window
        self._alive_for = alive_for
        # (moment, senders alive) of recent beats, oldest first: the newest older than a window, and all since.
        self._counts: deque[tuple[float, int]] = deque()
        self._unseen: dict[str, datetime] | None = None  # joining: others yet to beat since the first beat
        self._first = 0.0
        self._ready_at: float | None = None
        self.senders = 1  # the most senders counted in the last window: every number's limit is divided by it

    def rate(self, seen: Mapping[str, datetime], now: float) -> int:
        """The rate after a beat that counted `seen` (read before `now`): smaller at once, larger a window late."""
        self._counts.append((now, max(1, len(seen))))
        while len(self._counts) > 1 and self._counts[1][0] <= now - self.window:
            self._counts.popleft()
        self.senders = max(count for _, count in self._counts)
        return max(1, self.limit // self.senders)

    def committed(self, seen: Mapping[str, datetime], now: float) -> None:
        """A beat that counted `seen` has committed: the others are asked to see this sender, or have seen it."""
        if self._ready_at is not None:
            return
        if self._unseen is None:
            self._unseen, self._first = {o: at for o, at in seen.items() if o != self.owner}, now
            if not self._unseen:  # alone: whoever beats after this sees it, and waits for it
                self._ready_at = now
            return
        # A sender whose beat moved, or that is gone, has beaten (or left) since the first beat committed.
        self._unseen = {o: at for o, at in self._unseen.items() if seen.get(o) == at}
        if not self._unseen or now - self._first >= self._alive_for:  # still unmoved: counted out by all by now
            self._ready_at = now + self.window + JOIN_MARGIN

    @property
    def seen_by_all(self) -> bool:
        """Whether every other sender has counted this one (it may still have a window to wait out)."""
        return self._ready_at is not None

    def until_ready(self, now: float) -> float:
        """Seconds until this sender may send; infinite while another has yet to count it."""
        return float("inf") if self._ready_at is None else max(0.0, self._ready_at - now)
