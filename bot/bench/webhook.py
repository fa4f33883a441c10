"""`bot bench webhook`: fire signed webhooks at a running service and measure durable acknowledgements."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.bare import bare_process
from bot.bench.fleet import (
    BENCH_APP_SECRET,
    STAND_IN_RATE,
    Fleet,
    database_label,
    fleet,
    migrated,
    service_environment,
)
from bot.bench.stand_in import stand_in_process
from bot.errors import ConfigError
from bot.settings import SANDBOX_APP_SECRET, SANDBOX_PHONE_NUMBER_ID
from bot.whatsapp.signature import HEADER, sign

CONTACTS = 1000  # distinct senders, so contact rows are both inserted and refreshed
STATUS_SHARE = 5  # in `mixed`, every fifth webhook is a status update (80/20)
DEFAULT_URL = "http://127.0.0.1:8080/webhook"

Request = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class BenchConfig:
    urls: list[str]
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


def config_from(args: argparse.Namespace, urls: list[str] | None = None, secret: str | None = None) -> BenchConfig:
    """The run's settings; `urls` and `secret` those of processes the benchmark started itself."""
    given = [args.url] if isinstance(args.url, str) else list(args.url or [DEFAULT_URL])
    secret = secret or args.secret or os.environ.get("WHATSAPP_APP_SECRET") or SANDBOX_APP_SECRET
    return BenchConfig(urls or given, secret, args.concurrency, args.requests, args.warmup, args.kind)


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
    session: aiohttp.ClientSession, urls: Sequence[str], work: Iterator[tuple[int, Request]], tally: Tally, pace: float
) -> None:
    for index, (body, headers) in work:  # one shared iterator: each sender takes the next request when free
        url = urls[index % len(urls)]  # several processes: round robin, as a load balancer would
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
    session: aiohttp.ClientSession, urls: Sequence[str], requests: list[Request], concurrency: int, rate: float = 0.0
) -> Tally:
    """Send every request with `concurrency` senders, at most `rate` a second if given; return when all are answered.

    Request i goes to `urls[i % len(urls)]`.
    """
    tally, work = Tally(), enumerate(requests)
    pace = 1 / rate if rate > 0 else 0.0
    await asyncio.gather(*(_send(session, urls, work, tally, pace) for _ in range(concurrency)))
    return tally


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def latency_ms(latencies: Iterable[float], digits: int = 1) -> dict[str, float]:
    """p50, p90, p99 and the most of `latencies` (seconds), in milliseconds."""
    ordered = sorted(latencies)
    points = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "max": 1.0}
    return {name: round(percentile(ordered, p) * 1000, digits) for name, p in points.items()}


def summary(
    config: BenchConfig, tally: Tally, seconds: float, cpu_seconds: float, processes: Fleet | None
) -> dict[str, Any]:
    return {
        "benchmark": "webhook",
        "urls": config.urls,
        "processes": len(config.urls),
        "kind": config.kind,
        "concurrency": config.concurrency,
        "requests": config.requests,
        "ok": tally.ok,
        "errors": dict(sorted(tally.errors.items())),
        "seconds": round(seconds, 3),
        "acks_per_second": round(tally.ok / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_ms(tally.latencies, 2),
        "client_cpu_seconds": round(cpu_seconds, 3),
        **(processes.memory() if processes else {}),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


async def _measure(config: BenchConfig, processes: Fleet | None = None) -> dict[str, Any]:
    warmup = build_requests(config.kind, config.warmup, config.secret)
    measured = build_requests(config.kind, config.requests, config.secret, start=config.warmup)
    connector = aiohttp.TCPConnector(limit=config.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await run_phase(session, config.urls, warmup, config.concurrency)
        service_cpu = processes.cpu_seconds() if processes else None
        cpu, started = time.process_time(), time.perf_counter()
        tally = await run_phase(session, config.urls, measured, config.concurrency)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    figures = summary(config, tally, seconds, cpu_seconds, processes)
    if processes and service_cpu is not None and (after := processes.cpu_seconds()) is not None and tally.ok:
        figures["service_cpu_ms_per_ack"] = round((after - service_cpu) * 1000 / tally.ok, 3)
    return figures


async def run_webhook_bench(args: argparse.Namespace) -> str:
    """Warm up, then time `--requests` signed webhooks; returns the figures as one JSON object.

    With `--processes N` the benchmark starts N `bot serve --roles ROLES` processes on `--database` (a
    new SQLite file by default) and spreads the webhooks over them round robin; their sends, if the
    roles send, go to a Graph API stand-in process. With `--bare` as well, it also starts a bare aiohttp
    handler (`bot.bench.bare`: signature and JSON, nothing stored) and drives it with the same client,
    alternating the two `--rounds` times, and reports the service's rate as a share of the bare one.
    """
    if not getattr(args, "processes", 0):
        if getattr(args, "bare", False):
            raise ConfigError("--bare compares with processes the benchmark starts: give --processes N too")
        return json.dumps(await _measure(config_from(args)))
    with tempfile.TemporaryDirectory(prefix="bot-bench-webhook-") as folder:
        scratch = Path(folder)
        database = await migrated(args.database, scratch)
        async with stand_in_process(STAND_IN_RATE) as graph_url:
            environment = service_environment(graph_url, database, args.throughput, args.log_level)
            async with fleet(args.processes, ["serve", "--roles", args.roles], environment, scratch) as processes:
                config = config_from(args, processes.webhooks, BENCH_APP_SECRET)
                if getattr(args, "bare", False):
                    figures = await _against_bare(config, processes, max(1, getattr(args, "rounds", 1)))
                else:
                    figures = await _measure(config, processes)
    return json.dumps({**figures, "roles": args.roles, "database": database_label(database)})


async def _against_bare(config: BenchConfig, processes: Fleet, rounds: int) -> dict[str, Any]:
    """The service and the bare handler, measured in turns with one client; the last service round's figures,
    each side's rate over all its rounds, and their ratio."""
    service_rounds: list[dict[str, Any]] = []
    bare_rounds: list[dict[str, Any]] = []
    async with bare_process(config.secret) as bare:
        bare_config = replace(config, urls=bare.webhooks)
        for _ in range(rounds):
            bare_rounds.append(await _measure(bare_config, bare))
            service_rounds.append(await _measure(config, processes))
    service_rate, bare_rate = _overall_rate(service_rounds), _overall_rate(bare_rounds)
    return {
        **service_rounds[-1],
        "acks_per_second": service_rate,
        "rounds": rounds,
        "acks_per_second_by_round": [r["acks_per_second"] for r in service_rounds],
        "bare": {
            "acks_per_second": bare_rate,
            "acks_per_second_by_round": [r["acks_per_second"] for r in bare_rounds],
            "errors": dict(sum((Counter(r["errors"]) for r in bare_rounds), Counter())),
            "latency_ms": bare_rounds[-1]["latency_ms"],
            "service_cpu_ms_per_ack": bare_rounds[-1].get("service_cpu_ms_per_ack"),
        },
        "ratio_to_bare": round(service_rate / bare_rate, 3) if bare_rate else None,
    }


def _overall_rate(rounds: list[dict[str, Any]]) -> float:
    seconds = sum(r["seconds"] for r in rounds)
    return round(sum(r["ok"] for r in rounds) / seconds, 1) if seconds else 0.0
