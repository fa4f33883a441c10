"""`bot bench import`: a CSV file of N contacts posted to a real `bot serve`, streamed in chunks, and timed.

Two processes: this client and one `bot serve --roles web` on a fresh SQLite file (or the `--database`
given, migrated first). The client builds the file in memory (a name, a language and three tags on every
row, an opt-in with its evidence on every `--consent-every`-th: about 80 bytes a row, so 400,000 rows
are 31 MB), then posts it over a real socket as a chunked body of `--chunk` bytes at a time, as a large
upload arrives. The wall time runs from the first byte sent to the answer; the service's peak resident
memory is read from `/proc` afterwards. Every run's numbers are new (a random block of Dutch mobile
numbers), so a reused database sees creates.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.fleet import Service, database_label, fleet, migrated, service_environment

HEADER = "wa_id,name,language,tags,marketing,consent_evidence,consent_at\n"
FIRST, NUMBERS = 10_000_000, 50_000_000  # Dutch mobiles: +31 6 1000 0000 to +31 6 5999 9999


def csv_file(rows: int, consent_every: int, first: int) -> bytes:
    """`rows` contacts with numbers from `first` on; every `consent_every`-th row (0: none) opts in with evidence."""
    lines = [HEADER]
    for index in range(rows):
        number = FIRST + (first + index) % NUMBERS
        consent = ",,"
        if consent_every and index % consent_every == 0:
            consent = "opt_in,newsletter signup form,2026-03-02T10:00:00Z"
        lines.append(f"+316{number:08d},Customer Name {index:06d},nl,spring-2026;newsletter;bench,{consent}\n")
    return "".join(lines).encode()


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def post_file(url: str, token: str, data: bytes, chunk: int) -> tuple[int, dict[str, Any], float]:
    """POST the file as a chunked body; the status, the JSON answer and the seconds from the first byte to it."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        began = time.perf_counter()
        async with session.post(url, data=chunks(data, chunk), headers=headers) as response:
            body = await response.json(content_type=None)
            return response.status, body, time.perf_counter() - began


def summary(args: argparse.Namespace, status: int, answer: dict[str, Any], seconds: float) -> dict[str, Any]:
    rejected = answer.get("rejected", [])
    stored = answer.get("created", 0) + answer.get("updated", 0)
    return {
        "benchmark": "import",
        "status": status,
        "rows_sent": args.rows,
        "rows_read": answer.get("rows"),
        "created": answer.get("created"),
        "updated": answer.get("updated"),
        "consent_recorded": answer.get("consent_recorded"),
        "rejected": len(rejected) if isinstance(rejected, list) else rejected,
        "first_rejections": rejected[:3] if isinstance(rejected, list) else None,
        "every_row_accounted_for": stored + len(rejected) == args.rows,
        "error": answer.get("error"),
        "seconds": round(seconds, 3),
        "rows_per_second": round(args.rows / seconds, 1) if seconds > 0 else 0.0,
    }


async def run_import_bench(args: argparse.Namespace) -> str:
    """Start one `bot serve` on a fresh (or the given) database, post the file to it, and return figures as JSON."""
    first = random.randrange(NUMBERS)
    data = csv_file(args.rows, args.consent_every, first)
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bot-bench-import-") as folder:
        scratch = Path(folder)
        database = await migrated(args.database, scratch)
        # Nothing is sent: the Graph API URL is never called, it only puts the service in real-Meta mode.
        environment = service_environment("http://127.0.0.1:9", database, 80, args.log_level)
        async with fleet(1, ["serve", "--roles", args.roles], environment, scratch) as service:
            [process] = service.services
            assert process.webhook is not None
            url = process.webhook.replace("/webhook", "/api/contacts")
            rss_before = Service(None, process.pid).peak_rss_mb()
            cpu_before = process.cpu_seconds()
            status, answer, seconds = await post_file(url, environment["BOT_ADMIN_TOKEN"], data, args.chunk)
            cpu_after = process.cpu_seconds()
            figures = summary(args, status, answer, seconds)
            figures.update({
                "bytes": len(data),
                "service_peak_rss_mb_before": rss_before,
                "service_peak_rss_mb": process.peak_rss_mb(),
                "service_cpu_seconds": round(cpu_after - cpu_before, 2)
                if cpu_after is not None and cpu_before is not None else None,
                "database": database_label(database),
                "parameters": {"chunk": args.chunk, "consent_every": args.consent_every, "roles": args.roles},
                "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
            })  # fmt: skip
    return json.dumps(figures)
