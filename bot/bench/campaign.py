"""`bot bench campaign`: dry-run and send one marketing campaign to N contacts on a fresh database, and measure it.

The contacts are seeded in bulk through `storage` (contacts upserted and consent recorded a chunk per
transaction, as a CSV import stores them), not through N API calls: most opted in to marketing, some
opted out, some never asked, some on +1 numbers that Meta refuses marketing. Then the real
`Campaigner.dry_run` is timed, and the real campaigner and sender run the campaign against the
`bot bench send` stand-in process (`bot.bench.stand_in`) at the throughput limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.api.campaigns import marketing_price
from bot.bench.figures import arrival_figures, peak_rss_mb, quarters, rss_mb
from bot.bench.outbox import running
from bot.bench.stand_in import linked_stand_in
from bot.campaigns.campaign import CampaignRequest
from bot.campaigns.runner import Campaigner
from bot.message_templates.library import TemplateLibrary
from bot.metrics import Metrics
from bot.otp.core import CODE_LIFE
from bot.outbound.sender import Sender
from bot.whatsapp.rate_card import example_rate_card, read_rate_card
from storage import campaign as store
from storage import consent
from storage.consent import OPT_IN, OPT_OUT, ConsentChange
from storage.contacts import ContactValues, upsert_contacts
from storage.repository import Repository

SEED_CHUNK = 5000  # contacts per seeding transaction
TAG = "customers"
# Every twentieth contact opted out, the next never asked, the next is a +1 number (opted in): 85% get it.
KINDS = ("opted_out", "no_consent", "us_number")
COUNTRY_NUMBERS = ("316{:08d}", "447{:09d}", "55119{:08d}", "4915{:09d}")  # NL, UK, BR, DE mobiles
US_NUMBER = "1415{:07d}"
VALUES = {
    "customer_name": {"field": "name", "default": "there"}, "discount": "20%", "promo_code": "BENCH20",
    "expiry_date": "31 December",
}  # fmt: skip


def kind_of(index: int) -> str:
    """Which of the four kinds of contact the `index`-th one is."""
    slot = index % 20
    return KINDS[slot] if slot < len(KINDS) else "opted_in"


def wa_id_of(index: int) -> str:
    if kind_of(index) == "us_number":
        return US_NUMBER.format(index)
    return COUNTRY_NUMBERS[index % len(COUNTRY_NUMBERS)].format(index)


def expected(contacts: int) -> dict[str, int]:
    """How many contacts of each kind `seed` stores."""
    counts = dict.fromkeys(("opted_in", *KINDS), 0)
    for index in range(contacts):
        counts[kind_of(index)] += 1
    return counts


async def seed(repository: Repository, contacts: int, now: datetime) -> None:
    """N contacts, tagged, with their consent, in bulk: `upsert_contacts` and `consent.record`, a chunk at a time."""
    for start in range(0, contacts, SEED_CHUNK):
        indexes = range(start, min(contacts, start + SEED_CHUNK))
        # Every tenth contact has no name, so the template's default value is used too.
        values = [ContactValues(wa_id_of(i), None if i % 10 == 9 else f"Customer {i}", tags=(TAG,)) for i in indexes]
        async with repository.transaction() as conn:
            stored = await upsert_contacts(conn, values, now)
            changes = [
                ConsentChange(stored[v.wa_id].contact_id, OPT_OUT if kind_of(i) == "opted_out" else OPT_IN,
                              "import", {"evidence": "bench"}, now)
                for i, v in zip(indexes, values, strict=True)
                if kind_of(i) != "no_consent"
            ]  # fmt: skip
            await consent.record(conn, changes, now)


@dataclass
class Progress:
    """What the watcher saw while the campaign ran: when expansion ended, resident memory over time."""

    started: float = field(default_factory=time.perf_counter)
    expanded: float | None = None
    rss: list[float] = field(default_factory=list)


async def watch(repository: Repository, campaign_id: int, progress: Progress) -> None:
    """Poll until the run is expanded and nothing is queued or in flight; the database says when, not the loops."""
    while True:
        progress.rss.append(rss_mb())
        async with repository.engine.connect() as conn:
            runs = await store.runs_of(conn, campaign_id)
        if progress.expanded is None and runs and all(r.state != "expanding" for r in runs):
            progress.expanded = time.perf_counter()
        if progress.expanded is not None and not sum((await repository.outbox_depth()).values()):
            return
        await asyncio.sleep(0.1)


def clock() -> datetime:
    return datetime.now(UTC)


def load() -> list[float]:
    """The machine's load average (1, 5, 15 minutes): the figures are only as good as the machine was quiet."""
    return [round(n, 2) for n in os.getloadavg()]


