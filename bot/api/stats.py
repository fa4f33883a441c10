"""`GET /api/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: conversations, messages and estimated cost by UTC day.

The rate card (`BOT_RATE_CARD`) is read once, when the app is built: a bad card stops the service at
start, as any bad setting does. With no card the figures are all there and ``cost`` is null, with the
reason in ``cost_note``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import keys
from bot.api.request import json_response
from bot.api.stats_report import StatsReport, utc_date
from bot.errors import ConfigError, ValidationError
from bot.whatsapp.pricing import PMP_FROM, SERVICE_BILLED_FROM
from bot.whatsapp.rate_card import RateCard, example_rate_card, read_rate_card
from storage import stats
from storage.repository import Repository

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_DAYS = 366
NO_CARD_NOTE = "no rate card: set BOT_RATE_CARD to the business's rate card (CSV) to estimate costs"


@dataclass(frozen=True)
class LoadedCard:
    """The rate card the service runs with, where it came from, and whether it is the shipped example."""

    card: RateCard | None
    path: Path | None
    example: bool

    def describe(self) -> dict[str, Any]:
        if self.card is None:
            return {"rate_card": None, "cost_note": NO_CARD_NOTE}
        note = "EXAMPLE figures, not Meta's prices: set BOT_RATE_CARD to your own card" if self.example else None
        return {"rate_card": {"path": str(self.path), "example": self.example}, "cost_note": note}


RATE_CARD = web.AppKey("rate_card", LoadedCard)


def load_card(path: Path | None) -> LoadedCard:
    """Read the configured card; any problem is a `ConfigError` listing every bad row as path:line:col."""
    if path is None:
        return LoadedCard(None, None, False)
    card, problems = read_rate_card(path)
    if card is None:
        raise ConfigError("BOT_RATE_CARD is not a valid rate card:\n" + "\n".join(str(p) for p in problems))
    return LoadedCard(card, path, path.resolve() == example_rate_card().resolve())


def _day(request: web.Request, name: str) -> date:
    value = request.query.get(name)
    if value is None:
        raise ValidationError("from and to are required, as YYYY-MM-DD (UTC days; to is exclusive)")
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValidationError(f"{name} {value[:40]!r} is not a date as YYYY-MM-DD")


def stats_range(request: web.Request) -> tuple[date, date]:
    """The [from, to) range asked for: both days given, `to` after `from`, at most 366 days."""
    start, end = _day(request, "from"), _day(request, "to")
    if end <= start:
        raise ValidationError(f"to ({end}) must be after from ({start}); to is exclusive, so one day is from=D&to=D+1")
    if (end - start).days > MAX_DAYS:
        raise ValidationError(f"the range is {(end - start).days} days; ask for at most {MAX_DAYS} at a time")
    return start, end


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def loaded_card(app: keys.Config) -> LoadedCard:
    """The app's rate card as loaded; an app built without one (a test's) has none."""
    return app.get(RATE_CARD) or LoadedCard(None, None, False)


async def build_report(repository: Repository, start: date, end: date, card: RateCard | None) -> StatsReport:
    """Count in SQL, then price the CBP days' conversations and the PMP days' messages as they stream by.

    Messages are read from the first of `start`'s month when the range reaches October 2026, so each
    service message's place among its month's free 1,000 is known.
    """
    report = StatsReport(start, end, card)
    low, high = midnight(start), midnight(end)
    async with repository.reading() as conn:
        report.count_conversations(await stats.conversation_counts(conn, low, high))
        report.count_messages(await stats.message_counts(conn, low, high))
        cbp_end = min(high, midnight(PMP_FROM))
        if low < cbp_end:
            async for conversation in stats.conversations_to_price(conn, low, cbp_end):
                report.price_conversation(conversation)
        pmp_start = max(low, midnight(PMP_FROM))
        if pmp_start < high:
            if high > midnight(SERVICE_BILLED_FROM):
                pmp_start = pmp_start.replace(day=1)
            async for message in stats.messages_to_price(conn, pmp_start, high):
                report.price_message(message)
    return report


async def campaign_report(repository: Repository, campaign_id: int, card: RateCard | None) -> StatsReport | None:
    """The campaign's messages by category and their cost, over the UTC days it sent on; None before it sent any.

    Only per-message pricing is modelled here: a campaign's days before July 2025 show its messages, no cost.
    """
    async with repository.reading() as conn:
        span = await stats.campaign_span(conn, campaign_id)
        if span is None:
            return None
        start, end = utc_date(span[0]), utc_date(span[1]) + timedelta(days=1)
        report = StatsReport(start, end, card)
        low, high = midnight(start), midnight(end)
        report.count_messages(await stats.message_counts(conn, low, high, campaign_id=campaign_id))
        async for message in stats.messages_to_price(conn, low, high, campaign_id=campaign_id):
            report.price_message(message)
    return report


async def get_stats(request: web.Request) -> web.Response:
    start, end = stats_range(request)
    loaded = request.config_dict[RATE_CARD]
    report = await build_report(request.config_dict[keys.REPOSITORY], start, end, loaded.card)
    body = report.as_json()
    return json_response({**body, **loaded.describe()})


routes = (web.get("/stats", get_stats),)
