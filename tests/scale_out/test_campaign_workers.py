"""A recurring campaign with two `bot worker` processes on one PostgreSQL database fires once per scheduled time.

The sandbox `bot serve --roles web` process plays Meta (as in tests/faults/test_crash.py). The campaign is created
through the real API by an app whose clock stands three minutes back, so its per-minute cron's first run is
already missed when the workers start: they catch up with one run for the current minute, then one at the
next minute, in real time. Both workers race to start each run; the unique (campaign, scheduled_for) row
and the run's cursor decide, so each recipient gets one message per occurrence.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.whatsapp.client import RecordingTransport
from storage.models import CAMPAIGN_RUN, OUTBOX
from storage.repository import Repository
from tests.api.test_app import ClientFactory
from tests.conftest import FakeClock
from tests.faults.test_crash import AUTH, received
from tests.harness import process, sandbox_meta, wait_for, worker_environment

OPTED_IN = [f"3161200{n:04d}" for n in range(40)]
OPTED_OUT = ["31612999001", "31612999002"]
CSV_HEADERS = {**AUTH, "Content-Type": "text/csv"}


def contacts_csv() -> bytes:
    rows = [f"{wa_id},Ana {wa_id[-4:]},spring,opt_in,signup form" for wa_id in OPTED_IN]
    rows += [f"{wa_id},,spring,opt_out,unsubscribe email" for wa_id in OPTED_OUT]
    return "\n".join(["wa_id,name,tags,marketing,consent_evidence", *rows]).encode()


async def create_campaign(aiohttp_client: ClientFactory, make_settings: Any, past: datetime) -> int:
    """Contacts and a per-minute campaign through the API of an app whose clock reads `past`."""
    app = create_app(make_settings(), clock=FakeClock(past), transport=RecordingTransport(), roles={"web"})
    client = await aiohttp_client(app)
    imported = await client.post("/api/contacts", data=contacts_csv(), headers=CSV_HEADERS)
    assert imported.status == 200, await imported.text()
    assert (await imported.json())["rejected"] == []
    values = {"customer_name": {"field": "name", "default": "there"}, "discount": "10%", "promo_code": "MINUTE",
              "expiry_date": "Sunday"}  # fmt: skip
    body = {"name": "Every minute", "template": "promotion_code", "parameters": values,
            "audience": {"tags": ["spring"]}, "cron": "* * * * *", "time_zone": "UTC", "frequency_cap": 10}  # fmt: skip
    created = await client.post("/api/campaigns", json=body, headers=AUTH)
    campaign: dict[str, Any] = await created.json()
    assert created.status == 201, campaign
    assert datetime.fromisoformat(campaign["next_run_at"]) < datetime.now(UTC) - timedelta(minutes=1)
    return int(campaign["id"])


async def runs_settled(repository: Repository, campaign_id: int, count: int) -> list[datetime]:
    """The run times once `count` runs exist, all expanded, and none of their messages is waiting or in flight."""
    async with repository.engine.connect() as conn:
        runs = (
            await conn.execute(
                select(CAMPAIGN_RUN.c.scheduled_for, CAMPAIGN_RUN.c.state).where(
                    CAMPAIGN_RUN.c.campaign_id == campaign_id
                )
            )
        ).all()
        waiting = (
            await conn.execute(
                select(func.count()).where(
                    OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status.in_(("queued", "sending"))
                )
            )
        ).scalar_one()
    if len(runs) < count or waiting or any(state == "expanding" for _, state in runs):
        return []
    return sorted(at for at, _ in runs)


async def sent_per_run(repository: Repository, campaign_id: int) -> dict[tuple[int, str], int]:
    """How many messages each (run, recipient) was sent, read from the idempotency keys `campaign:{run}:{contact}`."""
    async with repository.engine.connect() as conn:
        rows = await conn.execute(
            select(OUTBOX.c.idempotency_key, OUTBOX.c.recipient).where(
                OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status == "sent"
            )
        )
        return dict(Counter((int(key.split(":")[1]), recipient) for key, recipient in rows))


async def test_two_workers_send_a_recurring_campaign_once_per_occurrence(
    database_url: str, tmp_path: Path, aiohttp_client: ClientFactory, make_settings: Any
) -> None:
    """Two workers on PostgreSQL: one run row per minute the cron names, one message per recipient per run."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share one database on PostgreSQL; SQLite is the one-process default")
    repository = Repository.connect(database_url)
    await repository.migrate()
    logs = tmp_path / "processes.log"
    try:
        campaign_id = await create_campaign(aiohttp_client, make_settings, datetime.now(UTC) - timedelta(minutes=3))
        async with sandbox_meta(database_url, logs) as (session, base):
            worker_env = worker_environment(database_url, base, BOT_THROUGHPUT="200")
            async with AsyncExitStack() as stack:
                for _ in range(2):
                    await stack.enter_async_context(process("worker", env=worker_env, log=logs))
                times = await wait_for(lambda: runs_settled(repository, campaign_id, 2), 140, "two runs sent")
            # Both workers are stopped: no third minute can start while the counts are read.
            counts = {wa_id: len(await received(session, base, wa_id)) for wa_id in OPTED_IN + OPTED_OUT}
        per_run = await sent_per_run(repository, campaign_id)
        async with repository.engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).where(CAMPAIGN_RUN.c.campaign_id == campaign_id))).scalar()
    except BaseException:
        print(f"the processes' last output:\n{logs.read_text()[-4000:] if logs.exists() else ''}")
        raise
    finally:
        await repository.close()
    first, second = times
    assert rows == 2
    assert (first.second, second - first) == (0, timedelta(minutes=1))  # two consecutive minutes of the cron
    assert counts == {**dict.fromkeys(OPTED_IN, 2), **dict.fromkeys(OPTED_OUT, 0)}
    assert sorted(per_run.values()) == [1] * (2 * len(OPTED_IN))
    assert len({run for run, _ in per_run}) == 2