async def run_campaign_bench(args: argparse.Namespace) -> str:
    """Seed, dry-run, then run the campaign through a stand-in process; the figures as one JSON object."""
    figures: dict[str, Any] = {"benchmark": "campaign", "contacts": args.contacts, "rate": args.rate}
    templates = TemplateLibrary.load(Path(args.templates))
    card, _ = read_rate_card(example_rate_card())
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as scratch:
        url = args.database or f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        figures["database"] = url.split("://")[0]
        repository = Repository.connect(url)
        try:
            await repository.migrate()
            began = time.perf_counter()
            await seed(repository, args.contacts, clock())
            figures["seeded"] = {
                "how": f"storage.contacts.upsert_contacts + storage.consent.record, {SEED_CHUNK} a transaction",
                "seconds": round(time.perf_counter() - began, 3), **expected(args.contacts),
            }  # fmt: skip
            figures["peak_rss_mb_after_seeding"] = peak_rss_mb()
            async with linked_stand_in(args.rate) as link:
                metrics = Metrics()
                sender = Sender(
                    repository, link.client, clock=clock, metrics=metrics, code_life=CODE_LIFE, throughput=args.rate
                )
                campaigner = Campaigner(
                    repository, templates.get, clock=clock, on_enqueued=sender.wake,
                    price_of=lambda wa_id: marketing_price(card, wa_id),
                )  # fmt: skip
                request = CampaignRequest(
                    name="Bench", template="promotion_code", language=None, parameters=VALUES,
                    audience={"tags": [TAG]}, send_at=None, cron=None, time_zone="UTC",
                )  # fmt: skip
                campaign = await campaigner.create(request)
                assert campaign.id is not None
                figures["dry_run"] = await timed_dry_run(campaigner, campaign.id)
                figures["peak_rss_mb_after_dry_run"] = peak_rss_mb()
                figures["send"] = await timed_send(repository, campaigner, sender, campaign.id)
                figures["peak_rss_mb"] = peak_rss_mb()  # before reading the stand-in's record
                received = await link.received()
            figures["send"].update(arrival_figures(received, args.rate))
            figures["send"]["recipients"] = received["recipients"]
            figures["send"]["most_to_one_recipient"] = received["most_to_one_recipient"]
            async with repository.engine.connect() as conn:
                figures["send"]["outbox"] = await store.progress(conn, campaign.id)
        finally:
            await repository.close()
    figures["load_average_at_end"] = load()
    return json.dumps(figures)


async def timed_dry_run(campaigner: Campaigner, campaign_id: int) -> dict[str, Any]:
    loaded = load()
    began, cpu = time.perf_counter(), time.process_time()
    report = await campaigner.dry_run(campaign_id)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    summary = report.as_json()
    return {
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "audience": summary["audience"],
        "would_send": summary["would_send"],
        "suppressed": summary["suppressed"], "countries": len(summary["by_country"]),
        "estimated_cost": summary["estimated_cost"], "load_average": loaded,
    }  # fmt: skip


async def timed_send(
    repository: Repository, campaigner: Campaigner, sender: Sender, campaign_id: int
) -> dict[str, Any]:
    loaded = load()
    progress, cpu = Progress(), time.process_time()
    async with running(campaigner.run(), sender.run()):
        await watch(repository, campaign_id, progress)
    done, cpu = time.perf_counter(), time.process_time() - cpu
    assert progress.expanded is not None
    return {
        "expansion_seconds": round(progress.expanded - progress.started, 3),
        "seconds": round(done - progress.started, 3),
        "cpu_seconds": round(cpu, 3),  # this process's, all threads: the figure a busy machine cannot shrink
        "rss_mb_by_quarter": quarters(progress.rss),
        "load_average": loaded,
    }
