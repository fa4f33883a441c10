"""SIGKILL under load: `bot serve` amid customers' messages, `bot worker` amid marketing and one-time codes.

Meta is played by the Graph API stand-in process (`python -m bot.bench.stand_in`), which outlives the kills: it
counts every send by its `biz_opaque_callback_data` and, like Meta, reports each accepted send back to the
webhook as a signed `sent` status, retrying until the service is back to take it.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port
from sqlalchemy import func, select

from bot.bench.faults import FaultPlan
from bot.bench.stand_in import stand_in_process, stand_in_record
from bot.whatsapp.message_body import template_message
from storage.models import OUTBOX
from storage.otp import ensure_contact
from storage.outbox import NewMessage, callback_of
from storage.repository import Repository
from tests.harness import (
    APP_SECRET,
    acknowledge_all,
    all_handled,
    assert_each_answered_once,
    customer_text,
    inbound_rows,
    last_output,
    meta_environment,
    outbox_rows,
    process,
    queue_marketing,
    wait_for,
)

CUSTOMERS = 300


async def test_a_killed_serve_handles_every_acknowledged_message_once(database_url: str, tmp_path: Path) -> None:
    """SIGKILL `bot serve` amid customers' texts and restart it: each one acknowledged is stored and answered once."""
    repository = Repository.connect(database_url)
    await repository.migrate()
    port = unused_port()
    webhook = f"http://127.0.0.1:{port}/webhook"
    wamids = [f"wamid.faults.{n:05d}" for n in range(CUSTOMERS)]
    seed = random.randrange(1_000_000)
    kill_after = random.Random(seed).randrange(30, CUSTOMERS - 60)
    logs = tmp_path / "processes.log"
    acked: list[str] = []
    try:
        async with (
            stand_in_process(1000, "--webhook", webhook, "--app-secret", APP_SECRET) as graph,
            aiohttp.ClientSession() as session,
        ):
            env = meta_environment(database_url, graph, BOT_SEND_LEASE_SECONDS="8")
            serve = ("serve", "--port", str(port))
            bodies = [customer_text(f"4477{n:08d}", wamid) for n, wamid in enumerate(wamids)]
            async with process(*serve, env=env, log=logs) as victim:
                load = asyncio.ensure_future(acknowledge_all(session, webhook, bodies, acked))

                async def enough() -> bool:
                    return len(acked) >= kill_after

                await wait_for(enough, 60, f"{kill_after} acknowledged")
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                killed_at = len(acked)
            async with process(*serve, env=env, log=logs):
                await load
                await wait_for(lambda: all_handled(repository, wamids), 90, "every message handled, the outbox drained")
                await asyncio.sleep(0.5)  # the last `sent` statuses on their way; nothing may be sent again meanwhile
                record = await stand_in_record(session, graph)
        inbound, rows = await inbound_rows(repository), await outbox_rows(repository)
    except BaseException:
        print(f"seed {seed}, kill after {kill_after}; the processes' last output:\n{logs.read_text()[-4000:]}")
        raise
    finally:
        await repository.close()
    print(f"seed {seed}: killed after {killed_at} of {CUSTOMERS} acknowledged; {len(rows)} replies")
    assert_each_answered_once(wamids, acked, inbound, rows, record)


async def queue_codes(repository: Repository, numbers: list[str]) -> list[int]:
    """One authentication template (a one-time code) to each of `numbers`; returns their outbox ids."""
    now = datetime.now(UTC)
    async with repository.transaction() as conn:
        ids = [await ensure_contact(conn, wa_id, now) for wa_id in numbers]
    messages = [
        NewMessage(
            kind="otp", contact_id=cid, recipient=wa_id,
            payload=template_message(wa_id, "login_code", "en", body_params=["493021"]),
            due_at=now, template_name="login_code", template_category="authentication", idempotency_key=f"otp:{wa_id}",
        )
        for cid, wa_id in zip(ids, numbers, strict=True)
    ]  # fmt: skip
    await repository.enqueue(messages, now)
    return [i for i, r in (await outbox_rows(repository)).items() if r.kind == "otp"]


async def statuses(repository: Repository, ids: list[int]) -> Counter[str]:
    async with repository.engine.connect() as conn:
        rows = await conn.execute(
            select(OUTBOX.c.status, func.count()).where(OUTBOX.c.id.in_(ids)).group_by(OUTBOX.c.status)
        )
        return Counter({status: n for status, n in rows})


async def test_a_killed_worker_never_sends_marketing_or_a_code_again(database_url: str, tmp_path: Path) -> None:
    """SIGKILL a worker with marketing and codes in flight: marketing ends `unknown`, codes `expired`, none resent."""
    repository = Repository.connect(database_url)
    await repository.migrate()
    marketing = [f"4476{n:08d}" for n in range(5)]
    codes = [f"4475{n:08d}" for n in range(5)]
    ids = await queue_marketing(repository, marketing, "kill") + await queue_codes(repository, codes)
    # Meta takes every one of these, but its answers hang past the kill and no status webhook ever comes.
    plan = FaultPlan(lost_answers=frozenset(marketing + codes), hang_seconds=60)
    logs = tmp_path / "processes.log"
    try:
        async with stand_in_process(1000, "--faults", plan.to_json()) as graph, aiohttp.ClientSession() as session:
            env = meta_environment(database_url, graph, BOT_SEND_LEASE_SECONDS="3")

            async def all_arrived() -> bool:
                return len((await stand_in_record(session, graph))["callbacks"]) == len(ids)

            async with process("worker", env=env, log=logs) as victim:
                await wait_for(all_arrived, 30, "every send at the stand-in")
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
            async with process("worker", env=env, log=logs):

                async def settled() -> bool:
                    return (await statuses(repository, ids)) == Counter(unknown=len(marketing), expired=len(codes))

                await wait_for(settled, 30, "the reaper to settle the dead worker's sends")
                record = await stand_in_record(session, graph)
        rows = await outbox_rows(repository)
    except BaseException:
        print(last_output(logs))
        raise
    finally:
        await repository.close()
    assert Counter(record["callbacks"]) == Counter(callback_of(i) for i in ids)  # each sent exactly once
    assert sum(record["attempts"].values()) == len(ids)
    assert all(rows[i].attempts == 1 for i in ids)
