"""Figures the benchmarks report from what the stand-in received: the pace of sends, the busiest window, memory."""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window) of the given length, sliding, not bucketed."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] + window <= moment:
            first += 1
        best = max(best, last - first + 1)
    return best


def by_second(start: float, times: Sequence[float]) -> list[int]:
    """How many of `times` fell in each whole second after `start`: where a run lost its pace."""
    counts = Counter(int(t - start) for t in times)
    return [counts.get(second, 0) for second in range(max(counts, default=-1) + 1)]


def sustained_rate(times: Sequence[float]) -> float:
    """Sends per second between the first and the last send."""
    if len(times) < 2:
        return 0.0
    return len(times) / (max(times) - min(times))


def steady_rate(times: Sequence[float], rate: int) -> float:
    """Sends per second over whole windows' worth: from the first send to the last send a multiple of `rate` later.

    `sustained_rate` over a run can exceed `rate` without any window holding more: N sends span N - 1
    gaps, and the first `rate` may go out in less than a window. Over k whole windows' worth the limit
    itself rules that out (send k·rate lands at least k windows after send 0), so this figure shows the
    pace the sender keeps once the first window is spent, and is at most `rate` whenever the limit held.
    """
    ordered = sorted(times)
    last = (len(ordered) - 1) // rate * rate
    if last == 0:
        return 0.0
    return last / (ordered[last] - ordered[0])


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """The resident set size now (Linux; 0.0 elsewhere): sampled during the run to show memory stays flat."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return round(pages * resource.getpagesize() / 2**20, 1)


def quarters(samples: Sequence[float]) -> list[float]:
    """The samples a quarter, half, three quarters and all the way through a run."""
    if not samples:
        return []
    return [samples[max(0, round(len(samples) * q / 4) - 1)] for q in (1, 2, 3, 4)]


def arrival_figures(received: dict[str, Any], rate: int) -> dict[str, Any]:
    """What the stand-in saw: sends, their pace, the busiest one-second window, refusals by code."""
    accepted, refused = received["accepted"], received["refused"]
    return {
        "sent": len(accepted),
        "messages_per_second": round(sustained_rate(accepted), 1),
        "steady_messages_per_second": round(steady_rate(accepted, rate), 1),
        "max_in_one_second": max_in_window(accepted + refused),
        "sends_by_second": by_second(min(accepted, default=0.0), accepted),
        "errors": dict(sorted(received["codes"].items())),
    }
