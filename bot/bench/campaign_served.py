"""`bot bench campaign --served`: a campaign through the public doors of a real `bot serve`, measured at the stand-in.

The twin of `bot bench campaign`, which drives the campaigner and the sender in-process: here the
contacts arrive as CSV imports (`POST /api/contacts`, with consent columns), the campaign is created
with `POST /api/campaigns` to send now at `--rate`, and the figures come from what the Graph API
stand-in received. The stand-in refuses anything beyond `--rate` in a one-second window (130429), so
a sender that broke the limit shows it in `errors` and `max_in_one_second`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.campaign import TAG, VALUES, expected, kind_of
from bot.bench.figures import arrival_figures
from bot.bench.fleet import database_label
from bot.bench.served import Served, served
from bot.bench.stand_in import stand_in_record
from bot.bench.turns import arrived

FINISHED = ("completed", "cancelled")
STALL = 0.05
# Seconds between readings of the campaign's progress. Each reading counts its outbox rows and joins them
# to their messages for delivered and read: 27-32 ms of the service's CPU at 10,000 recipients (loaded
# machine). Read every 0.2 s, that was charged to the sends as up to a third of their CPU per message.
POLL_EVERY = 1.0
# Numbers `phonenumbers` takes as valid for every index below a million (an import refuses invalid ones):
# NL, UK, BR and DE mobiles, and a New York number for the +1 contacts Meta refuses marketing.
COUNTRY_NUMBERS = ("3161{:07d}", "4479{:08d}", "55119{:08d}", "49151{:08d}")
US_NUMBER = "12125{:06d}"


def number_of(index: int) -> str:
    if kind_of(index) == "us_number":
        return US_NUMBER.format(index)
    return COUNTRY_NUMBERS[index % len(COUNTRY_NUMBERS)].format(index)


def contact_rows(contacts: int) -> list[dict[str, str]]:
    """The bench's contacts as CSV rows: the same kinds as `bot bench campaign` seeds (opted in, out, never asked)."""
    rows = []
    for index in range(contacts):
        kind = kind_of(index)
        marketing = {"opted_out": "opt_out", "no_consent": ""}.get(kind, "opt_in")
        rows.append({
            "wa_id": number_of(index), "name": "" if index % 10 == 9 else f"Customer {index}", "tags": TAG,
            "marketing": marketing, "consent_evidence": "bench import" if marketing else "",
        })  # fmt: skip
    return rows


async def until_finished(session: aiohttp.ClientSession, service: Served, campaign_id: int, stall: float) -> Any:
    """Poll the campaign until it is completed (or no send arrived for `stall` seconds); its last reading."""
    last, changed = -1, time.monotonic()
    while True:
        campaign = await service.get(session, f"/campaigns/{campaign_id}")
        if campaign["state"] in FINISHED:
            return campaign
        count = await arrived(session, service.graph_url)
        if count != last:
            last, changed = count, time.monotonic()
        elif time.monotonic() - changed >= stall:
            return campaign
        await asyncio.sleep(POLL_EVERY)


async def measure(args: argparse.Namespace, service: Served) -> dict[str, Any]:
    figures: dict[str, Any] = {"benchmark": "campaign (served)", "contacts": args.contacts, "rate": args.rate}
    async with aiohttp.ClientSession() as session:
        began = time.perf_counter()
        stored = await service.import_contacts(session, contact_rows(args.contacts))
        figures["imported"] = {"contacts": stored, "seconds": round(time.perf_counter() - began, 3)}
        figures["kinds"] = expected(args.contacts)
        load = [round(x, 2) for x in os.getloadavg()]
        cpu_before = service.fleet.cpu_seconds()
        body = {
            "name": "Bench", "template": "promotion_code", "parameters": VALUES, "audience": {"tags": [TAG]},
            "rate": args.rate,
        }  # fmt: skip
        posted = time.monotonic()
        campaign = await service.post(session, "/campaigns", body)
        campaign = await until_finished(session, service, int(campaign["id"]), args.stall)
        cpu_after = service.fleet.cpu_seconds()
        received = await stand_in_record(session, service.graph_url)
    accepted = received["accepted"]
    send = arrival_figures(received, args.rate)
    ordered = sorted(accepted)
    gaps = [(a, b - a) for a, b in itertools.pairwise(ordered) if b - a > STALL]
    # Time with nothing sent for more than STALL: the sender waiting for work (rows not yet queued or
    # claimed), not for the limit, which spaces sends a millisecond apart at 1,000 a second.
    send["stalls_over_50ms"] = {
        "count": len(gaps),
        "seconds": round(sum(gap for _, gap in gaps), 3),
        # When each began, in seconds after the first send, and how long it lasted (the first 20).
        "at": [[round(start - ordered[0], 3), round(gap, 3)] for start, gap in gaps[:20]],
    }
    send["first_send_after_post_s"] = round(min(accepted) - posted, 3) if accepted else None
    send["recipients"] = received["recipients"]
    send["most_to_one_recipient"] = received["most_to_one_recipient"]
    send["outbox"] = campaign.get("progress")
    send["state"] = campaign["state"]
    if cpu_before is not None and cpu_after is not None:
        send["service_cpu_seconds"] = round(cpu_after - cpu_before, 3)
        # Per message sent, and per recipient queued (the audience's expansion is part of the cost).
        send["service_cpu_ms_per_message"] = round((cpu_after - cpu_before) * 1000 / max(send["sent"], 1), 3)
        send["service_cpu_ms_per_contact"] = round((cpu_after - cpu_before) * 1000 / max(args.contacts, 1), 3)
    figures["send"] = send
    figures["load_average"] = {"before": load, "after": [round(x, 2) for x in os.getloadavg()]}
    return figures


async def run_served_campaign_bench(args: argparse.Namespace) -> str:
    """Start the stand-in and one `bot serve`, run the campaign through the API, return figures as JSON."""
    args = argparse.Namespace(**{**vars(args), "throughput": args.rate})
    with tempfile.TemporaryDirectory(prefix="bot-bench-campaign-") as folder:
        async with served(args, args.rate, Path(folder)) as service:
            figures = await measure(args, service)
    figures["database"] = database_label(service.database)
    return json.dumps(figures)
