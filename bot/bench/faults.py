"""A fault plan for the Graph API stand-in: which arrival gets which failure, decided without I/O.

Faults are chosen by arrival number and recipient, never at random, so a run that fails can be run again
the same way. The stand-in (`bot.bench.stand_in`) asks `FaultPlan.fault` before it accepts a send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

Fault = Literal["server_error", "hang", "throughput", "pair_rate", "lost_answer"]


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong, and when; the default plan injects nothing.

    - every `server_errors`-th arrival answers HTTP 500 or 503 (alternately) with Meta's 131000;
    - every `hangs`-th arrival is held for `hang_seconds`, longer than the sender waits, and never accepted;
    - arrivals numbered `storm_from` to `storm_to` (exclusive) answer 130429, a throughput storm;
    - the first `pair_limits` sends to `pair_limited` answer 131056, the pair rate limit;
    - the first send to each of `lost_answers` is accepted, but its answer never reaches the sender.
    """

    server_errors: int = 0
    hangs: int = 0
    hang_seconds: float = 2.0
    storm_from: int = 0
    storm_to: int = 0
    pair_limited: str | None = None
    pair_limits: int = 0
    lost_answers: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        values = json.loads(text or "{}")
        values["lost_answers"] = frozenset(values.get("lost_answers", ()))
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "lost_answers": sorted(self.lost_answers)})

    def fault(self, arrival: int, recipient: str, earlier_to_recipient: int) -> Fault | None:
        """The fault for the `arrival`-th request (1-based), the `earlier_to_recipient`+1-th to `recipient`."""
        if recipient == self.pair_limited and earlier_to_recipient < self.pair_limits:
            return "pair_rate"
        if self.storm_from <= arrival < self.storm_to:
            return "throughput"
        if self.server_errors and arrival % self.server_errors == 0:
            return "server_error"
        if self.hangs and arrival % self.hangs == 0:
            return "hang"
        if recipient in self.lost_answers and earlier_to_recipient == 0:
            return "lost_answer"
        return None
