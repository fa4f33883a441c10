"""The checks a message passes at send time, as pure functions of `now`: is it still wanted, may it go now?

Each check answers nothing (send it), a `Hold` (not now: back to the queue until a moment) or a `Drop`
(never: settle it with the reason). The sender reads the facts (`storage.policy.BatchContext`) once per
batch and applies these rules to each message in priority order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.settings import QuietHours, Settings
from bot.whatsapp.category import service_window_open
from bot.whatsapp.lifecycle import TIER_LIMITS
from storage.consent import OPT_IN, OPT_OUT
from storage.lifecycle import refusal
from storage.models import ContactBase, OutboxBase
from storage.policy import REACH_WINDOW, BatchContext, undeliverable

# Kinds that may wait for the morning; replies and one-time codes are answers the customer is waiting for.
NON_URGENT_KINDS = frozenset({"utility", "marketing"})
US_PREFIX = "1"  # Meta has refused marketing templates to +1 (US) numbers since April 2025
CAMPAIGN_PAUSE_CHECK = timedelta(seconds=30)  # a message claimed as its campaign paused looks again this late
# Statuses Meta lifts by itself (review ends, a pause lasts hours, an appeal is decided): their sends wait.
TEMPLATE_WAITS = frozenset({"PENDING", "PAUSED", "IN_APPEAL"})
TEMPLATE_RECHECK = timedelta(minutes=10)
QUALITY_RECHECK = timedelta(minutes=10)  # marketing held while the number's quality is red looks again this late


class Unset:
    """No tier given: the policy's own."""


UNSET = Unset()


@dataclass(frozen=True)
class Hold:
    """Not now: back to the queue until `until`, without counting as an attempt."""

    until: datetime
    code: str
    message: str


@dataclass(frozen=True)
class Drop:
    """Never: settle the message with `status` and the reason."""

    status: str  # "cancelled" (no longer wanted) or "failed" (cannot be sent)
    code: str
    message: str


@dataclass(frozen=True)
class SendPolicy:
    """The business's send-time rules: its time zone, quiet hours and messaging-limit tier."""

    zone: ZoneInfo
    quiet_hours: QuietHours | None = None
    messaging_limit: int | None = None  # the setting; Meta's tier for the number replaces it once Meta said it
    phone_number_id: str | None = None  # the number whose quality and tier Meta reports (`storage.lifecycle`)

    @classmethod
    def of(cls, settings: Settings) -> SendPolicy:
        """The business's rules as its settings say them."""
        zone = ZoneInfo(settings.business_timezone)
        return cls(zone, settings.quiet_hours, settings.messaging_limit, settings.phone_number_id)

    def quiet_until(self, time_zone: str | None, now: datetime) -> tuple[datetime, ZoneInfo] | None:
        """When quiet hours around `now` end in a contact's `time_zone` (and that zone), or None outside them."""
        if self.quiet_hours is None:
            return None
        zone = _zone_named(time_zone, self.zone)
        until = self.quiet_hours.until(now, zone)
        return (until, zone) if until is not None else None

    def for_batch(self, context: BatchContext, now: datetime, tier: int | Unset | None = UNSET) -> BatchCheck:
        """The checks for one claimed batch, with the messaging-limit budget read alongside it.

        The budget is per batch: batches in flight at once (in this process or others) each start from
        what the database held when they were claimed, so the tier can be overshot by at most those.
        """
        reach = context.reach
        limit = self.messaging_limit if isinstance(tier, Unset) else tier
        said = context.number.messaging_limit if context.number else None
        limit = TIER_LIMITS.get(said or "", limit)  # Meta's word on the number's tier, once it spoke
        return BatchCheck(self, context, now, reach.count, set(reach.contacts), reach.frees_at, limit)


