"""`bot bench turns`: real flow turns through a real `bot serve` into the Graph API stand-in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bot.bench.turns import replies_off_script, run_turns_bench, turn_latencies

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("workers", [0, 1])
async def test_every_turn_is_answered_at_the_stand_in(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """Every timed text gets its two replies (greeting and main menu) at the stand-in, and the figures add up.

    With `--workers 1` the roles are split: `bot serve` takes the webhooks and makes the turns, and a
    `bot worker --roles sender` sends every reply.
    """
    monkeypatch.chdir(ROOT)  # `bot serve` reads flows/ and templates/ from its working directory
    args = argparse.Namespace(
        turns=60, concurrency=4, customers=20, warmup=6, rate=0, text="hi,menu", throughput=1000,
        log_level="warning", stall=5.0, url=None, graph_url=None, secret=None, pid=None, workers=workers,
    )  # fmt: skip

    report: dict[str, Any] = json.loads(await run_turns_bench(args))

    assert report["benchmark"] == "turns"
    assert report["errors"] == {}
    assert (report["turns"], report["replies_per_turn"], report["replies"]) == (60, 2, 120)
    assert report["turns_per_second"] > 0
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert (report["processes"], report["workers"]) == (1 + workers, workers)
    assert len(report["service_peak_rss_mb"]) == 1 + workers
    assert all(peak > 0 for peak in report["service_peak_rss_mb"])
    assert report["service_cpu_ms_per_turn"] > 0
    assert report["parameters"]["customers"] == 20


def test_a_turn_is_answered_by_its_own_customers_replies_in_order() -> None:
    """A customer's second turn waits for that customer's fourth reply; a turn short of replies is unanswered."""
    posted = {0: 1.0, 1: 1.1, 2: 1.2}
    senders = ["a", "b", "a"]
    arrivals = [(1.5, "a"), (1.6, "a"), (1.7, "b"), (2.0, "a"), (2.2, "a")]

    latencies, unanswered = turn_latencies(posted, senders, arrivals, per_turn=2)

    assert [round(x, 3) for x in latencies] == [0.6, 1.0]  # a's first turn at 1.6, a's second at 2.2
    assert unanswered == 1  # b got one reply of two


def test_replies_that_do_not_match_the_warm_ups_count_are_an_error() -> None:
    """A reused database's customers answered off script: 5,206 replies for 4,000 two-reply turns."""
    assert replies_off_script(8000, 4000, 2) == 0
    assert replies_off_script(5206, 4000, 2) == 2794
    assert replies_off_script(12000, 4000, 2) == 4000
