"""`bot bench strangers`: slow and stalled clients against a real `bot serve`, while customers' webhooks go on.

Through the public interface only: it starts `bot serve --roles web` on a new SQLite file (or measures
one already running, `--url` and `--pid`), opens `--slow` connections, half sending their request headers
a byte at a time and half trickling a webhook body, plus `--stalled` webhooks that declare `--stalled-mb`
and stop sending part way. Meanwhile a customer's signed webhook goes in every `--every` seconds. It prints
the service's resident memory before and at its highest during the attack, how many attacking
connections the service closed within `--hold` seconds, and the customers' webhooks' statuses and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.bench.figures import quarters
from bot.bench.fleet import BENCH_APP_SECRET, fleet, migrated, service_environment
from bot.bench.webhook import build_requests

MB = 1024 * 1024


@dataclass
class Attack:
    """What the attacking connections saw: how many were closed by the server, and when."""

    opened: int = 0
    failed_to_open: int = 0
    closed_at: list[float] = field(default_factory=list)


def rss_mb(pid: int) -> float | None:
    """The process's resident memory now (VmRSS, Linux), in MB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


async def _hold(
    host: str, port: int, attack: Attack, started: float, hold: float, head: bytes, drip: bytes, pause: float
) -> None:
    """One attacking connection: `head` at once, then `drip` a byte at a time every `pause` s until closed."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        attack.failed_to_open += 1
        return
    attack.opened += 1

    async def drip_bytes() -> None:
        with contextlib.suppress(OSError, ConnectionError):
            writer.write(head)
            for index in range(len(drip)):
                writer.write(drip[index : index + 1])
                await asyncio.sleep(pause)

    await _keep_open(reader, writer, asyncio.create_task(drip_bytes()), attack, started, hold)


async def _stall(host: str, port: int, attack: Attack, started: float, hold: float, declared: int) -> None:
    """One stalled upload: a webhook declaring `declared` bytes, sent up to 90% as fast as taken, then silence."""
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        attack.failed_to_open += 1
        return
    attack.opened += 1

    async def send() -> None:
        with contextlib.suppress(OSError, ConnectionError):
            writer.write(head)
            chunk = b"x" * 65536
            for _ in range(int(declared * 0.9) // len(chunk)):
                writer.write(chunk)
                await writer.drain()

    await _keep_open(reader, writer, asyncio.create_task(send()), attack, started, hold)


async def _keep_open(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sending: asyncio.Task[None],
    attack: Attack,
    started: float,
    hold: float,
) -> None:
    """Keep the connection open while `sending` goes on, until the server closes it or the attack ends."""
    try:
        async with asyncio.timeout(max(0.0, started + hold - time.monotonic())):
            while await reader.read(65536):
                pass
        attack.closed_at.append(time.monotonic() - started)
    except ConnectionError:
        attack.closed_at.append(time.monotonic() - started)
    except TimeoutError:
        pass
    finally:
        sending.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _customers(url: str, secret: str, every: float, until: float) -> dict[str, Any]:
    """A customer's signed webhook every `every` s until `until`: statuses and latency percentiles."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    requests = build_requests("text", int((until - time.monotonic()) / every) + 1, secret)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for body, headers in requests:
            if time.monotonic() >= until:
                break
            began = time.monotonic()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
            latencies.append((time.monotonic() - began) * 1000)
            await asyncio.sleep(max(0.0, every - (time.monotonic() - began)))
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

    percentiles = {"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}
    return {"sent": len(latencies), "statuses": dict(statuses), **percentiles}


async def _attack(url: str, pid: int | None, args: argparse.Namespace, secret: str) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    before = rss_mb(pid) if pid else None
    started = time.monotonic()
    hold = args.hold
    slow, stalled = Attack(), Attack()
    header_head = b""
    header_drip = f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nX-Padding: {'a' * 4000}\r\n".encode()
    body_head = (
        f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    body_drip = b"x" * 100_000
    tasks = []
    for index in range(args.slow):
        head, drip = (header_head, header_drip) if index % 2 == 0 else (body_head, body_drip)
        tasks.append(asyncio.create_task(_hold(host, port, slow, started, hold, head, drip, args.pause)))
    for _ in range(args.stalled):
        tasks.append(asyncio.create_task(_stall(host, port, stalled, started, hold, int(args.stalled_mb * MB))))
    customers = asyncio.create_task(_customers(url, secret, args.every, started + hold))
    samples: list[float] = []
    while time.monotonic() < started + hold:
        if pid and (now := rss_mb(pid)) is not None:
            samples.append(now)
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)
    served = await customers
    after = rss_mb(pid) if pid else None

    def closed(attack: Attack, within: float) -> int:
        return sum(1 for t in attack.closed_at if t <= within)

    return {
        "rss_mb": {
            "before": before,
            "peak_during": max(samples) if samples else None,
            "added": round(max(samples) - before, 1) if samples and before else None,
            "during_quarters": quarters(samples),
            "after": after,
        },
        "slow_connections": {
            "opened": slow.opened,
            "failed_to_open": slow.failed_to_open,
            "closed_by_server_within_s": {str(s): closed(slow, s) for s in (5, 10, 20, 30, hold) if s <= hold},
        },
        "stalled_uploads": {
            "declared_mb": args.stalled_mb,
            "opened": stalled.opened,
            "closed_by_server_within_s": {str(s): closed(stalled, s) for s in (5, 10, 20, 30, hold) if s <= hold},
        },
        "customer_webhooks": served,
    }


async def run_strangers_bench(args: argparse.Namespace) -> str:
    """Start `bot serve` (or use `--url`), attack it as described above, and return the figures as JSON."""
    if args.url:
        secret = args.secret or BENCH_APP_SECRET
        figures = await _attack(args.url, args.pid, args, secret)
        return json.dumps({"service": args.url, **figures}, indent=2)
    with tempfile.TemporaryDirectory(prefix="bot-bench-strangers-") as folder:
        scratch = Path(folder)
        database = await migrated(None, scratch)
        env = service_environment("http://127.0.0.1:9/unused", database, 80, "warning")
        async with fleet(1, ["serve", "--roles", "web"], env, scratch) as started:
            service = started.services[0]
            assert service.webhook is not None
            await asyncio.sleep(2)  # let start-up allocations settle before the baseline
            figures = await _attack(service.webhook, service.pid, args, BENCH_APP_SECRET)
    return json.dumps({"service": "bot serve --roles web (SQLite)", **figures}, indent=2)
