"""The benchmarks: webhooks against the real app on a real port; sends through the real sender."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import keys
from bot.app import create_app
from bot.bench.campaign import kind_of, run_campaign_bench, wa_id_of
from bot.bench.campaign_served import run_served_campaign_bench
from bot.bench.contact_import import run_import_bench
from bot.bench.events import run_events_bench
from bot.bench.figures import max_in_window, steady_rate, sustained_rate
from bot.bench.live import run_live_bench
from bot.bench.otp import run_otp_bench
from bot.bench.send import run_send_bench
from bot.bench.strangers import run_strangers_bench
from bot.bench.sweep import run_sweep_bench
from bot.bench.webhook import run_webhook_bench
from bot.errors import ConfigError
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.contacts import find_contacts
from storage.repository import Repository

ROOT = Path(__file__).resolve().parents[2]


async def test_bench_counts_only_durable_acknowledgements(
    settings: Settings, aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]
) -> None:
    """Every benchmarked text webhook is answered 200 and its message is in the database afterwards."""
    # Only the web role: the benchmark measures acknowledgements, and a dispatcher turn cancelled at
    # teardown can leave SQLAlchemy's aiosqlite close pending and hang the event loop's shutdown.
    app = create_app(settings, transport=RecordingTransport(), migrate=True)
    server = await aiohttp_server(app)
    args = argparse.Namespace(
        url=str(server.make_url("/webhook")),
        secret=settings.app_secret,
        concurrency=8,
        requests=200,
        warmup=20,
        kind="text",
    )

    report: dict[str, Any] = json.loads(await run_webhook_bench(args))

    assert report["benchmark"] == "webhook"
    assert (report["kind"], report["concurrency"], report["requests"]) == ("text", 8, 200)
    assert report["ok"] == 200
    assert report["errors"] == {}
    assert report["seconds"] > 0
    assert report["acks_per_second"] > 0
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    # process_time over the measured phase: every thread of this process (the app under test included)
    # spends some CPU on 200 requests, and no more than the phase's wall time on each core; both figures
    # are rounded to the millisecond.
    cores = os.cpu_count() or 1
    assert 0 < report["client_cpu_seconds"] <= (report["seconds"] + 0.001) * cores + 0.001
    stored = await app[keys.REPOSITORY].list_messages(wa_id=None, direction="in", limit=1000, before=None)
    assert len({m["wamid"] for m in stored if m["wamid"].startswith("wamid.bench.")}) == 20 + 200


async def test_webhook_bench_spreads_the_webhooks_over_the_processes_it_starts(database_url: str) -> None:
    """`--processes 2`: two `bot serve --roles web` on one database, each acknowledging half, all stored once."""
    args = argparse.Namespace(
        url=None, secret=None, concurrency=8, requests=200, warmup=20, kind="text",
        processes=2, roles="web", database=database_url, throughput=1000, log_level="warning",
    )  # fmt: skip

    report: dict[str, Any] = json.loads(await run_webhook_bench(args))

    assert (report["processes"], report["ok"], report["errors"]) == (2, 200, {})
    assert len(set(report["urls"])) == 2
    assert len(report["peak_rss_mb"]) == 2
    assert all(mb > 0 for mb in report["peak_rss_mb"])
    assert report["service_cpu_ms_per_ack"] > 0
    assert report["database"] == database_url.split("+")[0]
    repository = Repository.connect(database_url)
    try:
        stored = await repository.list_messages(wa_id=None, direction="in", limit=1000, before=None)
        assert len({m["wamid"] for m in stored}) == len(stored) == 20 + 200
    finally:
        await repository.close()


async def test_two_worker_processes_share_the_throughput_limit(database_url: str) -> None:
    """`bot bench send --processes 2`: two `bot worker`s drain one outbox; no second ever holds more than the limit.

    The stand-in refuses a send beyond the limit with 130429, so a worker that took the whole limit for
    itself would show as errors as well as in the busiest window.
    """
    args = argparse.Namespace(messages=400, rate=150, database=database_url, processes=2)

    report: dict[str, Any] = json.loads(await run_send_bench(args))

    assert (report["processes"], report["sent"], report["errors"]) == (2, 400, {})
    assert 0 < report["max_in_one_second"] <= 150
    assert 0 < report["steady_messages_per_second"] <= 150
    assert len(report["peak_rss_mb"]) == 2
    assert all(mb > 0 for mb in report["peak_rss_mb"])
    repository = Repository.connect(database_url)
    try:
        assert await repository.outbox_depth() == {}
        sent = await repository.list_messages(wa_id=None, direction="out", limit=1000, before=None)
        assert len(sent) == 400
    finally:
        await repository.close()


async def test_send_bench_drains_the_outbox_within_the_rate(database_url: str) -> None:
    """`bot bench send` sends every message to the stand-in process, never more than the rate in any second."""
    args = argparse.Namespace(messages=300, rate=200, database=database_url)

    report: dict[str, Any] = json.loads(await run_send_bench(args))

    assert report["benchmark"] == "send"
    assert (report["messages"], report["rate"], report["sent"]) == (300, 200, 300)
    assert report["errors"] == {}
    assert 0 < report["max_in_one_second"] <= 200
    assert 0 < report["steady_messages_per_second"] <= 200  # over whole windows' worth the limit caps the pace
    assert 0 < report["messages_per_second"] <= 300 / 1.0  # send 200 lands at least a window after send 0
    assert report["seconds"] > 1.0
    assert 0 < report["peak_rss_mb_before_send"] <= report["peak_rss_mb"]
    repository = Repository.connect(database_url)
    try:
        assert await repository.outbox_depth() == {}
        sent = await repository.list_messages(wa_id=None, direction="out", limit=1000, before=None)
        assert len(sent) == 300
    finally:
        await repository.close()


def test_busiest_window_slides_rather_than_counting_calendar_seconds() -> None:
    """Two bursts either side of a second's edge are one busy window, though each calendar second looks quiet."""
    times = [0.6 + i / 100 for i in range(30)] + [1.0 + i / 100 for i in range(30)]
    assert max_in_window(times) == 60
    assert max_in_window([0.0, 1.0, 2.0]) == 1  # a window is half-open: [t, t + 1)
    assert max_in_window([]) == 0
    assert sustained_rate([0.0, 0.5, 1.0]) == 3.0


