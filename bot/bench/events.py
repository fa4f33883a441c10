"""`bot bench events`: events/s to a local receiver; `--kill`: a SIGKILL mid-stream loses and reorders nothing.

Through the public doors only: signed webhooks in (each customer text is a `message.received` event),
`POST /api/subscriptions` for the receiver, and the receiver (an aiohttp app in this process) checking
every delivery's signature. Customers' texts are posted in order per customer (a customer's next
webhook leaves once the last was acknowledged), so the order they were stored in is known.

The default run fills the queue through a `bot serve` that only takes webhooks, then starts a
`bot worker` and times how fast it drains the queue into the receiver. `--kill` runs one `bot serve`
that takes webhooks and delivers at once, kills it with SIGKILL a third of the way through, starts
another, and checks that every event arrived and each customer's arrived in order (duplicates are
allowed: delivery is at least once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.bench.fleet import Fleet, database_label, fleet, migrated, service_environment
from bot.bench.stand_in import stand_in_process
from bot.bench.webhook import signed, text_payload
from bot.events import signature

STAND_IN_RATE = 1_000_000


@dataclass
class Arrivals:
    """What the receiver got: each delivery's event id, customer and sequence number, and when."""

    secret: str = ""
    bad_signatures: int = 0
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    order: dict[str, list[int]] = field(default_factory=dict)  # wa_id → sequence numbers, first arrivals
    first_at: float | None = None
    last_at: float = 0.0

    def record(self, body: bytes, header: str | None) -> None:
        if not signature.verify(self.secret, body, header, time.time()):
            self.bad_signatures += 1
            return
        event = json.loads(body)
        if event["id"] in self.seen:
            self.duplicates += 1
            return
        self.seen.add(event["id"])
        self.order.setdefault(event["contact"]["wa_id"], []).append(int(event["data"]["text"]))
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now

    def out_of_order(self) -> int:
        """Customers whose events first arrived in another order than they were stored."""
        return sum(1 for seqs in self.order.values() if seqs != sorted(seqs))


@contextlib.asynccontextmanager
async def receiver(arrivals: Arrivals) -> AsyncIterator[str]:
    """The business's endpoint on a local port: checks the signature, records, answers 204."""

    async def hook(request: web.Request) -> web.Response:
        arrivals.record(await request.read(), request.headers.get(signature.HEADER))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/events"
    finally:
        await runner.cleanup()


class Customers:
    """`customers` texting `rounds` times each, in groups of `per_webhook` per webhook, each group in order."""

    def __init__(self, customers: int, rounds: int, per_webhook: int) -> None:
        run = os.urandom(3).hex()
        self.groups = [
            [f"4479{index:07d}" for index in range(start, min(start + per_webhook, customers))]
            for start in range(0, customers, per_webhook)
        ]
        self.rounds, self.run = rounds, run
        self.url = ""

    @property
    def events(self) -> int:
        return sum(len(g) for g in self.groups) * self.rounds

    def webhook(self, group: int, round_: int, secret: str) -> tuple[bytes, dict[str, str]]:
        now = int(time.time())
        payloads = [
            text_payload(wa_id, f"wamid.ev.{self.run}.{wa_id}.{round_}", now, str(round_))
            for wa_id in self.groups[group]
        ]
        messages = [m for p in payloads for m in p["entry"][0]["changes"][0]["value"]["messages"]]
        contacts = [c for p in payloads for c in p["entry"][0]["changes"][0]["value"]["contacts"]]
        merged = payloads[0]
        merged["entry"][0]["changes"][0]["value"].update(messages=messages, contacts=contacts)
        [request] = signed(secret, [merged])
        return request

    async def text(self, session: aiohttp.ClientSession, secret: str) -> None:
        """Every group posts its rounds in order; a refused or lost post is tried again at `self.url`, as Meta does."""

        async def one_group(group: int) -> None:
            for round_ in range(self.rounds):
                body, headers = self.webhook(group, round_, secret)
                while True:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with session.post(self.url, data=body, headers=headers) as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(one_group(g) for g in range(len(self.groups))))


async def subscribe(session: aiohttp.ClientSession, base: str, token: str, url: str) -> str:
    body = {"url": url, "events": ["message.received"], "description": "bot bench events"}
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{base}/api/subscriptions", json=body, headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        if response.status != 201:
            raise RuntimeError(f"POST /api/subscriptions answered {response.status}: {answer}")
    return str(answer["secret"])


async def until(check: Any, stall: float, what: str, arrivals: Arrivals) -> None:
    """Wait for `check()`; give up when nothing arrived for `stall` seconds."""
    count, since = len(arrivals.seen), time.monotonic()
    while not check():
        await asyncio.sleep(0.05)
        if len(arrivals.seen) != count:
            count, since = len(arrivals.seen), time.monotonic()
        elif time.monotonic() - since > stall:
            raise RuntimeError(f"no event arrived for {stall:g} s while waiting for {what} ({count} arrived)")


