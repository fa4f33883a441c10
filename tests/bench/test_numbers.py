"""`bot bench numbers`: several numbers at once into the stand-in, each held to its own limit, fairly."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from bot.bench.numbers import fairness, run_numbers_bench


def test_fairness_is_one_when_every_number_gets_the_same_share_and_falls_as_one_is_starved() -> None:
    """Jain's index: 1.0 for equal shares of each number's own limit, 1/n when one number gets everything."""
    assert fairness([0.9, 0.9, 0.9]) == {"jain_index": 1.0, "best_over_worst": 1.0}
    assert fairness([1.0, 0.0, 0.0])["jain_index"] == pytest.approx(1 / 3, abs=1e-4)
    assert fairness([1.0, 0.5])["best_over_worst"] == 2.0


@pytest.mark.parametrize("served", [False, True])
async def test_each_number_is_sent_within_its_own_limit(served: bool) -> None:
    """Three numbers (limits 20, 40, 20): every message sent, no number's busiest second over its limit."""
    args = argparse.Namespace(numbers=3, messages=30, rate=20, database=None, served=served)
    report: dict[str, Any] = json.loads(await run_numbers_bench(args))
    assert report["numbers_over_their_limit"] == []
    limits = {number: row["limit"] for number, row in report["numbers"].items()}
    assert sorted(limits.values()) == [20, 20, 40]
    for row in report["numbers"].values():
        assert row["sent"] == 30
        assert 0 < row["max_in_one_second"] <= row["limit"]
        assert row["refused_by_stand_in"] == 0
    assert report["fairness"]["jain_index"] > 0.5
