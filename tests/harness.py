"""Real processes for the crash and fault tests: `bot` commands in a clean environment, killed and reaped."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import unused_port
from sqlalchemy import func, select

from bot.bench.stand_in import PHONE_NUMBER_ID
from bot.sandbox.wire import encode, inbound_webhook
from bot.whatsapp.message_body import template_message
from bot.whatsapp.signature import HEADER, sign
from storage.consent import OPT_IN, ConsentChange, record
from storage.models import MESSAGE, OUTBOX
from storage.otp import ensure_contact
from storage.outbox import NewMessage, callback_of
from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """The process environment without the runner's own bot settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
    env.update(
        BOT_DATABASE_URL=database_url,
        BOT_ADMIN_TOKEN=ADMIN_TOKEN,
        BOT_SECRET_KEY="crash-secret-key",
        BOT_QUIET_HOURS="off",
        BOT_MESSAGING_LIMIT="unlimited",
        BOT_LOG_LEVEL="warning",
        BOT_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def process(*args: str, env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot ARGS` with its output in `log`; killed and reaped on the way out."""
    with log.open("ab") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", "/dev/null", *args, env=env, cwd=ROOT, stdout=out, stderr=out
        )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll `check` every 0.1 s (a refused connection counts as not yet) until it answers something true."""
    async with asyncio.timeout(seconds):
        while True:
            with suppress(aiohttp.ClientError, OSError):
                value = await check()
                if value:
                    return value
            await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")  # pragma: no cover - asyncio.timeout raises first


async def sent_count(repository: Repository) -> int:
    async with repository.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).where(OUTBOX.c.status == "sent"))).scalar_one())


async def unsettled(repository: Repository) -> int:
    async with repository.engine.connect() as conn:
        stmt = select(func.count()).where(OUTBOX.c.status.in_(("queued", "sending")))
        return int((await conn.execute(stmt)).scalar_one())


async def at_least_sent(repository: Repository, n: int) -> bool:
    return await sent_count(repository) >= n


async def drained(repository: Repository) -> bool:
    return await unsettled(repository) == 0


async def queue_marketing(repository: Repository, numbers: Sequence[str], tag: str) -> list[int]:
    """One marketing template to each of `numbers`, who opted in first; returns their outbox ids."""
    now = datetime.now(UTC)
    async with repository.transaction() as conn:
        ids = [await ensure_contact(conn, wa_id, now) for wa_id in numbers]
        await record(conn, [ConsentChange(cid, OPT_IN, "api", {"by": "test"}, now) for cid in ids], now)
    messages = [
        NewMessage(
            kind="marketing", contact_id=cid, recipient=wa_id, payload=template_message(wa_id, "promo", "en"),
            due_at=now, template_name="promo", template_category="marketing", idempotency_key=f"{tag}:{wa_id}",
        )
        for cid, wa_id in zip(ids, numbers, strict=True)
    ]  # fmt: skip
    await repository.enqueue(messages, now)
    async with repository.engine.connect() as conn:
        keys = [m.idempotency_key for m in messages]
        rows = await conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.idempotency_key.in_(keys)))
        return sorted(r[0] for r in rows)


async def outbox_rows(repository: Repository) -> dict[int, Any]:
    """Every outbox row by id: kind, status, attempts, recipient and idempotency key."""
    columns = (OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.recipient)
    async with repository.engine.connect() as conn:
        rows = await conn.execute(select(*columns, OUTBOX.c.idempotency_key))
        return {r.id: r for r in rows}


# --- Meta mode against the Graph API stand-in (bot.bench.stand_in) -----------------------------------

APP_SECRET = "faults-app-secret"


def meta_environment(database_url: str, graph: str, **extra: str) -> dict[str, str]:
    """A process environment in Meta mode, its Graph API the stand-in at `graph`."""
    return environment(
        database_url,
        WHATSAPP_ACCESS_TOKEN="faults-token",
        WHATSAPP_API_URL=graph,
        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN="faults-verify-token",
        **{"BOT_THROUGHPUT": "500", **extra},
    )


def customer_text(wa_id: str, wamid: str) -> bytes:
    message = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": "hi"}}
    return encode(inbound_webhook(PHONE_NUMBER_ID, name="Ana", wa_id=wa_id, message=message))


async def post_until_acknowledged(session: aiohttp.ClientSession, url: str, body: bytes, acked: list[str]) -> None:
    """Post one webhook as Meta does: again and again until it is answered 200."""
    headers = {"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)}
    while True:
        try:
            async with session.post(url, data=body, headers=headers) as response:
                if response.status == 200:
                    acked.append(json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
                    return
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.1)


async def inbound_rows(repository: Repository) -> dict[str, Any]:
    async with repository.engine.connect() as conn:
        rows = await conn.execute(select(MESSAGE.c.wamid, MESSAGE.c.handled_at).where(MESSAGE.c.direction == "in"))
        return {r.wamid: r for r in rows}


async def all_handled(repository: Repository, wamids: list[str]) -> bool:
    rows = await inbound_rows(repository)
    return all(w in rows and rows[w].handled_at is not None for w in wamids) and await drained(repository)


def last_output(log: Path) -> str:
    """The end of the processes' shared log, for a failing test's report."""
    return f"the processes' last output:\n{log.read_text()[-4000:] if log.exists() else '(none)'}"


def events(log: Path, *prefixes: str) -> list[str]:
    """The processes' JSON log lines whose event starts with one of `prefixes`, for a failing test's report."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if any(f'"event": "{prefix}' in line for prefix in prefixes)]


async def acknowledge_all(session: aiohttp.ClientSession, url: str, bodies: Iterable[bytes], acked: list[str]) -> None:
    """Post each webhook, eight at a time, until it is answered 200 (Meta's retries)."""
    semaphore = asyncio.Semaphore(8)

    async def one(body: bytes) -> None:
        async with semaphore:
            await post_until_acknowledged(session, url, body, acked)

    await asyncio.gather(*(one(b) for b in bodies))


def assert_each_answered_once(
    wamids: Sequence[str], acked: list[str], inbound: dict[str, Any], rows: dict[int, Any], record: dict[str, Any]
) -> None:
    """Each customer's text acknowledged, stored and answered once, every reply accepted by Meta exactly once."""
    replies = Counter(r.idempotency_key.split(":")[1] for r in rows.values() if r.kind == "reply")
    assert sorted(acked) == sorted(wamids)  # every message acknowledged once in the end, by Meta's retries
    assert sorted(inbound) == sorted(wamids)  # stored once each (the wamid is unique)
    assert set(replies) == set(wamids)
    assert len(set(replies.values())) == 1  # every first message got its turn's replies, no more, no fewer
    assert {r.status for r in rows.values()} == {"sent"}
    reached, stored = Counter(record["callbacks"]), Counter(callback_of(i) for i in rows)
    assert reached == stored, f"sent again: {dict(reached - stored)}; never sent: {dict(stored - reached)}"


def worker_environment(database_url: str, base: str, **extra: str) -> dict[str, str]:
    """A `bot worker`'s environment: real Cloud API settings pointing at the sandbox web process at `base`."""
    return environment(
        database_url,
        WHATSAPP_ACCESS_TOKEN="worker-test-token",
        WHATSAPP_API_URL=f"{base}/sandbox",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_APP_SECRET="sandbox-app-secret",
        WHATSAPP_VERIFY_TOKEN="sandbox-verify-token",
        **extra,
    )


@asynccontextmanager
async def sandbox_meta(database_url: str, log: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """The sandbox `bot serve --roles web` process playing Meta (1,000/s), once healthy: a session and its base URL."""
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    web_env = environment(database_url, BOT_THROUGHPUT="1000")
    async with (
        process("serve", "--roles", "web", "--port", str(port), env=web_env, log=log),
        aiohttp.ClientSession() as session,
    ):

        async def healthy() -> bool:
            async with session.get(f"{base}/healthz") as response:
                return response.status == 200

        await wait_for(healthy, 30, "the web process")
        yield session, base
