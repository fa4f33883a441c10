"""The sandbox's pure rules: Meta's throughput and pair rate limits and per-message pricing, as functions of `now`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from bot.outbound.throughput import WindowCount
from bot.whatsapp.category import Category
from bot.whatsapp.pricing import FREE_SERVICE_PER_MONTH
from bot.whatsapp.pricing import SERVICE_BILLED_FROM as SERVICE_BILLED_DAY

# Throughput: https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput
THROUGHPUT_WINDOW = timedelta(seconds=1)
# Pair rate: "about 1 message every 6 seconds" to one user, with bursts of up to 45 that borrow from later.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages#pair-rate-limits
PAIR_BURST = 45
PAIR_REFILL = timedelta(seconds=6)
# Per-message pricing: the dates and the free tier are the stats' own (`bot.whatsapp.pricing`), as instants.
SERVICE_BILLED_FROM = datetime.combine(SERVICE_BILLED_DAY, time(), tzinfo=UTC)


class ThroughputWindow(WindowCount[datetime, timedelta]):
    """Messages of one business number in the last second; `allows` refuses the one that would exceed ``limit``.

    A sliding window, so "more than ``limit`` in *any* one-second window" is refused, not merely in each
    calendar second. Inbound messages are recorded too, though they are never refused.
    """

    def __init__(self, limit: int, window: timedelta = THROUGHPUT_WINDOW) -> None:
        super().__init__(limit, window)


@dataclass(frozen=True)
class PairBucket:
    """A token bucket for one recipient: ``burst`` tokens, one more every ``refill``, one per message."""

    tokens: float
    updated: datetime
    burst: int = PAIR_BURST
    refill: timedelta = PAIR_REFILL

    @classmethod
    def full(cls, now: datetime, *, burst: int = PAIR_BURST, refill: timedelta = PAIR_REFILL) -> PairBucket:
        return cls(float(burst), now, burst, refill)

    def at(self, now: datetime) -> PairBucket:
        """The bucket as it stands at `now`, refilled for the time passed (a clock going back adds nothing)."""
        elapsed = max((now - self.updated) / self.refill, 0.0)
        return replace(self, tokens=min(float(self.burst), self.tokens + elapsed), updated=max(now, self.updated))

    def take(self, now: datetime) -> PairBucket | None:
        """The bucket after one message at `now`, or None when the recipient's pair rate is exhausted."""
        current = self.at(now)
        if current.tokens < 1.0:
            return None
        return replace(current, tokens=current.tokens - 1.0)


@dataclass(frozen=True)
class ServiceCount:
    """Free-form (service) messages sent in one calendar month (UTC), for the monthly free tier."""

    month: tuple[int, int] = (0, 0)
    sent: int = 0

    def used(self, now: datetime) -> int:
        """Service messages already sent in the month of `now`."""
        return self.sent if self.month == _month(now) else 0

    def plus_one(self, now: datetime) -> ServiceCount:
        return ServiceCount(_month(now), self.used(now) + 1)


def _month(now: datetime) -> tuple[int, int]:
    utc = now.astimezone(UTC)
    return utc.year, utc.month


@dataclass(frozen=True)
class Pricing:
    """The ``pricing`` object of a status webhook under per-message pricing (PMP)."""

    category: Category
    billable: bool
    type: str
    pricing_model: str = "PMP"

    def as_json(self) -> dict[str, object]:
        return {
            "billable": self.billable,
            "pricing_model": self.pricing_model,
            "category": self.category,
            "type": self.type,
        }


def template_pricing(category: Category, *, in_window: bool, now: datetime) -> Pricing:
    """A delivered template is billed by its category; until October 2026 utility in an open window was free."""
    if category == "service":
        return Pricing("service", False, "free_customer_service")
    if category == "utility" and in_window and now < SERVICE_BILLED_FROM:
        return Pricing("utility", False, "free_customer_service")
    return Pricing(category, True, "regular")


def service_pricing(used_this_month: int, now: datetime) -> Pricing:
    """A free-form message: free until October 2026; since then the first 1,000 of each month are free."""
    if now < SERVICE_BILLED_FROM or used_this_month < FREE_SERVICE_PER_MONTH:
        return Pricing("service", False, "free_customer_service")
    return Pricing("service", True, "regular")