def test_steady_rate_counts_whole_windows_so_a_quick_first_window_cannot_lift_it_above_the_rate() -> None:
    """A first window's worth sent in half a window lifts the rate over the run above the limit, not the steady rate."""
    times = [i * 0.005 for i in range(100)] + [1.0 + i * 0.005 for i in range(100)]
    assert max_in_window(times) == 100
    assert sustained_rate(times) > 100
    assert steady_rate(times, 100) == 100.0
    assert steady_rate([i / 100 for i in range(201)], 100) == 100.0
    assert steady_rate(times[:100], 100) == 0.0  # less than a window's worth past the first send


async def test_campaign_bench_sends_each_opted_in_contact_exactly_one_message(database_url: str) -> None:
    """`bot bench campaign` dry-runs and sends to seeded contacts: each opted-in, non-+1 contact gets one message."""
    args = argparse.Namespace(contacts=120, rate=200, database=database_url, templates=str(ROOT / "templates"))

    report: dict[str, Any] = json.loads(await run_campaign_bench(args))

    kinds = {"opted_in": 102, "opted_out": 6, "no_consent": 6, "us_number": 6}
    assert {k: report["seeded"][k] for k in kinds} == kinds
    dry_run, send = report["dry_run"], report["send"]
    assert (dry_run["audience"], dry_run["would_send"]) == (120, 102)
    assert dry_run["suppressed"] == {"opted_out": 6, "no_consent": 6, "us_number": 6}
    assert (send["sent"], send["recipients"], send["most_to_one_recipient"]) == (102, 102, 1)
    assert send["outbox"] == {"sent": 102, "cancelled": 12, "failed": 6}
    assert send["errors"] == {}
    assert 0 < send["max_in_one_second"] <= 200
    assert 0 < send["expansion_seconds"] <= send["seconds"]
    assert 0 < report["peak_rss_mb_after_seeding"] <= report["peak_rss_mb"]
    repository = Repository.connect(database_url)
    try:
        sent = await repository.list_messages(wa_id=None, direction="out", limit=1000, before=None)
    finally:
        await repository.close()
    recipients = [m["wa_id"] for m in sent]
    opted_in = {wa_id_of(i) for i in range(120) if kind_of(i) == "opted_in"}
    assert sorted(recipients) == sorted(opted_in)  # each exactly once, and no one else


