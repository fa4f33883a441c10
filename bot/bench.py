"""`bot bench webhook`: fire signed webhooks at a running service and measure durable acknowledgements."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.settings import SANDBOX_APP_SECRET, SANDBOX_PHONE_NUMBER_ID
from bot.signature import HEADER, sign

CONTACTS = 1000  # distinct senders, so contact rows are both inserted and refreshed
STATUS_SHARE = 5  # in `mixed`, every fifth webhook is a status update (80/20)

Request = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class BenchConfig:
    url: str
    secret: str
    concurrency: int
    requests: int
    warmup: int
    kind: str


@dataclass
class Tally:
    """What one phase saw: 200s (durable acknowledgements), everything else by status or error name."""

    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    posted: dict[int, float] = field(default_factory=dict)  # request index → `time.monotonic()` when posted
    began: float = field(default_factory=time.monotonic)


def config_from(args: argparse.Namespace) -> BenchConfig:
    secret = args.secret or os.environ.get("WHATSAPP_APP_SECRET") or SANDBOX_APP_SECRET
    return BenchConfig(args.url, secret, args.concurrency, args.requests, args.warmup, args.kind)


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": SANDBOX_PHONE_NUMBER_ID}
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}


def text_payload(wa_id: str, wamid: str, timestamp: int, text: str = "hello") -> dict[str, Any]:
    """A Meta webhook carrying one inbound text message from `wa_id`."""
    message = {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": "text", "text": {"body": text}}
    contact = {"profile": {"name": f"Bench {wa_id[-4:]}"}, "wa_id": wa_id}
    return _envelope({"contacts": [contact], "messages": [message]})


def status_payload(wa_id: str, wamid: str, timestamp: int) -> dict[str, Any]:
    """A Meta webhook carrying one `delivered` status for a message the service never sent."""
    status = {"id": wamid, "status": "delivered", "timestamp": str(timestamp), "recipient_id": wa_id}
    return _envelope({"statuses": [status]})


def payload(kind: str, index: int, run: str, timestamp: int) -> dict[str, Any]:
    """The `index`-th webhook of a run; wamids carry the run id so that repeated runs never collide."""
    wa_id = f"4470{index % CONTACTS:07d}"
    wamid = f"wamid.bench.{run}.{index}"
    if kind == "status" or (kind == "mixed" and index % STATUS_SHARE == STATUS_SHARE - 1):
        return status_payload(wa_id, wamid, timestamp)
    return text_payload(wa_id, wamid, timestamp)


def build_requests(kind: str, count: int, secret: str, *, start: int = 0) -> list[Request]:
    """Serialised, signed bodies, built before the clock starts so the client's own cost stays low."""
    run, now = secrets.token_hex(4), int(time.time())
    return signed(secret, [payload(kind, index, run, now) for index in range(start, start + count)])


def signed(secret: str, payloads: list[dict[str, Any]]) -> list[Request]:
    """Each payload serialised and signed as Meta would, ready to post."""
    requests = []
    for item in payloads:
        body = json.dumps(item, separators=(",", ":")).encode()
        requests.append((body, {HEADER: sign(secret, body), "Content-Type": "application/json"}))
    return requests


async def _send(
    session: aiohttp.ClientSession, url: str, work: Iterator[tuple[int, Request]], tally: Tally, pace: float
) -> None:
    for index, (body, headers) in work:  # one shared iterator: each sender takes the next request when free
        if pace:  # an open loop at a fixed rate: request i leaves i * pace after the first
            await asyncio.sleep(tally.began + index * pace - time.monotonic())
        started = time.monotonic()
        tally.posted[index] = started
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        tally.latencies.append(time.monotonic() - started)
        if status == 200:
            tally.ok += 1
        else:
            tally.errors[str(status)] += 1


async def run_phase(
    session: aiohttp.ClientSession, url: str, requests: list[Request], concurrency: int, rate: float = 0.0
) -> Tally:
    """Send every request with `concurrency` senders, at most `rate` a second if given; return when all are answered."""
    tally, work = Tally(), enumerate(requests)
    pace = 1 / rate if rate > 0 else 0.0
    await asyncio.gather(*(_send(session, url, work, tally, pace) for _ in range(concurrency)))
    return tally


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(config: BenchConfig, tally: Tally, seconds: float, cpu_seconds: float) -> dict[str, Any]:
    ordered = sorted(tally.latencies)
    points = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "max": 1.0}
    return {
        "benchmark": "webhook",
        "url": config.url,
        "kind": config.kind,
        "concurrency": config.concurrency,
        "requests": config.requests,
        "ok": tally.ok,
        "errors": dict(sorted(tally.errors.items())),
        "seconds": round(seconds, 3),
        "acks_per_second": round(tally.ok / seconds, 1) if seconds else 0.0,
        "latency_ms": {name: round(percentile(ordered, p) * 1000, 2) for name, p in points.items()},
        "client_cpu_seconds": round(cpu_seconds, 3),
    }


async def run_webhook_bench(args: argparse.Namespace) -> str:
    """Warm up, then time `--requests` signed webhooks; returns the figures as one JSON object."""
    config = config_from(args)
    warmup = build_requests(config.kind, config.warmup, config.secret)
    measured = build_requests(config.kind, config.requests, config.secret, start=config.warmup)
    connector = aiohttp.TCPConnector(limit=config.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await run_phase(session, config.url, warmup, config.concurrency)
        cpu, started = time.process_time(), time.perf_counter()
        tally = await run_phase(session, config.url, measured, config.concurrency)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return json.dumps(summary(config, tally, seconds, cpu_seconds))
