"""Scale-out on PostgreSQL: two `bot serve` processes and a `bot worker` on one database share the work.

Meta is played by the Graph API stand-in process (`python -m bot.bench.stand_in`), which refuses any send
beyond the number's throughput limit with 130429 and records when each send arrived, for whom, and with
which `biz_opaque_callback_data` (the outbox row). Each customer's texts go to the two web processes in
turn, as a load balancer would spread them; utility updates queued in order go out through all three
senders at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from bot.bench.figures import max_in_window
from bot.bench.stand_in import PHONE_NUMBER_ID, stand_in_process, stand_in_record
from bot.sandbox.wire import encode, inbound_webhook
from bot.whatsapp.message_body import template_message, text_message
from storage.models import CONTACT
from storage.otp import ensure_contact
from storage.outbox import NewMessage, callback_of
from storage.repository import Repository
from tests.harness import (
    all_handled,
    inbound_rows,
    last_output,
    meta_environment,
    outbox_rows,
    post_until_acknowledged,
    process,
    wait_for,
)

LIMIT = 100  # the number's messages a second, for all processes together
CUSTOMERS, TEXTS = 24, 4  # customers writing in, and texts each (hi, menu, hi, menu)
RECIPIENTS, UPDATES = 30, 8  # contacts sent utility updates, and updates each, queued in order


def text_body(wa_id: str, index: int, sent_at: int) -> bytes:
    wamid = f"wamid.scale.{wa_id}.{index}"
    words = ("hi", "menu")[index % 2]
    message = {"from": wa_id, "id": wamid, "timestamp": str(sent_at + index), "type": "text", "text": {"body": words}}
    return encode(inbound_webhook(PHONE_NUMBER_ID, name="Ana", wa_id=wa_id, message=message))


async def write_in_turn(session: aiohttp.ClientSession, webhooks: list[str], wa_id: str, acked: list[str]) -> None:
    """One customer's texts, each sent once the one before was acknowledged, to the web processes in turn."""
    sent_at = int(time.time())
    for index in range(TEXTS):
        url = webhooks[(int(wa_id[-3:]) + index) % len(webhooks)]
        await post_until_acknowledged(session, url, text_body(wa_id, index, sent_at), acked)


async def queue_updates(repository: Repository) -> None:
    """UPDATES utility templates to each of RECIPIENTS contacts, the k-th carrying `#k`, enqueued in order."""
    now = datetime.now(UTC)
    numbers = [f"4478{n:08d}" for n in range(RECIPIENTS)]
    async with repository.transaction() as conn:
        ids = [await ensure_contact(conn, wa_id, now) for wa_id in numbers]
    for k in range(UPDATES):
        batch = [
            NewMessage(
                kind="utility", contact_id=cid, recipient=wa_id,
                payload=template_message(wa_id, "order_update", "en", body_params=[f"#{k}"]), due_at=now,
                template_name="order_update", template_category="utility", idempotency_key=f"update:{wa_id}:{k}",
            )
            for cid, wa_id in zip(ids, numbers, strict=True)
        ]  # fmt: skip
        await repository.enqueue(batch, now)


async def healthy(session: aiohttp.ClientSession, webhook: str) -> bool:
    async with session.get(webhook.replace("/webhook", "/healthz")) as response:
        return response.status == 200


def arrivals_by_recipient(record: dict[str, Any], rows: dict[int, Any]) -> dict[str, list[str]]:
    """Each recipient's sends in the order they reached the stand-in, named by their outbox idempotency keys."""
    by_callback = {callback_of(row_id): row for row_id, row in rows.items()}
    order: dict[str, list[str]] = defaultdict(list)
    for _, to, callback in sorted(zip(record["accepted"], record["to"], record["callbacks"], strict=True)):
        order[to].append(by_callback[callback].idempotency_key)
    return order


