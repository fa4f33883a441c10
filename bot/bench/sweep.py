"""`bot bench sweep`: how long the dispatcher's timeout sweep takes with N customers' sessions stored.

Every dispatcher round asks which sessions timed out (`Repository.due_sessions`): a waiting step past its
deadline, or a flow idle past its expiry. The sessions are seeded in bulk, one per customer who ever
wrote: most finished their flow a day ago, one in 20 is in a flow that has not expired, and `--due` are
in a flow past its expiry (none, by default: the usual round). Then the real query is timed, `--calls`
times, on a fresh database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bench.fleet import database_label
from storage.contacts import ContactValues, upsert_contacts
from storage.repository import Repository
from storage.session import add_sessions

SEED_CHUNK = 5000
RUNNING_EVERY = 20  # one session in 20 is in a flow that has not expired


def session_row(index: int, contact_id: int, now: datetime, due_every: int) -> dict[str, Any]:
    """The `index`-th customer's session: in a flow past its expiry, in a flow for 10 more minutes, or finished."""
    flow: str | None = "orders"
    step: str | None = "ask"
    expires = now + timedelta(minutes=10)
    if due_every and index % due_every == 0:
        expires = now - timedelta(minutes=1)
    elif index % RUNNING_EVERY:
        flow, step, expires = None, None, now - timedelta(days=1)  # finished a day ago
    return {"contact_id": contact_id, "flow": flow, "step": step, "expires_at": expires, "updated_at": now}


async def seed(repository: Repository, sessions: int, due: int, now: datetime) -> None:
    """`sessions` contacts with a session each, `due` of them (spread evenly) in a flow past its expiry."""
    due_every = -(-sessions // due) if due else 0  # rounded up: exactly `due` of them
    for start in range(0, sessions, SEED_CHUNK):
        indexes = range(start, min(sessions, start + SEED_CHUNK))
        async with repository.transaction() as conn:
            stored = await upsert_contacts(conn, [ContactValues(f"3161{i:08d}") for i in indexes], now)
            rows = [session_row(i, stored[f"3161{i:08d}"].contact_id, now, due_every) for i in indexes]
            # Statistics after every chunk: PostgreSQL then looks the next chunk's numbers up by index, and
            # the last chunk's leaves them fresh for the timed sweeps, as autovacuum would keep them.
            await add_sessions(conn, rows, analyze=True)


async def run_sweep_bench(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bot-bench-sweep-") as folder:
        url = args.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        repository = Repository.connect(url)
        try:
            await repository.migrate()
            now = datetime.now(UTC)
            began = time.perf_counter()
            await seed(repository, args.sessions, args.due, now)
            seeded = time.perf_counter() - began
            times, due = [], 0
            for _ in range(args.calls):
                began = time.perf_counter()
                due = len(await repository.due_sessions(now, 100))
                times.append((time.perf_counter() - began) * 1000)
        finally:
            await repository.close()
    return json.dumps({
        "benchmark": "sweep", "database": database_label(url), "sessions": args.sessions, "due": due,
        "seed_seconds": round(seeded, 1), "calls": args.calls, "p50_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
    })  # fmt: skip
