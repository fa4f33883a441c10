"""`bot bench business`: a business's bulk load on the orders, appointments and accounts routes of a real `bot serve`.

Three processes, as for `bot bench notify`: this client, one `bot serve` on a fresh SQLite file (or the
`--database` given) in real-Meta mode whose `WHATSAPP_API_URL` is the Graph API stand-in, and that stand-in.
The client does what a shop's systems do after a busy day, with `--concurrency` requests in flight, each to
the admin API with its token:

1. `POST /api/orders`: `--orders` confirmed orders, each for a customer of its own (order_confirmation is
   queued for each);
2. `PATCH /api/orders/{number}`: each marked delivered (order_delivered queued for each);
3. `POST /api/appointments`: an appointment two days ahead for each customer (its reminder queued for then:
   nothing is sent during the run);
4. `PUT /api/accounts/{wa_id}`: a balance for each, above its low threshold (nothing queued).

Each step reports its requests per second, its latencies, the answers by status and the service's CPU per
request. Then the stand-in's side: the two messages per customer, the busiest second, and any sent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.fleet import STAND_IN_RATE, database_label
from bot.bench.notify import delivery
from bot.bench.served import Served, served
from bot.bench.stand_in import stand_in_record
from bot.bench.turns import wait_for_replies
from bot.bench.webhook import latency_ms

PREFIX = "4475"  # wa_id prefix of the benchmark's customers: never one of another benchmark's

Call = tuple[str, str, dict[str, Any]]  # method, path, JSON body


def customer(index: int) -> str:
    return f"{PREFIX}{index:08d}"


def steps(orders: int, now: datetime) -> list[tuple[str, list[Call]]]:
    """The four steps' requests, in order; every request of a step is independent of the others in it."""
    start = (now + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    window = now + timedelta(days=3)
    return [
        ("create orders", [
            ("POST", "/api/orders", {
                "number": f"B-{i:07d}", "wa_id": customer(i), "name": f"Customer {i}", "status": "confirmed",
                "total": f"{20 + i % 80}.00", "currency": "EUR", "items": [{"name": "Running jacket", "quantity": 1}],
                "delivery_start": window.isoformat(),
            })
            for i in range(orders)
        ]),
        ("deliver orders", [("PATCH", f"/api/orders/B-{i:07d}", {"status": "delivered"}) for i in range(orders)]),
        ("book appointments", [
            ("POST", "/api/appointments", {
                "wa_id": customer(i), "service": "Fitting", "starts_at": start.isoformat(),
                "duration_minutes": 30, "location": "Main St 1",
            })
            for i in range(orders)
        ]),
        ("set balances", [
            ("PUT", f"/api/accounts/{customer(i)}", {"balance": "120.00", "currency": "EUR", "low_threshold": "10.00"})
            for i in range(orders)
        ]),
    ]  # fmt: skip


async def step(
    session: aiohttp.ClientSession, base: str, token: str, calls: Sequence[Call], concurrency: int
) -> dict[str, Any]:
    """Make `calls` with `concurrency` in flight; the rate, the latencies and the answers by status."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    pending = iter(calls)

    async def client() -> None:
        for method, path, body in pending:
            began = time.perf_counter()
            async with session.request(method, f"{base}{path}", json=body, headers=headers) as response:
                await response.read()
                statuses[str(response.status)] += 1
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    return {
        "requests": len(calls),
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(calls) / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_ms(latencies),
        "statuses": dict(sorted(statuses.items())),
    }


async def _run(args: argparse.Namespace, service: Served) -> str:
    load = [round(x, 2) for x in os.getloadavg()]
    figures: dict[str, Any] = {"benchmark": "business", "steps": {}}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for name, calls in steps(args.orders, datetime.now(UTC)):
            cpu_before = service.fleet.cpu_seconds()
            figures["steps"][name] = result = await step(session, service.base, service.token, calls, args.concurrency)
            cpu_after = service.fleet.cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                result["service_cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / len(calls), 3)
        await wait_for_replies(session, service.graph_url, 2 * args.orders, args.stall)
        await wait_for_replies(session, service.graph_url, None, args.settle)  # anything sent twice arrives too
        record = await stand_in_record(session, service.graph_url)
    sends = delivery(record, args.throughput)
    del sends["recipients_sent_more_than_once"]  # each customer is sent two messages here: `sent_twice` counts repeats
    figures["sends"] = sends
    figures.update(
        {
            **{f"service_{name}": value for name, value in service.fleet.memory().items()},
            "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
            "parameters": {
                "orders": args.orders,
                "concurrency": args.concurrency,
                "throughput": args.throughput,
                "log_level": args.log_level,
                "database": database_label(service.database),
            },
        }
    )
    return json.dumps(figures)


async def run_business_bench(args: argparse.Namespace) -> str:
    """Start the stand-in and one `bot serve`, make the business's calls, and return the figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="bot-bench-business-") as folder:
        async with served(args, STAND_IN_RATE, Path(folder)) as service:
            return await _run(args, service)
