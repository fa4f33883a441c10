"""What the public-interface benchmarks share: one `bot serve` and a stand-in, and the admin API's doors.

A benchmark here starts the Graph API stand-in and a `bot serve` on a fresh database (or the one
given), then speaks to the service only as its users do: signed webhooks, and the admin API with its
bearer token. What it measures is what the stand-in received.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.fleet import BENCH_APP_SECRET, Fleet, migrated, service_environment, serving
from bot.bench.stand_in import stand_in_process

IMPORT_CHUNK = 5000  # contacts per CSV import request


@dataclass(frozen=True)
class Served:
    """A running service: its processes, its admin API and token, and the stand-in it sends to."""

    fleet: Fleet
    base: str  # http://host:port
    token: str
    graph_url: str
    database: str

    @property
    def webhook(self) -> str:
        return f"{self.base}/webhook"

    @property
    def secret(self) -> str:
        return BENCH_APP_SECRET

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, session: aiohttp.ClientSession, path: str, body: Any) -> Any:
        """POST JSON to the admin API; a non-2xx answer stops the benchmark with the service's message."""
        async with session.post(f"{self.base}/api{path}", json=body, headers=self.headers()) as response:
            answer = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"POST /api{path} answered {response.status}: {answer}")
            return answer

    async def get(self, session: aiohttp.ClientSession, path: str) -> Any:
        async with session.get(f"{self.base}/api{path}", headers=self.headers()) as response:
            response.raise_for_status()
            return await response.json()

    async def import_contacts(self, session: aiohttp.ClientSession, rows: Sequence[dict[str, str]]) -> int:
        """Import contacts as CSV files of `IMPORT_CHUNK` rows (`POST /api/contacts`); returns how many were stored."""
        stored = 0
        for start in range(0, len(rows), IMPORT_CHUNK):
            chunk = rows[start : start + IMPORT_CHUNK]
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(chunk[0]))
            writer.writeheader()
            writer.writerows(chunk)
            headers = {**self.headers(), "Content-Type": "text/csv"}
            async with session.post(f"{self.base}/api/contacts", data=text.getvalue(), headers=headers) as response:
                answer = await response.json()
                if response.status >= 300:
                    raise RuntimeError(f"POST /api/contacts answered {response.status}: {answer}")
                stored += int(answer.get("created", 0)) + int(answer.get("updated", 0))
        return stored


@contextlib.asynccontextmanager
async def served(args: argparse.Namespace, stand_in_rate: int, scratch: Path) -> AsyncIterator[Served]:
    """The stand-in (refusing beyond `stand_in_rate` a second) and one `bot serve` sending to it.

    With `args.workers` the `bot serve` runs without the sender, and that many `bot worker --roles
    sender` send instead (`serving`).
    """
    async with stand_in_process(stand_in_rate) as graph_url:
        database = await migrated(getattr(args, "database", None), scratch)
        environment = service_environment(graph_url, database, args.throughput, args.log_level)
        async with serving(1, getattr(args, "workers", 0), environment, scratch) as running:
            webhook = running.webhooks[0]
            base = webhook.removesuffix("/webhook")
            yield Served(running, base, environment["BOT_ADMIN_TOKEN"], graph_url, database)
