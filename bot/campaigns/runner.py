"""Marketing campaigns at work: runs started once per occurrence, audiences expanded a page at a time, and control.

The loop (role `scheduler`) does two things each round. It starts due campaigns: a unique run row per
(campaign, occurrence) and the next occurrence, in one transaction. And it expands running runs into the
outbox, one page of contacts per transaction, moving the run's cursor only from where it read it, so a
campaign of 100,000 contacts is queued in flat memory, a restart carries on, and two instances never
queue a page twice. Messages are spaced at the campaign's rate by their due time. Consent, quiet hours,
the frequency cap, the campaign's state and Meta's block on +1 numbers are checked when each message is
sent, not here (`bot.outbound.send_policy`).

Why one module of about 450 lines: the loop that expands runs and the API's controls (create, pause, resume,
cancel, retry, test, dry run) read and write the same run rows and share the paging, the send slots and
the audience test; the rules themselves live in `campaign` beside it, the statements in `storage.campaign`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.campaigns.campaign import CampaignRequest, MissingValue, audience_test, suppression, values_for
from bot.errors import Conflict, NotFound, TemplateNotApproved, ValidationError
from bot.loop import Wakeful
from bot.message_templates.library import MessageTemplate, to_cloud_api
from bot.outbound.send_policy import SendPolicy
from bot.recurring import cron
from storage import campaign as store
from storage import consent
from storage.campaign import Recipient
from storage.lifecycle import refusal
from storage.models import CampaignBase, CampaignRunBase, ContactBase
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.campaigns.runner")

PAGE = 1000  # contacts read per expansion transaction
# A run with a rate is expanded only this far ahead of its sends: a page is queued once its first send slot
# is this close. Expanding the whole audience at once took the CPU the sender needed in the campaign's first
# seconds (on PostgreSQL 0.4-0.6 s a page, and sends fell to 500 a second until it was done), and filled
# the outbox with a million rows for a campaign to a million. Without a rate every page is queued at once.
LOOKAHEAD = timedelta(seconds=2)
# A page is rendered in pieces, letting the event loop go between them, so the sends in flight are answered
# on time: their answer times set the pace of the number's window (bot/outbound/throughput.py).
YIELD_EVERY = 100
TemplateLookup = Callable[[str, str | None], MessageTemplate]
CONTROLLABLE = {"pause": ("scheduled", "running"), "resume": ("paused",), "cancel": ("scheduled", "running", "paused")}


# A recipient's country calling code and the price of one marketing message to them (None: not on the card).
PriceOf = Callable[[str], tuple[str, Decimal | None]]


@dataclass
class DryRun:
    """Who a campaign would reach now, who not and why, and what it would cost, by country (marketing)."""

    audience: int = 0
    sendable: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    by_country: Counter[str] = field(default_factory=Counter)
    cost: dict[str, Decimal] = field(default_factory=dict)
    unpriced: Counter[str] = field(default_factory=Counter)
    held: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (local end of quiet hours, time zone)
    held_until: dict[tuple[str, str], datetime] = field(default_factory=dict)  # the latest such end, UTC

    def hold(self, until: datetime, zone: ZoneInfo) -> None:
        """One recipient quiet hours would hold until `until` (their own clock in `zone`)."""
        key = (f"{until.astimezone(zone):%H:%M}", zone.key)
        self.held[key] += 1
        self.held_until[key] = max(until, self.held_until.get(key, until))

    def summary(self) -> str:
        """E.g. "5 would get it: 1 now, 4 held by quiet hours until 08:00 in their time zone"."""
        held = sum(self.held.values())
        if not held:
            return f"{self.sendable} would get it now"
        ends = sorted({local for local, _ in self.held})
        until = ends[0] if len(ends) == 1 else f"{ends[0]}-{ends[-1]}"
        return (
            f"{self.sendable} would get it: {self.sendable - held} now, {held} held by quiet hours until {until} "
            "in their time zone"
        )

    def add(self, country: str, price: Decimal | None) -> None:
        self.sendable += 1
        self.by_country[country] += 1
        if price is None:
            self.unpriced[country] += 1
        else:
            self.cost[country] = self.cost.get(country, Decimal(0)) + price

    def as_json(self) -> dict[str, Any]:
        countries = sorted(self.by_country)
        return {
            "audience": self.audience, "would_send": self.sendable, "suppressed": dict(self.suppressed),
            "by_country": [
                {"country_calling_code": c, "category": "marketing", "recipients": self.by_country[c],
                 "estimated_cost": str(self.cost[c]) if c in self.cost else None, "unpriced": self.unpriced[c]}
                for c in countries
            ],
            "estimated_cost": str(sum(self.cost.values(), Decimal(0))),
            "now": self.sendable - sum(self.held.values()), "held_by_quiet_hours": sum(self.held.values()),
            "held": [
                {"until_local": local, "time_zone": zone, "recipients": n,
                 "until": self.held_until[(local, zone)]}
                for (local, zone), n in sorted(self.held.items())
            ],
            "summary": self.summary(),
        }  # fmt: skip


class Campaigner(Wakeful):
    """Starts and expands campaign runs (several may share a database) and manages campaigns for the API."""

    def __init__(
        self,
        repository: Repository,
        templates: TemplateLookup,
        *,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        price_of: PriceOf = lambda wa_id: ("unknown", None),
        idle_wait: float = 5.0,
        send_policy: SendPolicy | None = None,
    ) -> None:
        self._send_policy = send_policy  # what a dry run asks about quiet hours
        self._repository = repository
        self._templates = templates
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._price_of = price_of
        self._idle_wait = idle_wait
        self._next_page_at: datetime | None = None  # when the next page of a run with a rate is due
        super().__init__()

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        async def one_round() -> float:
            if await self.run_once():
                return 0.0
            if self._next_page_at is None:
                return self._idle_wait
            return min(self._idle_wait, max(0.0, (self._next_page_at - self._clock()).total_seconds()))

        await self.rounds(one_round, "campaigner.failed", on_error=self._idle_wait)

    async def run_once(self) -> int:
        """Start due runs, expand one page of each expanding run that is due one, settle finished campaigns;
        how much was done. A run whose next page is not due yet (`LOOKAHEAD`) sets `_next_page_at`."""
        started = await self._start_due()
        expanded = 0
        self._next_page_at = None
        async with self._repository.reading() as conn:
            runs = await store.expanding_runs(conn, 20)
        for run in runs:
            expanded += await self._expand_page(run)
        if expanded:
            self._on_enqueued()
        await self._complete_finished()
        return started + expanded

    async def _start_due(self) -> int:
        now = self._clock()
        started = 0
        # Looked at without the write lock first: this runs every round while a run expands, and is
        # seldom due; a write transaction each time would hold up the sender's claims and settles.
        async with self._repository.reading() as conn:
            if not await store.due_campaigns(conn, now, 1):
                return 0
        async with self._repository.transaction() as conn:
            for campaign in await store.due_campaigns(conn, now, 20):
                assert campaign.id is not None
                assert campaign.next_run_at is not None
                occurrence, following = campaign.next_run_at, None  # a one-off runs once, and is done
                if campaign.cron:
                    due = cron.due(cron.parse(campaign.cron, campaign.time_zone), campaign.next_run_at, now)
                    occurrence, following = due.occurrence, due.following
                run_id = await store.start_run(conn, campaign.id, occurrence, now)
                await store.set_state(conn, campaign.id, "running", now, next_run_at=following)
                if run_id is not None:
                    started += 1
                    log.info("campaign.run_started", campaign_id=campaign.id, run_id=run_id, scheduled_for=occurrence)
        return started

    async def _expand_page(self, run: CampaignRunBase) -> int:
        """Queue one page of the run's audience; returns how many contacts the page held."""
        now = self._clock()
        # Read and rendered without the write lock, written in a short transaction: a page's rendering
        # held SQLite's write lock for a tenth of a second or more, and the sender's claims and settles
        # waited behind it with nothing to send. What is read may be a moment old when it is written;
        # the cursor moves only from where it was read (`advance_run`), and consent, the campaign's
        # state and the rest are checked again when each message is sent.
        async with self._repository.reading() as conn:
            campaign = await store.campaign_by_id(conn, run.campaign_id)
            assert campaign is not None
            if (due := self._page_due_at(campaign, run)) > now + LOOKAHEAD:
                later = due - LOOKAHEAD
                self._next_page_at = later if self._next_page_at is None else min(self._next_page_at, later)
                return 0
            contacts = await store.contacts_after(conn, run.cursor, PAGE)
            members = list(filter(audience_test(campaign.audience or {}), contacts))
            ids = [c.id for c in members]
            # What the send-time checks will most likely say, read as the dry run reads it: a recipient
            # expected to be dropped is queued (its reason shows in the recipients' log) but takes no slot.
            consents = await consent.states(conn, ids)
            sent = await store.marketing_sent_since(conn, ids, now - store.WEEK)
        messages, slots = await self._messages(campaign, run, members, consents, sent)
        cursor = contacts[-1].id if contacts else run.cursor
        assert cursor is not None

        async def write(conn: AsyncConnection) -> int:
            queued = await enqueue(conn, messages, now)
            if not await store.advance_run(conn, run, cursor, queued, slots, len(contacts) < PAGE, now):
                raise _PageTaken  # another instance expanded this page first: roll ours back
            return queued

        try:
            queued = await self._repository.write_whole(write)  # on SQLite whole in the database's thread
        except _PageTaken:
            return 0
        if len(contacts) < PAGE:
            log.info("campaign.run_expanded", campaign_id=run.campaign_id, run_id=run.id, queued=run.queued + queued)
            # A run is a bulk load of the outbox: PostgreSQL plans the sender's claim from stale counts
            # until the table is analysed (storage.outbox.refresh_statistics); SQLite needs nothing.
            await self._repository.refresh_outbox_statistics()
        return len(contacts)

    @staticmethod
    def _page_due_at(campaign: CampaignBase, run: CampaignRunBase) -> datetime:
        """When the run's next send slot comes: the first send of the page it would expand next."""
        start, step = _schedule(campaign, run)
        return start + step * run.slots

    async def _messages(
        self,
        campaign: CampaignBase,
        run: CampaignRunBase,
        contacts: list[Recipient],
        consents: dict[int, str],
        sent: dict[int, int],
    ) -> tuple[list[NewMessage], int]:
        """The page's messages, spaced at the campaign's rate, and how many send slots they took.

        Only a recipient expected to be sent takes a slot; one expected to be dropped (`suppression`) is
        due with the next, so a campaign at `rate: 1000` sends 1,000 a second whatever share of its
        audience has no consent. The send-time checks still decide each message. The event loop is let go
        every `YIELD_EVERY` messages: a page rendered in one go held it 30 ms, and every send in flight too.
        """
        template = self._templates(campaign.template, campaign.language)
        start, step = _schedule(campaign, run)
        parameters = campaign.parameters or {}
        messages, slot = [], run.slots
        for index, contact in enumerate(contacts, start=1):
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            try:
                values = values_for(parameters, contact)
            except MissingValue as exc:
                log.info("campaign.recipient_skipped", campaign_id=campaign.id, reason=str(exc))
                continue
            key = f"campaign:{run.id}:{contact.id}"
            message = _marketing(template, contact, values, start + step * slot, key, campaign.phone_number_id)
            messages.append(replace(message, campaign_id=campaign.id))
            reason = suppression(
                contact, consents.get(contact.id), sent.get(contact.id, 0), campaign.frequency_cap, parameters
            )
            slot += reason is None
        return messages, slot - run.slots

    async def _complete_finished(self) -> None:
        """A one-off campaign whose every message is settled is completed."""
        now = self._clock()
        async with self._repository.reading() as conn:  # as in `_start_due`: no write lock unless one is done
            done = [c.id for c in await store.running_once(conn) if c.id and not await store.unfinished(conn, c.id)]
        if not done:
            return
        async with self._repository.transaction() as conn:
            for campaign in await store.running_once(conn):
                assert campaign.id is not None
                if campaign.id in done and not await store.unfinished(conn, campaign.id):
                    await store.set_state(conn, campaign.id, "completed", now)
                    log.info("campaign.completed", campaign_id=campaign.id)

    # -- managing campaigns ------------------------------------------------------------------------

    async def create(self, request: CampaignRequest) -> CampaignBase:
        """Store a checked campaign, due at its time, now, or its first occurrence; a taken name is a `Conflict`."""
        now = self._clock()
        for (name, language), state in (await self._repository.meta_word()).items():
            refused = refusal(state) if name == request.template and request.language in (None, language) else None
            if refused is not None:
                raise TemplateNotApproved(refused)
        first = request.send_at or now
        if request.cron:
            first = cron.next_run(cron.parse(request.cron, request.time_zone), now)
        row = CampaignBase(
            name=request.name, template=request.template, language=request.language,
            parameters=dict(request.parameters), audience=dict(request.audience), send_at=request.send_at,
            cron=request.cron, time_zone=request.time_zone, next_run_at=first, frequency_cap=request.frequency_cap,
            rate=request.rate, flow=request.flow, test_numbers=list(request.test_numbers), state="scheduled",
            created_at=now, updated_at=now, phone_number_id=request.phone_number_id,
        )  # fmt: skip
        async with self._repository.transaction() as conn:
            stored = await store.add_campaign(conn, row)
        if stored is None:
            raise Conflict(f"a campaign named {request.name!r} already exists")
        log.info("campaign.created", campaign_id=stored.id, name=stored.name, next_run_at=first)
        self.wake()
        return stored

    async def get(self, campaign_id: int) -> tuple[CampaignBase, list[CampaignRunBase], dict[str, int]]:
        async with self._repository.reading() as conn:
            campaign = await _found(conn, campaign_id)
            return campaign, await store.runs_of(conn, campaign_id), await store.progress(conn, campaign_id)

    async def pause(self, campaign_id: int) -> CampaignBase:
        return await self._control(campaign_id, "pause")

    async def resume(self, campaign_id: int) -> CampaignBase:
        return await self._control(campaign_id, "resume")

    async def cancel(self, campaign_id: int) -> CampaignBase:
        return await self._control(campaign_id, "cancel")

    async def _control(self, campaign_id: int, action: str) -> CampaignBase:
        now = self._clock()
        async with self._repository.transaction() as conn:
            campaign = await _found(conn, campaign_id)
            if campaign.state not in CONTROLLABLE[action]:
                raise Conflict(f"campaign {campaign_id} is {campaign.state}; it cannot {action} now")
            if action == "pause":
                moved = await store.hold_queued(conn, campaign_id, now)
                await store.set_state(conn, campaign_id, "paused", now)
            elif action == "resume":
                moved = await store.release_paused(conn, campaign_id, now, campaign.rate)
                await store.set_state(conn, campaign_id, "running", now)
            else:
                moved = await store.cancel_unsent(conn, campaign_id, now)
                await store.set_state(conn, campaign_id, "cancelled", now, next_run_at=None)
            updated = await _found(conn, campaign_id)
        log.info(f"campaign.{action}d", campaign_id=campaign_id, messages=moved)
        self.wake()
        if action == "resume":
            self._on_enqueued()
        return updated

    async def retry_failed(self, campaign_id: int) -> int:
        now = self._clock()
        async with self._repository.transaction() as conn:
            campaign = await _found(conn, campaign_id)
            if campaign.state in ("cancelled", "paused"):
                raise Conflict(f"campaign {campaign_id} is {campaign.state}; resume it before retrying")
            count = await store.requeue_failed(conn, campaign_id, now)
            if count and campaign.state == "completed":
                await store.set_state(conn, campaign_id, "running", now)
        log.info("campaign.retry_failed", campaign_id=campaign_id, requeued=count)
        self._on_enqueued()
        return count

    async def send_test(self, campaign_id: int, wa_ids: list[str]) -> int:
        """Send the campaign now to numbers on its allow-list only (consent is still checked at send time).

        A test goes at once: quiet hours don't hold a test to the business's own numbers (it is sent as urgent).
        """
        now = self._clock()
        async with self._repository.transaction() as conn:
            campaign = await _found(conn, campaign_id)
            allowed = set(campaign.test_numbers or [])
            wanted = wa_ids or sorted(allowed)
            outside = [w for w in wanted if w not in allowed]
            if not wanted or outside:
                named = ", ".join(outside) or "(none given)"
                raise ValidationError(f"test sends go only to the campaign's test_numbers; not on it: {named}")
            template = self._templates(campaign.template, campaign.language)
            messages = []
            for contact in await store.contacts_for_numbers(conn, wanted, now):
                try:
                    values = values_for(campaign.parameters or {}, contact)
                except MissingValue as exc:
                    raise ValidationError(f"test number {contact.wa_id}: {exc}") from None
                key = f"campaign-test:{campaign_id}:{contact.wa_id}:{now.isoformat()}"
                message = _marketing(template, contact, values, now, key, campaign.phone_number_id)
                messages.append(replace(message, urgent=True))
            queued = await enqueue(conn, messages, now)
        self._on_enqueued()
        return queued

    async def dry_run(self, campaign_id: int) -> DryRun:
        """The campaign's audience as it stands: who would get it now, who not and why, by country."""
        now = self._clock()
        report = DryRun()
        async with self._repository.reading() as conn:
            campaign = await _found(conn, campaign_id)
            cursor = 0
            in_audience = audience_test(campaign.audience or {})
            while True:
                page = await store.contacts_after(conn, cursor, PAGE)
                if not page:
                    break
                cursor = page[-1].id or cursor
                members = list(filter(in_audience, page))
                ids = [c.id for c in members if c.id is not None]
                states = await consent.states(conn, ids)
                sent = await store.marketing_sent_since(conn, ids, now - store.WEEK)
                for contact in members:
                    assert contact.id is not None
                    report.audience += 1
                    reason = suppression(
                        contact, states.get(contact.id), sent.get(contact.id, 0), campaign.frequency_cap,
                        campaign.parameters or {},
                    )  # fmt: skip
                    if reason:
                        report.suppressed[reason] += 1
                        continue
                    report.add(*self._price_of(contact.wa_id or ""))
                    quiet = self._send_policy.quiet_until(contact.time_zone, now) if self._send_policy else None
                    if quiet is not None:
                        report.hold(*quiet)
        return report


def _schedule(campaign: CampaignBase, run: CampaignRunBase) -> tuple[datetime, timedelta]:
    """A run's send slots: when the first comes, and the time between two at the campaign's rate."""
    step = timedelta(seconds=1 / campaign.rate) if campaign.rate else timedelta(0)
    return max(run.scheduled_for, run.created_at), step


def _marketing(
    template: MessageTemplate,
    contact: ContactBase | Recipient,
    values: dict[str, str],
    due: datetime,
    key: str,
    number: str | None,
) -> NewMessage:
    assert contact.id is not None
    assert contact.wa_id is not None
    return NewMessage(
        kind="marketing", contact_id=contact.id, recipient=contact.wa_id,
        payload=to_cloud_api(template, contact.wa_id, values), due_at=due, template_name=template.name,
        template_category="marketing", idempotency_key=key, phone_number_id=number,
    )  # fmt: skip


class _PageTaken(Exception):
    """Another instance moved the run's cursor while this one read the page."""


async def _found(conn: Any, campaign_id: int) -> CampaignBase:
    campaign = await store.campaign_by_id(conn, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign
