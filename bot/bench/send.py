"""`bot bench send`: drain a full outbox through the real sender into a Graph API stand-in and measure it.

The stand-in (`bot.bench.stand_in`) runs as its own process so that the measured process is only the
sender. It refuses a send beyond `rate` in any one-second window with 130429 and records when each
request arrived; the benchmark reads those times back and reports the busiest one-second window it saw.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bot.bench.figures import arrival_figures, peak_rss_mb, quarters
from bot.bench.outbox import drain, fill_outbox
from bot.bench.stand_in import linked_stand_in
from bot.bench.workers import run_with_workers
from storage.repository import Repository


async def run_send_bench(args: argparse.Namespace) -> str:
    """Fill the outbox, drain it through a stand-in process, and return the figures as one JSON object.

    By default the sender runs in this process. With `--processes N` it is N `bot worker` processes on
    the same database, started before the outbox is filled, sharing the one throughput limit.
    """
    if getattr(args, "processes", 0):
        return await run_with_workers(args)
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as scratch:
        url = args.database or f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        repository = Repository.connect(url)
        try:
            await repository.migrate()
            await fill_outbox(repository, args.messages)
            await repository.refresh_outbox_statistics()
            rss_before = peak_rss_mb()
            async with linked_stand_in(args.rate) as link:
                rss: list[float] = []
                cpu_before = time.process_time()  # this process's CPU, every thread (the sender and its drivers)
                seconds = await drain(repository, link.client, args.rate, rss)
                cpu = time.process_time() - cpu_before
                rss_after = peak_rss_mb()  # before reading the stand-in's record, which is the benchmark's own
                received = await link.received()
        finally:
            await repository.close()
    figures = arrival_figures(received, args.rate)
    return json.dumps(
        {
            "benchmark": "send",
            "database": url.split("://")[0],
            "processes": 1,
            "rate": args.rate,
            "messages": args.messages,
            "sent": figures.pop("sent"),
            "seconds": round(seconds, 3),
            **figures,
            "cpu_seconds": round(cpu, 3),
            "cpu_ms_per_message": round(cpu * 1000 / max(args.messages, 1), 3),
            "peak_rss_mb_before_send": rss_before,
            "peak_rss_mb": rss_after,
            "rss_mb_by_quarter": quarters(rss),
        }
    )