@dataclass
class BatchCheck:
    """Applies `SendPolicy` to the rows of one batch, spending the batch's messaging-limit budget."""

    policy: SendPolicy
    context: BatchContext
    now: datetime
    reached_count: int
    reached: set[int]
    frees_at: datetime | None
    limit: int | None = None  # the sending number's messaging-limit tier (None: unlimited)

    def check(self, row: OutboxBase) -> Hold | Drop | None:
        """The first rule that stops `row` now, in order: wanted, consented, reachable, usable, quiet, tier."""
        context, now, policy = self.context, self.now, self.policy
        contact = context.contacts.get(row.contact_id)
        if row.subject and row.subject in context.unwanted:
            return Drop("cancelled", "not_wanted", context.unwanted[row.subject])
        if is_marketing(row):
            stop = self._marketing(row)
            if stop is not None:
                return stop
        if undeliverable(contact):
            return Drop("failed", "undeliverable", "Meta reported this number cannot receive messages (131026)")
        template = template_key(row)
        if template in context.blocked:
            block = context.blocked[template]
            message = f"template {block.name} ({block.language}) is blocked since Meta refused it: {block.reason}"
            return Drop("failed", "template_blocked", message)
        if (refused := self._not_approved(template)) is not None:
            return refused
        quiet = (
            policy.quiet_until(contact.time_zone if contact else None, now)
            if row.kind in NON_URGENT_KINDS and not row.urgent
            else None
        )
        if quiet is not None:
            until, zone = quiet
            return Hold(until, "quiet_hours", f"quiet hours in {zone.key} until {until.astimezone(zone):%H:%M}")
        if self.limit is not None and reaches_outside_window(row, contact, now):
            held = self._admit(row.contact_id, self.limit)
            if held is not None:
                return held
        return self._within_cap(row)

    def _marketing(self, row: OutboxBase) -> Hold | Drop | None:
        """Marketing's own rules: consent, Meta's +1 block, and the campaign's state."""
        context = self.context
        if context.marketing_consent.get(row.contact_id) != OPT_IN:
            return _without_consent(context.marketing_consent.get(row.contact_id))
        if row.recipient.startswith(US_PREFIX):
            return Drop("failed", "us_number", "Meta does not deliver marketing templates to +1 numbers")
        if context.number is not None and context.number.quality == "RED":
            message = "marketing is paused while Meta rates the number's quality RED"
            return Hold(self.now + QUALITY_RECHECK, "quality_red", message)
        state = context.campaigns.get(row.campaign_id or 0, ("running", 0))[0]
        if state == "paused":
            return Hold(self.now + CAMPAIGN_PAUSE_CHECK, "campaign_paused", "the campaign is paused")
        if state == "cancelled":
            return Drop("cancelled", "campaign_cancelled", "the campaign was cancelled before this was sent")
        return None

    def _not_approved(self, template: tuple[str, str] | None) -> Hold | Drop | None:
        """A template Meta has not approved: its sends wait while Meta may still lift that, else fail."""
        state = self.context.templates.get(template) if template is not None else None
        message = refusal(state)
        if state is None or message is None:
            return None
        if state.status in TEMPLATE_WAITS:
            return Hold(self.now + TEMPLATE_RECHECK, "template_not_approved", message)
        return Drop("failed", "template_not_approved", message)

    def _within_cap(self, row: OutboxBase) -> Drop | None:
        """A campaign's frequency cap: marketing per contact in the rolling 7 days, this batch's sends counted."""
        if row.kind != "marketing" or row.campaign_id not in self.context.campaigns:
            return None
        cap = self.context.campaigns[row.campaign_id][1]
        sent = self.context.marketing_this_week.get(row.contact_id, 0)
        if sent >= cap:
            return Drop("cancelled", "frequency_cap", f"{sent} marketing messages in the last 7 days (cap {cap})")
        self.context.marketing_this_week[row.contact_id] = sent + 1
        return None

    def _admit(self, contact_id: int, limit: int) -> Hold | None:
        if contact_id in self.reached:
            return None
        if self.reached_count < limit:
            self.reached_count += 1
            self.reached.add(contact_id)
            if self.frees_at is None:  # the first user reached in the window: counted until 24 h from now
                self.frees_at = self.now + REACH_WINDOW
            return None
        until = max(self.frees_at or self.now + timedelta(hours=1), self.now + timedelta(seconds=1))
        return Hold(until, "messaging_limit", f"messaging limit of {limit} users per 24 h reached")


def _without_consent(state: str | None) -> Drop:
    """Marketing goes only to contacts whose latest word in the consent ledger is an opt-in."""
    if state == OPT_OUT:
        return Drop("cancelled", "opted_out", "the contact opted out of marketing")
    return Drop("cancelled", "no_consent", "the contact never opted in to marketing")


def is_marketing(row: OutboxBase) -> bool:
    """Marketing by its kind, or a template Meta re-categorised as marketing: consent and quality rules apply."""
    return row.kind == "marketing" or row.template_category == "marketing"


def as_meta_says(row: OutboxBase, context: BatchContext) -> OutboxBase:
    """The row with its template's category as Meta last said, which prices it and picks its rules."""
    key = template_key(row)
    state = context.templates.get(key) if key is not None else None
    if state is None or not state.category or state.category == row.template_category:
        return row
    return row.model_copy(update={"template_category": state.category})


def reaches_outside_window(row: OutboxBase, contact: ContactBase | None, now: datetime) -> bool:
    """Whether this send counts towards the messaging limit: a business-initiated template, window closed."""
    if row.payload.get("type") != "template" or (row.template_category or "marketing") == "service":
        return False
    return not service_window_open(contact.last_inbound_at if contact else None, now)


def template_key(row: OutboxBase) -> tuple[str, str] | None:
    """(name, language code) of a template send, as Meta identifies an approved template."""
    template = row.payload.get("template") if row.payload.get("type") == "template" else None
    if not isinstance(template, dict):
        return None
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    name = template.get("name")
    return (name, code) if isinstance(name, str) and isinstance(code, str) else None


def _zone_named(time_zone: str | None, default: ZoneInfo) -> ZoneInfo:
    """The contact's own time zone when known and valid, else the business's."""
    if not time_zone:
        return default
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return default
