"""`bot bench business`: orders, deliveries, appointments and balances through a real `bot serve`'s admin API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bot.bench.business import run_business_bench

ROOT = Path(__file__).resolve().parents[2]


async def test_every_call_is_answered_and_every_message_sent_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 customers, 8 calls in flight: every call succeeds, and the two messages each order queued are sent once."""
    monkeypatch.chdir(ROOT)  # `bot serve` reads flows/ and templates/ from its working directory
    args = argparse.Namespace(
        orders=40, concurrency=8, throughput=200, log_level="warning", database=None, stall=10.0, settle=0.5
    )

    report: dict[str, Any] = json.loads(await run_business_bench(args))

    assert report["benchmark"] == "business"
    assert {name: step["statuses"] for name, step in report["steps"].items()} == {
        "create orders": {"201": 40},
        "deliver orders": {"200": 40},
        "book appointments": {"201": 40},
        "set balances": {"200": 40},
    }
    for step in report["steps"].values():
        assert step["requests"] == 40
        assert step["requests_per_second"] > 0
        assert 0 < step["latency_ms"]["p50"] <= step["latency_ms"]["max"]
    assert (report["sends"]["sent"], report["sends"]["sent_twice"]) == (80, 0)  # confirmation and delivery each
    assert 0 < report["sends"]["max_in_one_second"] <= 200
    assert report["parameters"]["database"] == "sqlite"