async def test_serve_and_worker_processes_keep_the_limit_and_each_contacts_order(
    database_url: str, tmp_path: Path
) -> None:
    """Three senders in three processes: at most LIMIT a second in all, every contact's messages in order, once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL; SQLite is the one-process default")
    repository = Repository.connect(database_url)
    await repository.migrate()
    logs = tmp_path / "processes.log"
    customers = [f"4479{n:08d}" for n in range(CUSTOMERS)]
    acked: list[str] = []
    try:
        async with stand_in_process(LIMIT) as graph, aiohttp.ClientSession() as session, AsyncExitStack() as stack:
            env = meta_environment(database_url, graph, BOT_THROUGHPUT=str(LIMIT))
            webhooks = []
            for _ in range(2):
                port = unused_port()
                await stack.enter_async_context(process("serve", "--port", str(port), env=env, log=logs))
                webhooks.append(f"http://127.0.0.1:{port}/webhook")
            await stack.enter_async_context(process("worker", env=env, log=logs))
            for url in webhooks:
                await wait_for(lambda url=url: healthy(session, url), 30, f"{url} up")
            await queue_updates(repository)
            await asyncio.gather(*(write_in_turn(session, webhooks, wa_id, acked) for wa_id in customers))
            wamids = [f"wamid.scale.{wa_id}.{i}" for wa_id in customers for i in range(TEXTS)]
            await wait_for(lambda: all_handled(repository, wamids), 120, "every text handled, the outbox drained")
            await asyncio.sleep(0.5)  # nothing may be sent again after the outbox says it is drained
            record = await stand_in_record(session, graph)
        inbound, rows = await inbound_rows(repository), await outbox_rows(repository)
    except BaseException:
        print(last_output(logs))
        raise
    finally:
        await repository.close()

    assert sorted(acked) == sorted(wamids)
    assert {r.status for r in rows.values()} == {"sent"}
    assert sorted(record["callbacks"]) == sorted(callback_of(i) for i in rows)  # each row reached Meta once
    assert record["codes"] == {}  # no 130429: together the processes never went over the limit
    assert max_in_window(record["accepted"]) <= LIMIT
    order = arrivals_by_recipient(record, rows)
    for wa_id in (f"4478{n:08d}" for n in range(RECIPIENTS)):
        assert order[wa_id] == [f"update:{wa_id}:{k}" for k in range(UPDATES)]
    for wa_id in customers:
        answered = [int(key.split(":")[1].rsplit(".", 1)[1]) for key in order[wa_id]]  # reply:{wamid}:{n}
        assert answered == sorted(answered)  # a text's replies never overtake an earlier text's
        assert set(answered) == set(range(TEXTS))  # every text answered
        handled = [inbound[f"wamid.scale.{wa_id}.{i}"].handled_at for i in range(TEXTS)]
        assert handled == sorted(handled)  # and handled in the customer's order, whichever process took it


SHARED = 20  # the number's limit for the two processes started together, one of them killed
REPLIES = 800  # more than they can send before the test ends, so neither ever runs dry


def shares(log: Path) -> list[dict[str, Any]]:
    """The processes' `sender.share` log lines: which sender took which share, in order."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if '"event": "sender.share"' in line]


async def test_two_serve_processes_started_together_then_one_killed_keep_the_shared_limit(
    database_url: str, tmp_path: Path
) -> None:
    """Two `bot serve` started at once share the limit; one is killed, the other grows: no second ever exceeds it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL; SQLite is the one-process default")
    repository = Repository.connect(database_url)
    await repository.migrate()
    now = datetime.now(UTC)
    numbers = [f"4477{n:08d}" for n in range(REPLIES)]
    async with repository.transaction() as conn:
        ids = [await ensure_contact(conn, wa_id, now) for wa_id in numbers]
        await conn.execute(CONTACT.update().values(last_inbound_at=now))  # each just wrote in: replies may go
    replies = [
        NewMessage("reply", cid, wa_id, text_message(wa_id, "hi"), now, idempotency_key=f"shared:{wa_id}")
        for cid, wa_id in zip(ids, numbers, strict=True)
    ]
    await repository.enqueue(replies, now)
    logs = tmp_path / "processes.log"
    try:
        async with stand_in_process(SHARED) as graph, aiohttp.ClientSession() as session, AsyncExitStack() as stack:
            env = meta_environment(database_url, graph, BOT_THROUGHPUT=str(SHARED), BOT_LOG_LEVEL="info")
            started = [
                await stack.enter_async_context(process("serve", "--port", str(unused_port()), env=env, log=logs))
                for _ in range(2)
            ]

            async def halves() -> bool:  # both senders have counted each other
                return len({e["owner"] for e in shares(logs) if e["rate"] == SHARED // 2}) == 2

            await wait_for(halves, 60, "both senders at half the limit")
            started[0].kill()
            await started[0].wait()
            killed_at = len(shares(logs))

            async def grown() -> bool:  # the survivor counted the killed one out, and a window passed
                return any(e["rate"] == SHARED for e in shares(logs)[killed_at:])

            await wait_for(grown, 60, "the survivor at the whole limit")
            before = len((await stand_in_record(session, graph))["accepted"])

            async def a_window_more() -> bool:
                return len((await stand_in_record(session, graph))["accepted"]) > before + SHARED

            await wait_for(a_window_more, 60, "the survivor sending at the whole limit")
            record = await stand_in_record(session, graph)
    except BaseException:
        print(last_output(logs))
        raise
    finally:
        await repository.close()

    assert record["codes"] == {}  # no 130429: the stand-in never saw more than the limit in a second
    assert max_in_window(record["accepted"]) <= SHARED
