"""`bot bench turns`: customers' texts through a real `bot serve`, timed from the webhook to the reply's send.

At least three processes: this client, which posts pre-signed webhooks; one or more `bot serve` on a
fresh SQLite file (or the `--database` given) in real-Meta mode (dummy credentials) whose
`WHATSAPP_API_URL` is the Graph API stand-in of `bot bench send`; and that stand-in, which records
when each reply arrived and for whom. A turn's latency is from posting its webhook to the arrival of
its last reply. The stand-in's own throughput rule is set far above anything a service can reach, so
only the service's sender limit (`BOT_THROUGHPUT`, at most Meta's 1,000/s) paces the replies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.figures import by_second
from bot.bench.fleet import (
    BENCH_APP_SECRET,
    STAND_IN_RATE,
    Fleet,
    Service,
    database_label,
    migrated,
    service_environment,
    serving,
)
from bot.bench.stand_in import stand_in_process, stand_in_record
from bot.bench.webhook import Request, Tally, latency_ms, run_phase, signed, text_payload
from bot.errors import ConfigError

MEASURED, WARMUP = "4471", "4472"  # wa_id prefixes: warm-up customers never mix with measured ones
QUIET = 0.5  # seconds without a send that end the warm-up, once every warm-up turn has had a reply


def turn_requests(
    secret: str, count: int, customers: int, prefix: str, script: Sequence[str]
) -> tuple[list[Request], list[str]]:
    """`count` signed texts spread round-robin over `customers` customers, and each one's sender.

    A customer's k-th text is `script[k % len(script)]`: the default `hi`, `menu` gets two replies
    (a greeting and the main menu) every time, where `hi` alone would run out the menu's attempts.
    """
    run, now = secrets.token_hex(4), int(time.time())
    senders = [f"{prefix}{index % customers:07d}" for index in range(count)]
    payloads = [
        text_payload(wa_id, f"wamid.turns.{run}.{i}", now, script[i // customers % len(script)])
        for i, wa_id in enumerate(senders)
    ]
    return signed(secret, payloads), senders


async def arrived(session: aiohttp.ClientSession, graph_url: str) -> int:
    async with session.get(f"{graph_url}/count") as response:
        return int(await response.json())


async def wait_for_replies(session: aiohttp.ClientSession, graph_url: str, expected: int | None, stall: float) -> int:
    """Poll the stand-in until `expected` sends arrived, or none arrived for `stall` seconds; returns the count."""
    last, changed = -1, time.monotonic()
    while True:
        count = await arrived(session, graph_url)
        if expected is not None and count >= expected:
            return count
        if count != last:
            last, changed = count, time.monotonic()
        elif time.monotonic() - changed >= stall:
            return count
        await asyncio.sleep(0.02)


def turn_latencies(
    posted: dict[int, float], senders: Sequence[str], arrivals: Sequence[tuple[float, str]], per_turn: int
) -> tuple[list[float], int]:
    """Each answered turn's latency (seconds) and how many turns were not answered in full.

    A customer's replies arrive in the order of their turns (the sender keeps per-contact order), so
    the k-th turn of a customer is answered by the arrival of that customer's ((k + 1) · per_turn)-th reply.
    """
    replies: dict[str, list[float]] = defaultdict(list)
    for moment, to in sorted(arrivals):
        replies[to].append(moment)
    latencies, unanswered, turns = [], 0, Counter[str]()
    for index in sorted(posted, key=posted.__getitem__):
        wa_id = senders[index]
        last = (turns[wa_id] + 1) * per_turn - 1
        turns[wa_id] += 1
        if last < len(replies[wa_id]):
            latencies.append(replies[wa_id][last] - posted[index])
        else:
            unanswered += 1
    return latencies, unanswered


def script(args: argparse.Namespace) -> list[str]:
    return [text.strip() for text in args.text.split(",") if text.strip()] or ["hi"]


@dataclass(frozen=True)
class Warm:
    """What the warm-up taught: sends already at the stand-in, and replies per turn of this text."""

    baseline: int
    per_turn: int | None


async def warm_up(session: aiohttp.ClientSession, args: argparse.Namespace, webhooks: list[str], secret: str) -> Warm:
    """Run the warm-up turns to completion and learn how many replies one turn of `--text` gets."""
    before = await arrived(session, args.graph_url)
    if not args.warmup:
        return Warm(before, None)
    requests, _ = turn_requests(secret, args.warmup, min(args.customers, args.warmup), WARMUP, script(args))
    await run_phase(session, webhooks, requests, args.concurrency)
    await wait_for_replies(session, args.graph_url, before + args.warmup, args.stall)  # one reply a turn at least
    count = await wait_for_replies(session, args.graph_url, None, QUIET)
    replies = count - before
    return Warm(count, replies // args.warmup if replies and replies % args.warmup == 0 else None)


@dataclass(frozen=True)
class Measured:
    """The measured phase: the client's tally, each turn's sender, and the stand-in's record of the run."""

    tally: Tally
    senders: list[str]
    arrivals: list[tuple[float, str]]
    per_turn: int
    refused: int  # sends the stand-in refused (130429): none unless its rate was reached
    cpu_seconds: float | None  # the service's CPU over the measured phase (all its processes), when their ids are known


