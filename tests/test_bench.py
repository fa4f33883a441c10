"""The webhook benchmark, run against the real app on a real port."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import keys
from bot.app import create_app
from bot.bench import run_webhook_bench
from bot.cloudapi import RecordingTransport
from bot.settings import Settings


async def test_bench_counts_only_durable_acknowledgements(
    settings: Settings, aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]
) -> None:
    """Every benchmarked text webhook is answered 200 and its message is in the database afterwards."""
    # Only the web role: the benchmark measures acknowledgements, and a dispatcher turn cancelled at
    # teardown can leave SQLAlchemy's aiosqlite close pending and hang the event loop's shutdown.
    app = create_app(settings, transport=RecordingTransport(), migrate=True)
    server = await aiohttp_server(app)
    args = argparse.Namespace(
        url=str(server.make_url("/webhook")),
        secret=settings.app_secret,
        concurrency=8,
        requests=200,
        warmup=20,
        kind="text",
    )

    report: dict[str, Any] = json.loads(await run_webhook_bench(args))

    assert report["benchmark"] == "webhook"
    assert (report["kind"], report["concurrency"], report["requests"]) == ("text", 8, 200)
    assert report["ok"] == 200
    assert report["errors"] == {}
    assert report["seconds"] > 0
    assert report["acks_per_second"] > 0
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert report["client_cpu_seconds"] >= 0
    stored = await app[keys.REPOSITORY].list_messages(wa_id=None, direction="in", limit=1000, before=None)
    assert len({m["wamid"] for m in stored if m["wamid"].startswith("wamid.bench.")}) == 20 + 200
