"""`bot bench live`: how long one round of the live inbox's poller takes with N messages stored.

The dashboard's live inbox (`bot.dashboard.live`) polls the database twice a second while a page listens:
the message rows above its mark, who waits for a person, and (when something changed) the unread counts,
which every dashboard page also reads for its navigation. `--messages` are seeded in bulk over `--contacts`
customers, `--waiting` of them handed to a person; then `--rounds` rounds are timed with one new message
each, and as many idle rounds, on a fresh database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.bench.fleet import database_label
from bot.dashboard.live import Hub
from storage import session
from storage.contacts import ContactValues, upsert_contacts
from storage.models import MESSAGE
from storage.repository import Repository

SEED_CHUNK = 20_000


def _message(wamid: str, contact_id: int, direction: str, now: datetime) -> dict[str, Any]:
    return {"wamid": wamid, "direction": direction, "contact_id": contact_id, "type": "text", "text": "x",
            "status": "received", "created_at": now}  # fmt: skip


async def seed(repository: Repository, args: argparse.Namespace, now: datetime) -> list[int]:
    """The contacts (the first `waiting` handed to a person) and their messages, in and out by turns."""
    async with repository.transaction() as conn:
        numbers = [f"3162{i:08d}" for i in range(args.contacts)]
        stored = await upsert_contacts(conn, [ContactValues(n) for n in numbers], now)
        ids = [stored[n].contact_id for n in numbers]
        await session.save_sessions(conn, {cid: {"handed_off": True} for cid in ids[: args.waiting]}, now)
    for start in range(0, args.messages, SEED_CHUNK):
        rows = [
            _message(f"wamid.bench.{i}", ids[i % len(ids)], "in" if i % 2 else "out", now)
            for i in range(start, min(args.messages, start + SEED_CHUNK))
        ]
        async with repository.transaction() as conn:
            await conn.execute(insert(MESSAGE), rows)
    return ids


async def run_live_bench(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bot-bench-live-") as folder:
        url = args.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        repository = Repository.connect(url)
        try:
            await repository.migrate()
            now = datetime.now(UTC)
            ids = await seed(repository, args, now)
            hub = Hub(repository)
            hub.join()
            await hub.changes()  # the opening round reads the mark and who waits
            busy, idle = [], []
            for n in range(args.rounds):
                async with repository.transaction() as conn:
                    await conn.execute(insert(MESSAGE), [_message(f"wamid.new.{n}", ids[n % args.waiting], "in", now)])
                began = time.perf_counter()
                told = await hub.changes()
                busy.append((time.perf_counter() - began) * 1000)
                assert told, "a new message was not told"
                began = time.perf_counter()
                await hub.changes()
                idle.append((time.perf_counter() - began) * 1000)
        finally:
            await repository.close()
    return json.dumps({
        "benchmark": "live", "database": database_label(url), "messages": args.messages, "contacts": args.contacts,
        "waiting": args.waiting, "rounds": args.rounds, "new_message_p50_ms": round(statistics.median(busy), 2),
        "new_message_max_ms": round(max(busy), 2), "idle_p50_ms": round(statistics.median(idle), 2),
    })  # fmt: skip
