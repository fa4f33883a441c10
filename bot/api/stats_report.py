"""The stats report: conversations, messages and estimated cost by UTC day and category, built from rows.

Pure: it is fed the counts and the rows to price (read by `storage.stats`) and says what they cost under
`bot.whatsapp.pricing`'s rules with a `RateCard`. A day before 1 July 2025 is priced by the conversations opened on
it (CBP), a later day by its delivered messages (PMP). Meta's reported pricing decides over the estimate
wherever a status webhook carried it. A charge that cannot be priced (a number phonenumbers cannot place,
no rate for that day, a rule not modelled) is counted under ``unpriced``, never guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.whatsapp.pricing import (
    Charge,
    conversation_charge,
    message_category,
    message_charge,
    meta_charge,
    pricing_model,
)
from bot.whatsapp.rate_card import RateCard, calling_code
from storage.stats import ConversationCount, ConversationRow, MessageCount, MessageRow

UNKNOWN_COUNTRY = "unknown_country"
NO_RATE = "no_rate"


@dataclass
class Tally:
    """One day's (or the whole range's) figures."""

    conversations: Counter[str] = field(default_factory=Counter)
    messages: dict[str, Counter[str]] = field(default_factory=dict)
    received: int = 0
    billable: Counter[str] = field(default_factory=Counter)
    cost: dict[str, Decimal] = field(default_factory=dict)
    cost_source: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.conversations.update(other.conversations)
        for category, counts in other.messages.items():
            self.messages.setdefault(category, Counter()).update(counts)
        self.received += other.received
        self.billable.update(other.billable)
        for category, amount in other.cost.items():
            self.cost[category] = self.cost.get(category, Decimal(0)) + amount
        self.cost_source.update(other.cost_source)
        self.unpriced.update(other.unpriced)

    def as_json(self, card: RateCard | None) -> dict[str, Any]:
        return {
            "conversations": dict(sorted(self.conversations.items())),
            "messages": {
                category: {"sent": c["sent"], "delivered": c["delivered"], "failed": c["failed"]}
                for category, c in sorted(self.messages.items())
            },
            "received": self.received,
            "billable": dict(sorted(self.billable.items())),
            "cost": None if card is None else {k: card.money(v) for k, v in sorted(self.cost.items())},
            "cost_total": None if card is None else card.money(sum(self.cost.values(), Decimal(0))),
            "cost_source": {"meta": self.cost_source["meta"], "estimate": self.cost_source["estimate"]},
            "unpriced": dict(sorted(self.unpriced.items())),
        }


@dataclass
class _ServiceCount:
    """Service messages delivered so far in the current calendar month (UTC), for the 1,000 free ones."""

    month: tuple[int, int] = (0, 0)
    count: int = 0

    def next(self, day: date) -> int:
        """The place (from 1) of one more service message on `day` among its month's."""
        if (day.year, day.month) != self.month:
            self.month, self.count = (day.year, day.month), 0
        self.count += 1
        return self.count


def days_between(start: date, end: date) -> list[date]:
    """Every day in [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class StatsReport:
    """Figures for every UTC day in [start, end), filled by the `count_*` and `price_*` methods."""

    def __init__(self, start: date, end: date, card: RateCard | None) -> None:
        self.start, self.end, self.card = start, end, card
        self.days = {day: Tally() for day in days_between(start, end)}
        self._service = _ServiceCount()

    def count_conversations(self, rows: Iterable[ConversationCount]) -> None:
        for row in rows:
            self._day(row.day).conversations[row.category] += row.count

    def count_messages(self, rows: Iterable[MessageCount]) -> None:
        for row in rows:
            tally = self._day(row.day)
            if row.direction == "in":
                tally.received += row.sent
                continue
            category = message_category(row.is_template, row.template_category, row.category)
            counts = tally.messages.setdefault(category, Counter())
            counts.update({"sent": row.sent, "delivered": row.delivered, "failed": row.failed})

    def price_conversation(self, row: ConversationRow) -> None:
        """A conversation opened on a CBP day is one charge; one whose opening message never arrived is none."""
        day = utc_date(row.opened_at)
        if day not in self.days or pricing_model(day) != "CBP" or row.delivered is False:
            return
        charge = meta_charge(row.pricing, row.category) or conversation_charge(row.category, row.origin, day)
        self._charge(day, charge, row.wa_id)

    def price_message(self, row: MessageRow) -> None:
        """A delivered message on a PMP day; rows may start before the range, to count the month's free tier."""
        day = utc_date(row.created_at)
        if pricing_model(day) != "PMP":
            return
        category = message_category(row.is_template, row.template_category, row.category)
        free_entry_point = row.origin == "free_entry_point"
        nth = self._service.next(day) if category == "service" and not free_entry_point else 0
        if day not in self.days:
            return
        estimate = message_charge(
            category, day, in_window=not row.outside_window, free_entry_point=free_entry_point, nth_service_in_month=nth
        )
        self._charge(day, meta_charge(row.pricing, category) or estimate, row.wa_id)

    def _charge(self, day: date, charge: Charge, wa_id: str | None) -> None:
        tally = self.days[day]
        tally.cost_source[charge.source] += 1
        if not charge.billable:
            return
        tally.billable[charge.category] += 1
        if charge.unpriced is not None:
            tally.unpriced[charge.unpriced] += 1
            return
        if self.card is None:
            return
        code = calling_code(wa_id)
        price = None if code is None or wa_id is None else self.card.price(wa_id, code, charge.category, day)
        if price is None:
            tally.unpriced[UNKNOWN_COUNTRY if code is None else NO_RATE] += 1
            return
        tally.cost[charge.category] = tally.cost.get(charge.category, Decimal(0)) + price

    def _day(self, text: str) -> Tally:
        return self.days[date.fromisoformat(text)]

    def as_json(self) -> dict[str, Any]:
        totals = Tally()
        days = []
        for day, tally in self.days.items():
            totals.add(tally)
            days.append({"date": day.isoformat(), "pricing_model": pricing_model(day), **tally.as_json(self.card)})
        total = totals.as_json(self.card)
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "currency": self.card.currency if self.card else None,
            "days": days,
            "totals": total,
            "unpriced": total["unpriced"],
        }
