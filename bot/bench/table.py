"""The benchmark table (docs/benchmarks.md): each benchmark on SQLite, and on PostgreSQL with one and two processes.

Run by `scripts/bench` (not by CI: the figures are only as good as the machine is quiet). Each run is
`python -m bot bench …` in a process of its own, on a database of its own: a new SQLite file, or a new
database created on the PostgreSQL server given and dropped afterwards. The runs' JSON goes to a file;
the table, headed by the machine it ran on, to standard output; progress to standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.database import scratch_database, server_version

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Run:
    benchmark: str  # webhook, turns or send
    database: str  # sqlite or postgresql
    processes: int
    paced: bool = False  # turns posted at PACE a second, below capacity, for latencies without a backlog

    def label(self) -> str:
        plural = "es" if self.processes > 1 else ""
        pace = f" at {PACE}/s" if self.paced else ""
        return f"{self.benchmark}{pace} on {self.database}, {self.processes} process{plural}"


PACE = 150
SETUPS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))
RUNS = [Run(benchmark, database, processes) for benchmark in ("webhook", "turns") for database, processes in SETUPS]
RUNS += [Run("turns", database, processes, paced=True) for database, processes in SETUPS]
RUNS += [Run("send", database, processes) for database, processes in SETUPS]

FULL = {
    "webhook": ["--requests", "20000", "--warmup", "500", "--concurrency", "64", "--roles", "web"],
    "turns": ["--turns", "10000", "--warmup", "500", "--customers", "2000", "--concurrency", "32"],
    "paced": ["--turns", "3000", "--warmup", "300", "--customers", "3000", "--concurrency", "32", "--rate", str(PACE)],
    "send": ["--messages", "20000", "--rate", "1000"],
}
QUICK = {
    "webhook": ["--requests", "1000", "--warmup", "100", "--concurrency", "32", "--roles", "web"],
    "turns": ["--turns", "300", "--warmup", "30", "--customers", "100", "--concurrency", "16"],
    "paced": ["--turns", "150", "--warmup", "30", "--customers", "150", "--concurrency", "16", "--rate", str(PACE)],
    "send": ["--messages", "1000", "--rate", "500"],
}


@contextmanager
def fresh_database(run: Run, server: str) -> Iterator[str | None]:
    """None for SQLite (the benchmark makes its own file); a new PostgreSQL database, dropped afterwards."""
    if run.database == "sqlite":
        yield None
        return
    with scratch_database(server, "bot_bench") as url:
        yield url


def command(run: Run, database: str | None, quick: bool) -> list[str]:
    options = (QUICK if quick else FULL)["paced" if run.paced else run.benchmark]
    argv = [sys.executable, "-m", "bot", "--env-file", os.devnull, "bench", run.benchmark, *options]
    argv += ["--processes", str(run.processes)]
    return argv + (["--database", database] if database else [])


def shown(argv: Sequence[str]) -> str:
    """The command as a person would type it (the database URL named, not spelled out)."""
    words = list(argv[argv.index("bench") :])
    if "--database" in words:
        words[words.index("--database") + 1] = "NEW_DATABASE"
    return "bot " + " ".join(words)


def measure(run: Run, server: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark in a process of its own and return its JSON, with the run's name and command."""
    with fresh_database(run, server) as database:
        argv = command(run, database, quick)
        load = os.getloadavg()[0]
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{run.label()} failed (exit code {done.returncode}):\n{done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "run": run.label(),
        "command": shown(argv),
        "load_before": round(load, 2),
        "wall_seconds": round(time.monotonic() - started, 1),
        **figures,
    }


def machine(server: str) -> str:
    """The machine and software the figures came from, in a line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu}){memory}; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {server_version(server)}; the benchmark client and its Graph API stand-in on the same cores"
    )


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _mb(figures: dict[str, Any]) -> str:
    peaks = figures.get("peak_rss_mb") or figures.get("service_peak_rss_mb")
    if isinstance(peaks, list):
        return " + ".join(f"{p:.0f}" for p in peaks) + " MB"
    return "-" if peaks is None else f"{peaks:.0f} MB"


def row(figures: dict[str, Any]) -> str:
    """One line of the table: what was measured, how fast, how long it took, the busiest second, memory."""
    benchmark = figures["benchmark"]
    if benchmark == "webhook":
        rate = f"{figures['acks_per_second']:,.0f} acks/s"
        latency = figures["latency_ms"]
        cpu = figures.get("service_cpu_ms_per_ack")
        busiest = "-"
    elif benchmark == "turns":
        paced = (figures.get("parameters") or {}).get("rate")
        benchmark = f"turns at {paced:,.0f}/s" if paced else benchmark
        rate = f"{figures['turns_per_second']:,.0f} turns/s ({figures['replies_per_second']:,.0f} replies/s)"
        latency = figures["latency_ms"]
        cpu = figures.get("service_cpu_ms_per_turn")
        busiest = "-"
    else:
        rate = f"{figures['messages_per_second']:,.0f} messages/s (limit {figures['rate']:,})"
        latency = {}
        cpu = figures.get("workers_cpu_ms_per_message")
        busiest = f"{figures['max_in_one_second']:,}"
    errors = sum(figures.get("errors", {}).values())
    cells = [
        benchmark,
        figures.get("database") or figures.get("parameters", {}).get("database", "?"),
        str(figures.get("processes", 1)),
        rate,
        _ms(latency.get("p50")),
        _ms(latency.get("p99")),
        busiest,
        "-" if cpu is None else f"{cpu:.2f} ms",
        _mb(figures),
        str(errors),
        f"{figures['load_before']:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| benchmark | database | processes | rate | p50 | p99 | busiest second | service CPU per item | peak RSS "
    "| errors | load before |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def table(results: Sequence[dict[str, Any]], header: str) -> str:
    lines = [f"Measured {header}.", "", HEADER, *(row(r) for r in results), "", "Commands:", ""]
    lines += [f"- {r['run']}: `{r['command']}`" for r in results]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BOT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL whose user may create databases (default: BOT_BENCH_POSTGRES_URL or "
        f"{DEFAULT_POSTGRES})",
    )
    parser.add_argument("--output", default="bench-results.jsonl", help="where each run's JSON goes, a line each")
    parser.add_argument("--only", default="", help="only these benchmarks, comma-separated (webhook,turns,send)")
    parser.add_argument("--quick", action="store_true", help="small runs, to check the script, not to quote")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    runs = [run for run in RUNS if not only or run.benchmark in only]
    header = machine(args.postgres)
    results = []
    with Path(args.output).open("w", encoding="utf-8") as output:
        for number, run in enumerate(runs, 1):
            print(f"[{number}/{len(runs)}] {run.label()} …", file=sys.stderr, flush=True)
            figures = measure(run, args.postgres, args.quick)
            print(f"        {row(figures)}", file=sys.stderr, flush=True)
            output.write(json.dumps(figures) + "\n")
            output.flush()
            results.append(figures)
    print(table(results, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
