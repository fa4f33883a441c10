"""The processes a benchmark measures: N `bot serve` or `bot worker` processes on one database.

Each process is started after the one before it is up, on a database the benchmark has migrated (a
PostgreSQL deployment runs `bot db upgrade` before its processes, too). The benchmark reads each
process's CPU time and peak resident memory from `/proc` while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port
from sqlalchemy import make_url

from bot.bench.stand_in import PHONE_NUMBER_ID

BENCH_APP_SECRET = "bench-app-secret"
STAND_IN_RATE = 1_000_000  # sends a second the stand-in accepts before it answers 130429: never reached
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Service:
    """One process under test: its webhook URL (None for a worker), and its process id when the benchmark started it."""

    webhook: str | None
    pid: int | None = None

    def cpu_seconds(self) -> float | None:
        """User and system CPU the process has used so far (Linux); None when it is not ours or not readable."""
        if self.pid is None:
            return None
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        return None

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident set (VmHWM, Linux); None when it is not ours or not readable."""
        if self.pid is None:
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        return None


@dataclass(frozen=True)
class Fleet:
    """The processes of one benchmark run."""

    services: list[Service]

    @property
    def webhooks(self) -> list[str]:
        return [s.webhook for s in self.services if s.webhook is not None]

    def cpu_seconds(self) -> float | None:
        """All processes' CPU so far; None unless every one of them can be read."""
        readings = [s.cpu_seconds() for s in self.services]
        return None if not readings or None in readings else sum(r for r in readings if r is not None)

    def memory(self) -> dict[str, object]:
        """Each process's peak resident memory in MB, and their sum (None where a process is not ours)."""
        peaks = [s.peak_rss_mb() for s in self.services]
        known = [p for p in peaks if p is not None]
        return {"peak_rss_mb": peaks, "peak_rss_mb_total": round(sum(known), 1) if known else None}


def database_label(url: str) -> str:
    """`sqlite` or `postgresql`, never the URL itself (it may hold a password)."""
    return make_url(url).get_backend_name()


def service_environment(graph_url: str, database_url: str, throughput: int, log_level: str) -> dict[str, str]:
    """Real-Meta mode with dummy credentials, so that sends go to the stand-in and not to a sandbox."""
    return {
        "BOT_DATABASE_URL": database_url,
        "BOT_SECRET_KEY": secrets.token_urlsafe(32),
        "BOT_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "BOT_THROUGHPUT": str(throughput),
        "BOT_LOG_LEVEL": log_level,
        "BOT_LOG_FORMAT": "json",
        "BOT_QUIET_HOURS": "off",
        "BOT_MESSAGING_LIMIT": "unlimited",
        "WHATSAPP_ACCESS_TOKEN": "bench-access-token",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": BENCH_APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "WHATSAPP_API_URL": graph_url,
    }


# With split roles (`--workers N`): what each `bot serve` runs, and what each `bot worker` runs.
SPLIT_SERVE = ("serve", "--roles", "web,dispatcher,scheduler")
SPLIT_WORKER = ("worker", "--roles", "sender")


@contextlib.asynccontextmanager
async def serving(serves: int, workers: int, environment: dict[str, str], scratch: Path) -> AsyncIterator[Fleet]:
    """`serves` whole `bot serve` processes; or, with `workers`, `bot serve`s without the sender beside
    `workers` processes of `bot worker --roles sender`, so that sending has a process (a core) of its own."""
    if not workers:
        async with fleet(serves, ["serve"], environment, scratch) as running:
            yield running
        return
    async with (
        fleet(serves, SPLIT_SERVE, environment, scratch) as web,
        fleet(workers, SPLIT_WORKER, environment, scratch, first=serves + 1) as senders,
    ):
        yield Fleet([*web.services, *senders.services])


@contextlib.asynccontextmanager
async def fleet(
    count: int, command: Sequence[str], environment: dict[str, str], scratch: Path, *, first: int = 1
) -> AsyncIterator[Fleet]:
    """`count` processes of `python -m bot COMMAND`, each up before the next starts; stopped afterwards.

    `command` is `serve …` (each process gets its own `--port` and is up once `/healthz` answers) or
    `worker …` (up once it says it is running). Their output goes to `scratch/process-N.log`, N counted
    from `first`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
    env.update(environment)
    children: list[asyncio.subprocess.Process] = []
    services: list[Service] = []
    try:
        for index in range(count):
            log = scratch / f"process-{first + index}.log"
            port = unused_port() if command[0] == "serve" else None
            argv = [*command, "--port", str(port)] if port is not None else list(command)
            with log.open("wb") as output:
                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "--env-file", os.devnull, *argv,
                    env=env, stdout=output, stderr=subprocess.STDOUT,
                )  # fmt: skip
            children.append(child)
            if port is None:
                await _until_logged(child, log, "worker running")
                services.append(Service(None, child.pid))
            else:
                await _until_healthy(f"http://127.0.0.1:{port}/healthz", child, log)
                services.append(Service(f"http://127.0.0.1:{port}/webhook", child.pid))
        yield Fleet(services)
    finally:
        await _stop(children)


async def _stop(children: list[asyncio.subprocess.Process]) -> None:
    for child in children:
        if child.returncode is None:
            child.terminate()
    for child in children:
        try:
            await asyncio.wait_for(child.wait(), timeout=30)
        except TimeoutError:
            child.kill()
            await child.wait()


async def _until_healthy(url: str, child: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline and child.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    await _failed(child, log, "become healthy")


async def _until_logged(child: asyncio.subprocess.Process, log: Path, words: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and child.returncode is None:
        if words in await asyncio.to_thread(log.read_text, errors="replace"):
            return
        await asyncio.sleep(0.1)
    await _failed(child, log, f"say {words!r}")


async def _failed(child: asyncio.subprocess.Process, log: Path, what: str) -> None:
    tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-2000:]
    raise RuntimeError(f"a benchmark process did not {what} (exit code {child.returncode}):\n{tail}")


async def migrated(database: str | None, scratch: Path) -> str:
    """The database the processes share, migrated: `database`, or a new SQLite file in `scratch`."""
    from storage.repository import Repository

    url = database or f"sqlite+aiosqlite:///{scratch / 'bench.db'}"
    repository = Repository.connect(url)
    try:
        await repository.migrate()
    finally:
        await repository.close()
    return url