async def test_sweep_bench_finds_only_the_flows_past_their_expiry(database_url: str) -> None:
    """`bot bench sweep`: the 3 sessions in a flow past its expiry are due; the finished and the running are not."""
    args = argparse.Namespace(sessions=2500, due=3, calls=3, database=database_url)

    report: dict[str, Any] = json.loads(await run_sweep_bench(args))

    assert (report["sessions"], report["due"], report["calls"]) == (2500, 3, 3)
    assert 0 < report["p50_ms"] <= report["max_ms"]


async def test_live_bench_tells_every_new_message(database_url: str) -> None:
    """`bot bench live`: each timed round finds its one new message among those stored, and says how long it took."""
    args = argparse.Namespace(messages=3000, contacts=100, waiting=10, rounds=3, database=database_url)

    report: dict[str, Any] = json.loads(await run_live_bench(args))

    assert (report["messages"], report["waiting"], report["rounds"]) == (3000, 10, 3)
    assert 0 < report["new_message_p50_ms"] <= report["new_message_max_ms"]


async def test_served_campaign_bench_sends_through_the_public_doors_once_to_each_opted_in_contact(
    database_url: str,
) -> None:
    """`bot bench campaign --served`: CSV import, `POST /api/campaigns`, one send per opted-in contact arrives."""
    args = argparse.Namespace(contacts=120, rate=200, database=database_url, stall=10.0, log_level="warning")

    report: dict[str, Any] = json.loads(await run_served_campaign_bench(args))

    assert report["imported"]["contacts"] == 120
    send = report["send"]
    assert (send["sent"], send["recipients"], send["most_to_one_recipient"]) == (102, 102, 1)
    assert send["outbox"] == {"sent": 102, "cancelled": 12, "failed": 6}
    assert (send["state"], send["errors"]) == ("completed", {})
    assert 0 < send["max_in_one_second"] <= 200


async def test_otp_bench_times_each_code_from_its_post_to_the_stand_in(database_url: str) -> None:
    """`bot bench otp`: a backlog through signed webhooks, then each code's seconds from `POST /api/otp` to arrival."""
    args = argparse.Namespace(
        texts=60, codes=2, every=0.1, settle=0.2, concurrency=8, timeout=60.0, database=database_url,
        throughput=20, log_level="warning",
    )  # fmt: skip

    report: dict[str, Any] = json.loads(await run_otp_bench(args))

    assert report["backlog"]["acknowledged"] == 60
    assert report["codes_not_arrived"] == 0
    assert len(report["seconds_from_post_to_arrival"]) == 2
    assert all(seconds > 0 for seconds in report["seconds_from_post_to_arrival"])


