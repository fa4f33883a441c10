"""`bot bench notify`: utility notifications posted in batches to a real `bot serve`, timed to their sends.

Three processes: this client; one `bot serve` on a fresh SQLite file (or the `--database` given) in
real-Meta mode (dummy credentials) whose `WHATSAPP_API_URL` is the Graph API stand-in; and that
stand-in, which records when each send arrived, for whom and with which callback data. The client
posts `--notifications` utility notifications, each to a contact of its own, in batches of `--batch`
to `POST /api/notifications` with the admin token, one batch after another, and times each batch.
Then it posts the first batch again (it must queue nothing) and waits for the sends. The stand-in's
own throughput rule is set far above anything a service can reach, so only the service's sender
limit (`BOT_THROUGHPUT`) paces the sends; the busiest one-second window shows whether it held.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.figures import by_second, max_in_window, steady_rate, sustained_rate
from bot.bench.fleet import STAND_IN_RATE, Fleet, database_label, fleet, migrated, service_environment
from bot.bench.stand_in import stand_in_process, stand_in_record
from bot.bench.turns import wait_for_replies
from bot.bench.webhook import percentile

PREFIX = "4473"  # wa_id prefix of the benchmark's contacts: never one of another benchmark's
TEMPLATE = "payment_received"


def notification(run: str, index: int) -> dict[str, Any]:
    """The `index`-th notification of a run: a payment receipt to a contact of its own, under a key of its own."""
    return {
        "wa_id": f"{PREFIX}{index:08d}",
        "template": TEMPLATE,
        "parameters": {
            "customer_name": f"Customer {index}",
            "amount": f"€{10 + index % 90}.00",
            "invoice_number": f"INV-{index:06d}",
            "payment_date": "12 April 2026",
        },
        "idempotency_key": f"bench-{run}-{index}",
    }


async def post_batch(
    session: aiohttp.ClientSession, base: str, token: str, items: list[dict[str, Any]]
) -> tuple[float, Counter[str]]:
    """Post one batch; its wall time and how many items came back with each status."""
    began = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{base}/api/notifications", json={"items": items}, headers=headers) as response:
        answer = await response.json()
        if response.status != 200:
            raise RuntimeError(f"POST /api/notifications answered {response.status}: {answer}")
    return time.perf_counter() - began, Counter(item["status"] for item in answer["items"])


async def measure(session: aiohttp.ClientSession, args: argparse.Namespace, base: str, token: str) -> dict[str, Any]:
    """Post every batch, post the first again, wait for the sends; the client's side of the figures."""
    run = secrets.token_hex(4)
    items = [notification(run, index) for index in range(args.notifications)]
    batches = [items[start : start + args.batch] for start in range(0, len(items), args.batch)]
    seconds: list[float] = []
    statuses: Counter[str] = Counter()
    for batch in batches:
        took, counted = await post_batch(session, base, token, batch)
        seconds.append(took)
        statuses.update(counted)
    _, again = await post_batch(session, base, token, batches[0])
    await wait_for_replies(session, args.graph_url, statuses["queued"], args.stall)
    await wait_for_replies(session, args.graph_url, None, args.settle)  # anything sent twice arrives too
    ordered = sorted(seconds)
    return {
        "batches": len(batches),
        "batch_seconds": {"p50": round(percentile(ordered, 0.5), 3), "max": round(ordered[-1], 3)},
        "items": dict(sorted(statuses.items())),
        "first_batch_posted_again": dict(sorted(again.items())),
    }


def delivery(record: dict[str, Any], throughput: int) -> dict[str, Any]:
    """The stand-in's side: the pace between the first and the last send, the busiest second, sends made twice."""
    accepted: list[float] = record["accepted"]
    per_callback = Counter(record["callbacks"])
    per_recipient = Counter(record["to"])
    return {
        "sent": len(accepted),
        "messages_per_second": round(sustained_rate(accepted), 1),
        "steady_messages_per_second": round(steady_rate(accepted, throughput), 1),
        "seconds_first_to_last": round(max(accepted) - min(accepted), 3) if accepted else 0.0,
        "max_in_one_second": max_in_window(accepted + record["refused"]),
        "sends_by_second": by_second(min(accepted, default=0.0), accepted),
        "sent_twice": sum(n - 1 for n in per_callback.values() if n > 1),
        "recipients_sent_more_than_once": sum(1 for n in per_recipient.values() if n > 1),
        "refused_by_stand_in": len(record["refused"]),
    }


async def _run(args: argparse.Namespace, service: Fleet, token: str, database: str) -> str:
    load = [round(x, 2) for x in os.getloadavg()]
    (webhook,) = service.webhooks
    base = webhook.removesuffix("/webhook")
    cpu_before = service.cpu_seconds()
    async with aiohttp.ClientSession() as session:
        client = await measure(session, args, base, token)
        record = await stand_in_record(session, args.graph_url)
    cpu_after = service.cpu_seconds()
    figures: dict[str, Any] = {"benchmark": "notify", **client, **delivery(record, args.throughput)}
    if cpu_before is not None and cpu_after is not None:
        figures["service_cpu_seconds"] = round(cpu_after - cpu_before, 3)
    figures.update(
        {
            **{f"service_{name}": value for name, value in service.memory().items()},
            "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
            "parameters": {
                "notifications": args.notifications,
                "batch": args.batch,
                "throughput": args.throughput,
                "log_level": args.log_level,
                "database": database_label(database),
            },
        }
    )
    return json.dumps(figures)


async def run_notify_bench(args: argparse.Namespace) -> str:
    """Start the stand-in and one `bot serve`, post the notifications, and return the figures as JSON."""
    async with stand_in_process(STAND_IN_RATE) as graph_url:
        args = argparse.Namespace(**{**vars(args), "graph_url": graph_url})
        with tempfile.TemporaryDirectory(prefix="bot-bench-notify-") as folder:
            scratch = Path(folder)
            database = await migrated(args.database, scratch)
            environment = service_environment(graph_url, database, args.throughput, args.log_level)
            async with fleet(1, ["serve"], environment, scratch) as service:
                return await _run(args, service, environment["BOT_ADMIN_TOKEN"], database)
