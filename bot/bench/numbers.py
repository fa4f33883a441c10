"""`bot bench numbers`: several business numbers sending at once through one deployment, each held to its own limit.

In process (the default): N numbers are written to the numbers table, each with its own throughput
(`--rate`, and twice that for every other number), and each gets `--messages` due utility templates; one
real sender (or, with `--processes`, that many `bot worker` processes) drains them into the Graph API
stand-in, which counts each number on its own and refuses a send beyond that number's limit with 130429.

`--served` is the twin through the public doors only: `bot init` writes a project, a numbers.yaml names
the numbers, one `bot serve` runs on it, and the notifications are posted to `POST /api/notifications`
with each item's `phone_number_id`.

Per number it reports the pace between its first and last send, its busiest one-second window (which
must stay within its limit) and its refusals; across numbers, how fair the sender was: Jain's index of
each number's pace over its limit (1.0: every number got the same share of its own limit), the ratio
of the best-served number's share to the worst-served one's, and Jain's index of the paces themselves
(1.0: every number got the same pace, which is what round-robin lanes give when the deployment, not the
numbers' limits, is the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.figures import max_in_window, sustained_rate
from bot.bench.fleet import database_label, fleet, migrated, service_environment
from bot.bench.notify import notification, post_batch
from bot.bench.outbox import running, until_drained
from bot.bench.stand_in import stand_in_process, stand_in_record
from bot.bench.turns import wait_for_replies
from bot.metrics import Metrics
from bot.numbers.number import Number, NumberBook, publish_numbers
from bot.otp.core import CODE_LIFE
from bot.outbound.sender import Sender
from bot.whatsapp.client import AiohttpTransport, CloudAPIClient
from bot.whatsapp.message_body import template_message
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository

FIRST_ID = 100_000_000_000_001
BATCH = 500  # notifications per POST in the served twin


def bench_numbers(count: int, rate: int) -> list[Number]:
    """`count` numbers, every other one with twice the limit, so that each is seen held to its own."""
    return [
        Number(str(FIRST_ID + i), f"+1 555 01{i:02d}", throughput=rate * (1 + i % 2), tier=None) for i in range(count)
    ]


def jain(values: list[float]) -> float:
    """Jain's index: 1.0 when all are equal, 1/n when one got everything."""
    total, squares = sum(values), sum(v * v for v in values)
    return round(total * total / (len(values) * squares), 4) if squares else 0.0


def fairness(shares: list[float], paces: list[float] | None = None) -> dict[str, float]:
    """Jain's index of each number's share of its own limit, the best share over the worst, and (given the
    paces) Jain's index of the paces themselves: what a fair sender gives when it, not the limits, is the
    bottleneck."""
    worst = min(shares, default=0.0)
    figures = {"jain_index": jain(shares), "best_over_worst": round(max(shares) / worst, 3) if worst else 0.0}
    if paces is not None:
        figures["jain_index_of_pace"] = jain(paces)
    return figures


def per_number(record: dict[str, Any], numbers: list[Number]) -> dict[str, Any]:
    """Each number's figures as the stand-in saw them, and the fairness across numbers."""
    accepted: dict[str, list[float]] = defaultdict(list)
    for at, number in zip(record["accepted"], record["numbers"], strict=True):
        accepted[number].append(at)
    refused: dict[str, int] = defaultdict(int)
    for number in record["refused_numbers"]:
        refused[number] += 1
    rows, shares, paces = {}, [], []
    for number in numbers:
        times = accepted.get(number.id, [])
        pace = sustained_rate(times)
        shares.append(pace / number.throughput)
        paces.append(pace)
        rows[number.id] = {
            "limit": number.throughput,
            "sent": len(times),
            "messages_per_second": round(pace, 1),
            "max_in_one_second": max_in_window(times),
            "refused_by_stand_in": refused.get(number.id, 0),
        }
    over = [n for n, row in rows.items() if row["max_in_one_second"] > row["limit"]]
    return {"numbers": rows, "numbers_over_their_limit": over, "fairness": fairness(shares, paces)}


