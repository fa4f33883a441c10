"""`bot bench send --processes N`: the outbox drained by N `bot worker` processes sharing one throughput limit."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import aiohttp

from bot.bench.figures import arrival_figures
from bot.bench.fleet import database_label, fleet, migrated, service_environment
from bot.bench.outbox import fill_outbox, until_drained
from bot.bench.stand_in import stand_in_process, stand_in_record
from storage.repository import Repository


async def run_with_workers(args: argparse.Namespace) -> str:
    """Start the stand-in (refusing beyond `--rate`) and the workers, fill the outbox, wait until it is drained."""
    with tempfile.TemporaryDirectory(prefix="bot-bench-send-") as folder:
        scratch = Path(folder)
        database = await migrated(args.database, scratch)
        repository = Repository.connect(database)
        try:
            async with stand_in_process(args.rate) as graph_url:
                environment = service_environment(graph_url, database, args.rate, "warning")
                async with fleet(args.processes, ["worker"], environment, scratch) as workers:
                    started = time.perf_counter()
                    cpu_before = workers.cpu_seconds()
                    await fill_outbox(repository, args.messages)
                    await until_drained(repository)
                    seconds = time.perf_counter() - started
                    cpu_after = workers.cpu_seconds()
                    memory = workers.memory()
                async with aiohttp.ClientSession() as session:
                    received = await stand_in_record(session, graph_url)
        finally:
            await repository.close()
    figures = arrival_figures(received, args.rate)
    cpu = cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
    sent = figures.pop("sent")
    return json.dumps(
        {
            "benchmark": "send",
            "database": database_label(database),
            "processes": args.processes,
            "rate": args.rate,
            "messages": args.messages,
            "sent": sent,
            "seconds": round(seconds, 3),
            **figures,
            "workers_cpu_ms_per_message": round(cpu * 1000 / sent, 3) if cpu is not None and sent else None,
            **memory,
        }
    )