def _environment(graph_url: str, database: str, args: argparse.Namespace) -> dict[str, str]:
    env = service_environment(graph_url, database, 1000, args.log_level)
    env.update(BOT_EVENTS_CONCURRENCY=str(args.concurrency), BOT_EVENTS_TIMEOUT_SECONDS=str(args.timeout))
    return env


async def run_events_bench(args: argparse.Namespace) -> str:
    customers = Customers(args.customers, args.rounds, args.per_webhook)
    arrivals = Arrivals()
    with tempfile.TemporaryDirectory(prefix="bench-events-") as folder:
        scratch = Path(folder)
        async with stand_in_process(STAND_IN_RATE) as graph_url, receiver(arrivals) as hook_url:
            database = await migrated(args.database, scratch)
            env = _environment(graph_url, database, args)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                if args.kill:
                    figures = await _killed(args, customers, arrivals, env, scratch, session, hook_url)
                else:
                    figures = await _drained(args, customers, arrivals, env, scratch, session, hook_url)
    figures = {"database": database_label(database), "events": customers.events, **figures}
    figures |= {"duplicates": arrivals.duplicates, "bad_signatures": arrivals.bad_signatures}
    figures |= {"lost": customers.events - len(arrivals.seen), "customers_out_of_order": arrivals.out_of_order()}
    return json.dumps(figures, indent=2)


async def _drained(
    args: argparse.Namespace,
    customers: Customers,
    arrivals: Arrivals,
    env: dict[str, str],
    scratch: Path,
    session: aiohttp.ClientSession,
    hook_url: str,
) -> dict[str, Any]:
    """Fill the queue through a webhook-only `bot serve`, then time a `bot worker` draining it."""
    async with fleet(1, ["serve", "--roles", "web"], env, scratch) as web_only:
        base = web_only.webhooks[0].removesuffix("/webhook")
        arrivals.secret = await subscribe(session, base, env["BOT_ADMIN_TOKEN"], hook_url)
        customers.url = web_only.webhooks[0]
        began = time.monotonic()
        await customers.text(session, env["WHATSAPP_APP_SECRET"])
        filled = time.monotonic() - began
        async with fleet(args.workers, ["worker"], env, scratch) as workers:
            started, cpu = time.monotonic(), workers.cpu_seconds()
            await until(lambda: len(arrivals.seen) >= customers.events, args.stall, "every event", arrivals)
            took = time.monotonic() - started
            used = workers.cpu_seconds()
            memory = workers.memory()
    return {
        "mode": "drain",
        "workers": args.workers,
        "fill_seconds": round(filled, 2),
        "webhook_messages_per_s": round(customers.events / filled),
        "drain_seconds": round(took, 2),
        "events_per_s": round(customers.events / took),
        "worker_cpu_seconds": round(used - cpu, 2) if used is not None and cpu is not None else None,
        # What one core would deliver if the worker had it to itself: the figure a loaded machine hides.
        "events_per_worker_cpu_second": round(customers.events / (used - cpu)) if used and cpu is not None else None,
        **memory,
    }


async def _killed(
    args: argparse.Namespace,
    customers: Customers,
    arrivals: Arrivals,
    env: dict[str, str],
    scratch: Path,
    session: aiohttp.ClientSession,
    hook_url: str,
) -> dict[str, Any]:
    """One `bot serve` takes webhooks and delivers; SIGKILLed a third of the way, another takes over."""
    async with contextlib.AsyncExitStack() as stack:
        first: Fleet = await stack.enter_async_context(fleet(1, ["serve", "--roles", "web,sender"], env, scratch))
        base = first.webhooks[0].removesuffix("/webhook")
        arrivals.secret = await subscribe(session, base, env["BOT_ADMIN_TOKEN"], hook_url)
        customers.url = first.webhooks[0]
        began = time.monotonic()
        texting = asyncio.create_task(customers.text(session, env["WHATSAPP_APP_SECRET"]))
        await until(lambda: len(arrivals.seen) >= customers.events // 3, args.stall, "a third", arrivals)
        pid = first.services[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = len(arrivals.seen)
        (scratch / "after").mkdir()
        second = await stack.enter_async_context(fleet(1, ["serve", "--roles", "web,sender"], env, scratch / "after"))
        customers.url = second.webhooks[0]
        await texting
        await until(
            lambda: len(arrivals.seen) >= customers.events, args.stall + args.timeout * 6, "every event", arrivals
        )
        took = time.monotonic() - began
    return {
        "mode": "kill",
        "delivered_before_kill": killed_at,
        "seconds": round(took, 2),
        "events_per_s_overall": round(customers.events / took),
    }