async def test_webhook_bench_against_a_bare_handler_reports_both_rates_and_their_ratio(database_url: str) -> None:
    """`--bare`: the service and a bare handler are driven alike in turns; both answer every webhook, and the ratio
    is the service's rate over the bare one's."""
    args = argparse.Namespace(
        url=None, secret=None, concurrency=8, requests=100, warmup=10, kind="text",
        processes=1, roles="web", database=database_url, throughput=1000, log_level="warning", bare=True, rounds=2,
    )  # fmt: skip

    report: dict[str, Any] = json.loads(await run_webhook_bench(args))

    assert (report["ok"], report["errors"], report["rounds"]) == (100, {}, 2)
    assert len(report["acks_per_second_by_round"]) == len(report["bare"]["acks_per_second_by_round"]) == 2
    assert report["bare"]["errors"] == {}
    # CPU is read in clock ticks (10 ms): 100 bare acks at 0.1 ms each can read as 0, never as less
    assert report["bare"]["service_cpu_ms_per_ack"] >= 0
    assert report["ratio_to_bare"] == round(report["acks_per_second"] / report["bare"]["acks_per_second"], 3)
    repository = Repository.connect(database_url)
    try:
        stored = await repository.list_messages(wa_id=None, direction="in", limit=1000, before=None)
        assert len({m["wamid"] for m in stored}) == len(stored) == 2 * (10 + 100)  # the bare handler stores nothing
    finally:
        await repository.close()


async def test_webhook_bench_refuses_bare_without_processes_it_starts() -> None:
    """`--bare` compares with processes the benchmark starts itself, so with `--url` alone it is refused."""
    args = argparse.Namespace(
        url="http://127.0.0.1:9/webhook", secret=None, concurrency=1, requests=1, warmup=0, kind="text", bare=True
    )
    with pytest.raises(ConfigError, match="--processes"):
        await run_webhook_bench(args)


async def test_strangers_bench_attacks_a_real_service_and_reports_what_it_saw() -> None:
    """`bot bench strangers` opens its slow and stalled connections against a `bot serve` it starts, and
    customers' webhooks sent meanwhile are stored (200)."""
    args = argparse.Namespace(
        slow=10, stalled=2, stalled_mb=8.0, hold=3.0, pause=0.5, every=0.5, url=None, pid=None, secret=None
    )
    figures = json.loads(await run_strangers_bench(args))
    assert figures["slow_connections"]["opened"] == 10
    assert figures["stalled_uploads"]["opened"] == 2
    served = figures["customer_webhooks"]
    assert served["sent"] >= 1
    assert served["statuses"] == {"200": served["sent"]}
    assert figures["rss_mb"]["before"] is not None


async def test_import_bench_stores_every_row_it_posts(database_url: str) -> None:
    """`bot bench import` streams a CSV file to a `bot serve` it starts; every row is stored, consent on every 5th."""
    args = argparse.Namespace(rows=500, consent_every=5, chunk=1000, roles="web", database=database_url,
                              log_level="warning")  # fmt: skip

    report: dict[str, Any] = json.loads(await run_import_bench(args))

    assert (report["status"], report["rows_read"], report["created"], report["rejected"]) == (200, 500, 500, 0)
    assert (report["consent_recorded"], report["every_row_accounted_for"]) == (100, True)
    assert report["seconds"] > 0
    assert report["service_peak_rss_mb"] >= report["service_peak_rss_mb_before"] > 0
    repository = Repository.connect(database_url)
    try:
        async with repository.engine.connect() as conn:
            contacts = await find_contacts(conn, text=None, tag="bench", limit=1000, before=None)
    finally:
        await repository.close()
    assert len(contacts) == 500


async def test_events_bench_killed_mid_stream_loses_nothing_and_keeps_each_customers_order(tmp_path: Path) -> None:
    """`bot bench events --kill`: a SIGKILLed `bot serve` is replaced; every event arrives, each customer's in order.

    SQLite only, to keep the suite lean (three processes and a lapsed lease take a while); the claims and leases
    run on PostgreSQL in tests/events, and `bot bench events --kill --database postgresql+asyncpg://…` does this there.
    """
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    args = argparse.Namespace(
        customers=30, rounds=12, per_webhook=5, workers=1, concurrency=16, timeout=0.5, kill=True, stall=30.0,
        database=database_url, throughput=1000, log_level="warning",
    )  # fmt: skip

    report: dict[str, Any] = json.loads(await run_events_bench(args))

    assert (report["mode"], report["events"]) == ("kill", 360)
    assert 0 < report["delivered_before_kill"] < 360
    assert (report["lost"], report["customers_out_of_order"], report["bad_signatures"]) == (0, 0, 0)
