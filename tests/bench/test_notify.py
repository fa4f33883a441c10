"""`bot bench notify`: batches of utility notifications through a real `bot serve` into the Graph API stand-in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bot.bench.notify import run_notify_bench

ROOT = Path(__file__).resolve().parents[2]


async def test_every_notification_is_sent_once_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 notifications in batches of 100 are each queued and sent once; the repeated batch queues nothing."""
    monkeypatch.chdir(ROOT)  # `bot serve` reads flows/ and templates/ from its working directory
    args = argparse.Namespace(
        notifications=300, batch=100, throughput=200, log_level="warning", database=None, stall=10.0, settle=0.5
    )

    report: dict[str, Any] = json.loads(await run_notify_bench(args))

    assert report["benchmark"] == "notify"
    assert report["batches"] == 3
    assert report["items"] == {"queued": 300}
    assert report["first_batch_posted_again"] == {"duplicate": 100}
    assert (report["sent"], report["sent_twice"], report["recipients_sent_more_than_once"]) == (300, 0, 0)
    assert 0 < report["max_in_one_second"] <= 200
    assert report["refused_by_stand_in"] == 0
    assert 0 < report["batch_seconds"]["p50"] <= report["batch_seconds"]["max"]
    assert report["parameters"]["database"] == "sqlite"
