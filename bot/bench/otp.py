"""`bot bench otp`: how long a one-time code takes to reach Meta while a backlog of replies is queued.

Public doors only. A `bot serve` with a low `BOT_THROUGHPUT` (100 by default) gets `--texts` signed
webhooks of customers writing `hi` (two replies each, so a backlog of about twice as many sends), and
once the backlog is queued, `POST /api/otp` `--codes` times a few seconds apart. For each code it prints
the seconds from its POST to its arrival at the Graph API stand-in (one clock: both read the system's
monotonic clock). The benchmark stops once every code arrived; the backlog need not drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.fleet import STAND_IN_RATE, database_label
from bot.bench.served import Served, served
from bot.bench.stand_in import stand_in_record
from bot.bench.turns import MEASURED, arrived, turn_requests
from bot.bench.webhook import run_phase

CODE_PREFIX = "4479"  # the numbers codes go to, apart from the customers making the backlog


async def backlog(session: aiohttp.ClientSession, service: Served, args: argparse.Namespace) -> dict[str, Any]:
    """Post the customers' texts (all acknowledged) and wait until their replies are flowing out."""
    requests, _ = turn_requests(service.secret, args.texts, args.texts, MEASURED, ["hi"])
    began = time.monotonic()
    tally = await run_phase(session, [service.webhook], requests, args.concurrency)
    posted = time.monotonic() - began
    while await arrived(session, service.graph_url) == 0:  # noqa: ASYNC110 (another process: polled)
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.settle)  # the dispatcher turns the stored texts into queued replies meanwhile
    return {
        "texts": args.texts,
        "acknowledged": tally.ok,
        "errors": dict(tally.errors),
        "post_seconds": round(posted, 3),
    }


async def request_codes(session: aiohttp.ClientSession, service: Served, args: argparse.Namespace) -> dict[str, float]:
    """POST `--codes` one-time codes, `--every` seconds apart; each number and when its POST was answered."""
    posted: dict[str, float] = {}
    for index in range(args.codes):
        wa_id = f"{CODE_PREFIX}{index:07d}"
        started = time.monotonic()
        await service.post(session, "/otp", {"wa_id": wa_id, "purpose": "login"})
        posted[wa_id] = started
        if index + 1 < args.codes:
            await asyncio.sleep(args.every)
    return posted


async def arrivals(
    session: aiohttp.ClientSession, service: Served, numbers: set[str], give_up: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """Poll the stand-in until a send to each of `numbers` arrived (or `give_up` s passed); when, and the record."""
    deadline = time.monotonic() + give_up
    while True:
        record = await stand_in_record(session, service.graph_url)
        seen = {to: at for at, to in zip(record["accepted"], record["to"], strict=True) if to in numbers}
        if len(seen) == len(numbers) or time.monotonic() >= deadline:
            return seen, record
        await asyncio.sleep(0.2)


async def measure(args: argparse.Namespace, service: Served) -> dict[str, Any]:
    load = [round(x, 2) for x in os.getloadavg()]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency + 4)) as session:
        queued = await backlog(session, service, args)
        before = await arrived(session, service.graph_url)
        posted = await request_codes(session, service, args)
        seen, record = await arrivals(session, service, set(posted), args.timeout)
    waits = {to: round(seen[to] - at, 3) if to in seen else None for to, at in posted.items()}
    replies_left = 2 * args.texts - sum(1 for to in record["to"] if to.startswith(MEASURED))
    return {
        "benchmark": "otp",
        "throughput": args.throughput,
        "backlog": queued,
        "sends_before_first_code": before,
        "replies_still_queued_at_end": max(0, replies_left),
        "seconds_from_post_to_arrival": list(waits.values()),
        "max_seconds": max((w for w in waits.values() if w is not None), default=None),
        "codes_not_arrived": sum(1 for w in waits.values() if w is None),
        "database": database_label(service.database),
        "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
    }


async def run_otp_bench(args: argparse.Namespace) -> str:
    """Start the stand-in and one `bot serve`, queue the backlog, time the codes; the figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="bot-bench-otp-") as folder:
        async with served(args, STAND_IN_RATE, Path(folder)) as service:
            return json.dumps(await measure(args, service))