async def measure(session: aiohttp.ClientSession, args: argparse.Namespace, service: Fleet, secret: str) -> Measured:
    """Warm up, then post `--turns` texts and wait until every reply arrived (or the replies stall)."""
    warm = await warm_up(session, args, service.webhooks, secret)
    requests, senders = turn_requests(secret, args.turns, args.customers, MEASURED, script(args))
    cpu_before = service.cpu_seconds()
    tally = await run_phase(session, service.webhooks, requests, args.concurrency, args.rate)
    expected = warm.baseline + len(tally.posted) * warm.per_turn if warm.per_turn else None
    await wait_for_replies(session, args.graph_url, expected, args.stall)
    cpu_after = service.cpu_seconds()
    cpu = cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
    record = await stand_in_record(session, args.graph_url)
    sends = zip(record["accepted"][warm.baseline :], record["to"][warm.baseline :], strict=True)  # this run's only
    arrivals = [(t, to) for t, to in sends if to.startswith(MEASURED)]
    per_turn = warm.per_turn or max(1, round(len(arrivals) / max(1, len(tally.posted))))
    return Measured(tally, senders, arrivals, per_turn, len(record["refused"]), cpu)


def replies_off_script(replies: int, turns: int, per_turn: int) -> int:
    """How far the replies are from `per_turn` (the warm-up's) for every turn posted.

    More or fewer means the flow answered differently than in the warm-up: on a database an earlier run left
    customers' sessions in, `hi` got three replies a turn, or one, and the figures counted the wrong replies.
    """
    return abs(replies - turns * per_turn)


def summary(
    args: argparse.Namespace, result: Measured, service: Fleet, load: list[float], database: str | None
) -> dict[str, Any]:
    latencies, unanswered = turn_latencies(result.tally.posted, result.senders, result.arrivals, result.per_turn)
    first = min(result.tally.posted.values(), default=0.0)
    last = max((t for t, _ in result.arrivals), default=first)
    seconds = last - first
    errors = Counter(result.tally.errors)
    off_script = replies_off_script(len(result.arrivals), len(result.tally.posted), result.per_turn)
    for name, count in (
        ("unanswered", unanswered),
        ("refused_by_stand_in", result.refused),
        ("replies_not_per_turn", off_script),
    ):
        if count:
            errors[name] = count
    return {
        "benchmark": "turns",
        "turns": len(latencies),
        "replies": len(result.arrivals),
        "replies_per_turn": result.per_turn,
        "seconds": round(seconds, 3),
        "turns_per_second": round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
        "replies_per_second": round(len(result.arrivals) / seconds, 1) if seconds > 0 else 0.0,
        "latency_ms": latency_ms(latencies),
        "first_reply_ms": round((min((t for t, _ in result.arrivals), default=first) - first) * 1000, 1),
        "posting_seconds": round(max(result.tally.posted.values(), default=first) - first, 3),
        # Replies that arrived in each whole second after the first post: where a run loses its pace.
        "replies_by_second": by_second(first, [t for t, _ in result.arrivals]),
        "errors": dict(sorted(errors.items())),
        "service_cpu_ms_per_turn": round(result.cpu_seconds * 1000 / len(latencies), 3)
        if result.cpu_seconds is not None and latencies
        else None,
        "processes": len(service.services),
        "workers": getattr(args, "workers", 0),
        **{f"service_{name}": value for name, value in service.memory().items()},
        "load_average": {"before": load, "after": [round(x, 2) for x in os.getloadavg()]},
        "parameters": {
            "turns": args.turns,
            "concurrency": args.concurrency,
            "customers": args.customers,
            "warmup": args.warmup,
            "rate": args.rate or None,
            "text": args.text,
            "throughput": args.throughput,
            "log_level": args.log_level,
            "database": database_label(database) if database else "as the service is configured",
        },
        "stand_in_rate_limit": f"{STAND_IN_RATE}/s: never reached, so only the service's sender limit paces sends",
    }


async def _run(args: argparse.Namespace, service: Fleet, secret: str, database: str | None = None) -> str:
    load = [round(x, 2) for x in os.getloadavg()]
    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        result = await measure(session, args, service, secret)
    return json.dumps(summary(args, result, service, load, database))


async def run_turns_bench(args: argparse.Namespace) -> str:
    """Start the stand-in and `--processes` `bot serve`s (unless `--url` names a running one); return figures as JSON.

    The processes share `--database` (a new SQLite file by default); each customer's texts go to them
    round robin, so with several processes one customer's turns are taken by different processes.
    """
    if args.url:
        if not args.graph_url:
            raise ConfigError(
                "--url needs --graph-url: the stand-in the service sends to (python -m bot.bench.stand_in)"
            )
        secret = args.secret or os.environ.get("WHATSAPP_APP_SECRET") or BENCH_APP_SECRET
        return await _run(args, Fleet([Service(args.url, args.pid)]), secret)
    async with stand_in_process(STAND_IN_RATE) as graph_url:
        args = argparse.Namespace(**{**vars(args), "graph_url": graph_url})
        with tempfile.TemporaryDirectory(prefix="bot-bench-turns-") as folder:
            scratch = Path(folder)
            database = await migrated(getattr(args, "database", None), scratch)
            environment = service_environment(graph_url, database, args.throughput, args.log_level)
            processes, workers = getattr(args, "processes", 1), getattr(args, "workers", 0)
            async with serving(processes, workers, environment, scratch) as service:
                return await _run(args, service, BENCH_APP_SECRET, database)