async def fill(repository: Repository, numbers: list[Number], messages: int) -> None:
    """`messages` due utility templates from each number, each to a contact of its own."""
    now = datetime.now(UTC)
    for n, number in enumerate(numbers):
        batch: list[NewMessage] = []
        async with repository.transaction() as conn:
            for index in range(messages):
                wa_id = f"4475{n:02d}{index:06d}"
                contact = await ensure_contact(conn, wa_id, now)
                payload = template_message(wa_id, "order_update", "en", body_params=[f"#{index}"])
                batch.append(
                    NewMessage("utility", contact, wa_id, payload, now, "order_update", "utility",
                               phone_number_id=number.id)
                )  # fmt: skip
        await repository.enqueue(batch, now)


async def in_process(args: argparse.Namespace, numbers: list[Number], scratch: Path) -> dict[str, Any]:
    url = await migrated(args.database, scratch)
    repository = Repository.connect(url)
    rates = [option for n in numbers for option in ("--number-rate", f"{n.id}={n.throughput}")]
    try:
        book = await publish_numbers(repository, numbers, "file", datetime.now(UTC))
        await fill(repository, numbers, args.messages)
        await repository.refresh_outbox_statistics()
        async with stand_in_process(max(n.throughput for n in numbers), *rates) as base, aiohttp.ClientSession() as s:
            client = CloudAPIClient(
                transport=AiohttpTransport(s), base_url=base, version="v25.0", phone_number_id=book.default.id,
                access_token="bench", tokens=lambda number: "bench",
            )  # fmt: skip
            started, cpu = time.perf_counter(), time.process_time()
            await drain(repository, client, book)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            record = await stand_in_record(s, base)
    finally:
        await repository.close()
    return {
        "database": database_label(url),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        **per_number(record, numbers),
    }


async def drain(repository: Repository, client: CloudAPIClient, book: NumberBook) -> None:
    sender = Sender(
        repository, client, clock=lambda: datetime.now(UTC), metrics=Metrics(), code_life=CODE_LIFE, numbers=book
    )
    async with running(sender.run()):
        await until_drained(repository)


async def served_twin(args: argparse.Namespace, numbers: list[Number], scratch: Path) -> dict[str, Any]:
    """The same numbers through `bot serve`'s public doors: `POST /api/notifications` with `phone_number_id`."""
    project = scratch / "project"
    init = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "init", str(project),
                                                stdout=asyncio.subprocess.DEVNULL)  # fmt: skip
    if await init.wait() != 0:
        raise RuntimeError("bot init failed")
    lines = ["numbers:"] + [
        f'  - {{id: "{n.id}", display_number: "{n.display_number}", throughput: {n.throughput}, tier: unlimited}}'
        for n in numbers
    ]
    (project / "numbers.yaml").write_text("\n".join(lines) + "\n")
    rates = [option for n in numbers for option in ("--number-rate", f"{n.id}={n.throughput}")]
    async with stand_in_process(max(n.throughput for n in numbers), *rates) as graph_url:
        database = await migrated(args.database, scratch)
        environment = service_environment(graph_url, database, numbers[0].throughput, "warning")
        environment["BOT_PROJECT_DIR"] = str(project)
        async with fleet(1, ["serve"], environment, scratch) as service, aiohttp.ClientSession() as session:
            base, token = service.webhooks[0].removesuffix("/webhook"), environment["BOT_ADMIN_TOKEN"]
            items = [
                {**notification(f"n{i}", index), "wa_id": f"4476{i:02d}{index:06d}", "phone_number_id": number.id}
                for index in range(args.messages)
                for i, number in enumerate(numbers)
            ]  # interleaved: every number's notifications arrive together
            started = time.perf_counter()
            for start in range(0, len(items), BATCH):
                await post_batch(session, base, token, items[start : start + BATCH])
            await wait_for_replies(session, graph_url, len(items), 120.0)
            seconds = time.perf_counter() - started
            record = await stand_in_record(session, graph_url)
    return {"database": database_label(database), "seconds": round(seconds, 3), **per_number(record, numbers)}


async def run_numbers_bench(args: argparse.Namespace) -> str:
    numbers = bench_numbers(args.numbers, args.rate)
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as scratch:
        measure = served_twin if args.served else in_process
        figures = await measure(args, numbers, Path(scratch))
    return json.dumps(
        {
            "benchmark": "numbers",
            "served": bool(args.served),
            "numbers_count": len(numbers),
            "messages_per_number": args.messages,
            **figures,
            "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
        }
    )
