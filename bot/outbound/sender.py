"""The sender: claims due outbox rows, applies WhatsApp's rules at send time, sends, and settles each row.

Why one module of about 450 lines: claiming, the send-time checks, the send and the settling share one
batch's leases and one throttle, and each step decides what the next may assume; the pure parts already
live beside it (`outcome`, `send_policy`, `throughput`, `share`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import (
    CloudAPIError,
    MarketingLimited,
    MarketingStopped,
    MediaRefused,
    OutsideServiceWindow,
    PairRateLimited,
    SendOutcomeUnknown,
    TemplateError,
    ThroughputExceeded,
    Undeliverable,
)
from bot.loop import Wakeful
from bot.media.upload import PROJECT_FILE, ProjectMedia, media_forgotten
from bot.metrics import Metrics
from bot.numbers.number import Number, NumberBook
from bot.outbound.lanes import Lane, Lanes
from bot.outbound.outcome import LEASE_UNSURE, Dropped, Expired, Failed, Held, Outcome, Retry, Sent, decide
from bot.outbound.send_policy import (
    BatchCheck,
    Hold,
    SendPolicy,
    as_meta_says,
    is_marketing,
    reaches_outside_window,
    template_key,
)
from bot.outbound.share import JOIN_POLL, Share
from bot.outbound.throughput import Throttle
from bot.whatsapp import category as rules
from bot.whatsapp.client import CloudAPIClient, SendResult
from storage import conversation, outbox
from storage.models import OutboxBase
from storage.policy import BatchContext
from storage.repository import DatabaseUnavailable, Repository

log = structlog.get_logger("bot.outbound.sender")

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)
MIN_BATCH = 64
SHARE_EVERY = 2.0  # seconds between a sender's beats, each re-reading how many senders share the limit
SENDER_ALIVE_FOR = timedelta(seconds=10)  # a sender not seen for this long no longer counts
REAP_BATCH = 500
# Seconds between tries to record a batch's answers while the database is unavailable, the last repeated.
SETTLE_RETRY = (0.2, 0.5, 1.0, 2.0, 5.0)
RENEWALS = 3  # tries to renew a batch's leases before a send, when each comes back half spent


def backoff(attempts: int, hint: float | None = None) -> timedelta:
    """Exponential backoff from the attempt count, never shorter than Meta's hint for the error."""
    seconds = min(2.0 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=max(seconds, hint or 0.0))


def pair_rate_wait(attempts: int) -> timedelta:
    """Meta's advice for 131056: wait 4^n seconds before the n-th retry to that user."""
    return timedelta(seconds=min(4.0 ** max(attempts, 1), MAX_BACKOFF.total_seconds()))


class Sender(Wakeful):
    """One sender loop; several (in several processes) may share an outbox safely."""

    def __init__(
        self,
        repository: Repository,
        client: CloudAPIClient,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
        code_life: timedelta,
        throughput: int = 80,
        send_policy: SendPolicy | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int | None = None,
        idle_wait: float = 1.0,
        reap_every: float = 10.0,
        numbers: NumberBook | None = None,
        uploads: ProjectMedia | None = None,
    ) -> None:
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        self._repository = repository
        self._client = client
        self._clock = clock
        self._code_life = code_life  # a one-time code not sent this long after it was made is never sent
        self._metrics = metrics
        # The business numbers (bot/numbers/); built without them, one number (the client's) at `throughput`.
        self._book = numbers or NumberBook(Number("", "", throughput=throughput))
        # A lane per number (bot/outbound/lanes.py). Exact counting: a send holds its place in its number's
        # window until Meta's answer, so no one-second window can hold more than the number's limit in
        # arrivals however the network delays them (bot/outbound/throughput.py). Each lane also has marketing's
        # own gate at half its rate, used while Meta rates the number YELLOW: a drop in quality slows marketing
        # first and leaves replies, codes and utility their whole rate.
        self._lanes = Lanes(self._book, lambda rate: Throttle(rate, guard=None))
        # Each number's limit, shared by every sender alive (`_beat`, bot/outbound/share.py).
        self._share = Share(self.owner, throughput, alive_for=SENDER_ALIVE_FOR.total_seconds())
        self._policy = send_policy or SendPolicy(zone=ZoneInfo("UTC"))
        self._lease = lease
        # A quarter of a second's worth of sends per claim: few enough round trips to the database at
        # Meta's ceiling, small enough that a sender that dies loses little and leases stay short.
        self._batch = batch
        self._idle_wait = idle_wait
        self._reap_every = reap_every
        self._uploads = uploads  # files of the project that `say` steps send (bot.media.upload)
        super().__init__()
        # Batches in flight at once, per number (`Lane.full`): one sending while the next is claimed and
        # queued behind it on the throttle, so the database round trips overlap the sends instead of pausing
        # them. A more urgent row claimed later (a one-time code) passes the queued sends at the throttle
        # (`Throttle.sending` by priority): the throughput is preempted, not reserved, so a code waits for
        # one batch to be answered and the next claim, and the limit is never left idle for codes that may
        # not come. A batch landing sets `_landed`, for a sender whose lanes were all full.
        self._landed = asyncio.Event()
        # Rows of this sender's batches from claim to settled: its own reaper never takes them, however
        # long a send or a record waits (a locked database, a starved CPU); the batch settles them itself.
        self._flying: set[int] = set()

    @property
    def _throttle(self) -> Throttle:
        """The default number's throttle."""
        return self._lanes.of(OutboxBase.model_construct(phone_number_id=None)).throttle

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._rounds(loop)
        finally:
            # Stopped or cancelled: say goodbye, so the others take its share a window later. A sender
            # that cannot (killed, database gone) ages out of their count after SENDER_ALIVE_FOR.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._repository.sender_leave(self.owner))

    async def _rounds(self, loop: asyncio.AbstractEventLoop) -> None:
        last_reap = 0.0
        await self._join(loop)
        # Every batch in flight belongs to this group: leaving `run` (stopped) waits for them to be sent
        # and settled, and cancelling it cancels and awaits them all, so no send outlives its engine.
        async with asyncio.TaskGroup() as flights:
            flights.create_task(self._beats(loop))
            while self.running:
                try:
                    if loop.time() - last_reap >= self._reap_every:
                        await self.reap()
                        last_reap = loop.time()
                    looked = self._clock()
                    claimed = await self._launch(flights)
                    pause = self._idle_wait if claimed else await self._until_next_due(looked)
                except Exception as exc:  # top-level loop: log and go on
                    log.error("sender.failed", error=f"{type(exc).__name__}: {exc}")
                    claimed, pause = 0, self._idle_wait
                if not claimed:
                    await self.idle(pause)

    async def _until_next_due(self, looked: datetime) -> float:
        """Seconds until the next row queued to fall due after `looked` (when the claim began) does, at most the
        idle wait; none if it already has.

        Nothing wakes the sender when a row queued for later falls due: a campaign's rows are spaced at its
        rate, and a sender that had caught up with them slept its whole idle wait (0.88 s seen in `bot bench
        campaign --served`: 160 sends in that second against 1,000 in the others). Rows falling due after the
        claim time, not after now: one that fell due between the two was missed, and slept through.
        """
        due = await self._repository.next_due_at(looked)
        if due is None:
            return self._idle_wait
        return min(self._idle_wait, max(0.0, (due - self._clock()).total_seconds()))

    async def _join(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before the first claim: beat until every other sender has counted this one, then wait out a window.

        So no one-second window holds more than the limit across processes (bot/outbound/share.py).
        """
        while self.running and not self._share.seen_by_all:
            try:
                await self._beat(loop)
            except Exception as exc:  # the join's own top level: beat again
                log.error("sender.beat_failed", error=f"{type(exc).__name__}: {exc}")
            if not self._share.seen_by_all:
                await self.sleep(JOIN_POLL)
        if self.running:
            await self.sleep(self._share.until_ready(loop.time()))  # not `idle`: new work must not cut it short

    async def _beats(self, loop: asyncio.AbstractEventLoop) -> None:
        """Beat every SHARE_EVERY seconds, apart from the claims, so no wait for room or a batch delays it."""
        while self.running:
            await self.sleep(SHARE_EVERY)
            if not self.running:
                return
            try:
                await self._beat(loop)
            except Exception as exc:  # a top-level loop: the share stays as it was until the next beat
                log.error("sender.beat_failed", error=f"{type(exc).__name__}: {exc}")

    async def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        """Say this sender is alive and take its share of the number's throughput, the limit over the senders alive.

        The share is taken before the beat commits: a smaller one is in force before another sender can
        see that this one counted it.
        """
        if self._book.default.id:  # the app's book: numbers the API added or changed in any process
            await self._book.refresh(self._repository)
        async with self._repository.sender_beat(self.owner, self._clock(), SENDER_ALIVE_FOR) as presence:
            self._share.rate(presence.seen, loop.time())
            for lane in self._lanes.update(self._share.senders):
                log.info("sender.share", owner=self.owner, senders=presence.alive, rate=lane.throttle.rate)
        self._share.committed(presence.seen, loop.time())

    async def reap(self) -> None:
        """Settle messages whose sender died mid-send, then refresh the outbox-depth gauge.

        A send whose status webhook arrived (it carried `outbox:<id>` as its callback data) did reach
        Meta: it is recorded as sent. Otherwise the kind decides (`outbox.ON_EXPIRED_LEASE`): replies
        and utility go back to the queue, a one-time code expires, marketing becomes `unknown`. Queued
        codes older than a code's life expire too, unsent.
        """
        now = self._clock()
        rows, reported = await self._repository.take_expired_leases(
            owner=self.owner, now=now, lease=self._lease, limit=REAP_BATCH, flying=sorted(self._flying)
        )
        if rows:
            context = await self._repository.batch_context(sorted({r.contact_id for r in rows}), (), now)
            outcomes = [self._recover(row, reported.get(outbox.callback_of(row.id)), context, now) for row in rows]
            await self._settle(outcomes)
            counts: dict[str, int] = defaultdict(int)
            for outcome in outcomes:
                counts["recovered" if isinstance(outcome, Sent) else outcome.status] += 1
            log.warning("outbox.leases_expired", **counts)
        stale = await self._repository.expire_stale_secrets(created_before=now - self._code_life, now=now)
        if stale:
            log.warning("outbox.codes_expired_unsent", count=stale)
        self._metrics.set_outbox_depth(await self._repository.outbox_depth())

    def _recover(self, row: OutboxBase, wamid: str | None, context: BatchContext, now: datetime) -> Outcome:
        if wamid is None:
            return Expired(row, outbox.ON_EXPIRED_LEASE.get(row.kind, "unknown"))
        contact, lanes = context.contacts.get(row.contact_id), self._lanes
        try:
            decision = decide(row, contact, lanes.open_conversations(row, context), now, lanes.window(row, context))
        except OutsideServiceWindow:  # Meta took it, so the window was open when it was sent
            decision = rules.SendDecision("service", False, None, "user_initiated", now)
        outside = reaches_outside_window(row, contact, now)
        result, number = SendResult(wamid, row.recipient, None), lanes.of(row).number or None
        return Sent(row, result, decision, decided_at=now, outside_window=outside, number=number)

    async def run_once(self) -> int:
        """Claim one batch, send it concurrently (one message per contact), settle it in one transaction."""
        rows = await self._claim()
        for _, group in self._by_lane(rows):
            await self._deliver(group)
        return len(rows)

    def _by_lane(self, rows: list[OutboxBase]) -> list[tuple[Lane, list[OutboxBase]]]:
        """The rows by the number they go out from, in claim order within each."""
        lanes: dict[int, tuple[Lane, list[OutboxBase]]] = {}
        for row in rows:
            lane = self._lanes.of(row)
            lanes.setdefault(id(lane), (lane, []))[1].append(row)
        return list(lanes.values())

    async def _launch(self, flights: asyncio.TaskGroup) -> int:
        """Wait for a lane with room; claim a batch for each lane with room, in turn, and send each in the
        background; returns how many rows were claimed.

        One number: one claim, as ever. Several: a claim per number, so a number with a long queue (a
        campaign) gets its batch and no more, and every other number gets its own in the same round.
        """
        while self._lanes.all_full:
            self._landed.clear()
            await self._landed.wait()
        claimed = 0
        for lane in self._lanes.with_room():
            only = (lane.number, lane.number == self._book.default.id) if self._lanes.several else None
            rows = await self._claim(only, lane.limit)
            for owner, group in self._by_lane(rows):
                owner.flying += 1
                flights.create_task(self._fly(owner, group))
            claimed += len(rows)
        return claimed

    async def _fly(self, lane: Lane, rows: list[OutboxBase]) -> None:
        answered = False

        def sent() -> None:
            """Every send of the batch is answered: it is recorded now, and the lane has room for a claim."""
            nonlocal answered
            answered = True
            lane.flying -= 1
            lane.settling += 1
            self._landed.set()
            self.wake()

        try:
            await self._deliver(rows, sent)
        except Exception as exc:  # a batch's own top level: its rows go back to the queue when their leases end
            log.error("sender.batch_failed", rows=len(rows), error=f"{type(exc).__name__}: {exc}")
        finally:
            if answered:
                lane.settling -= 1
            else:
                lane.flying -= 1
            self._landed.set()
            # Settling may have made a contact's next message claimable; look again without idling.
            self.wake()

    async def _claim(self, number: tuple[str, bool] | None = None, limit: int | None = None) -> list[OutboxBase]:
        """Claim a batch: of one number's rows with `number` (limited to `limit` a second), else of any."""
        now = self._clock()
        # A quarter of a second's worth of sends per claim: few enough round trips to the database at Meta's
        # ceiling, small enough that a sender that dies loses little and leases stay short.
        fastest = limit or max(n.throughput for n in self._book)
        batch = self._batch or max(MIN_BATCH, fastest // 4)
        rows = await self._repository.claim_due(
            owner=self.owner, now=now, lease=self._lease, limit=batch, number=number
        )
        # In this sender's hands from the claim on, not from when the batch's task starts: the loop may reap
        # before that task runs, and a claim that waited out a locked database comes back with its leases
        # stamped from before the wait, already run out. Reaped then, those rows were sent twice.
        self._flying |= {r.id for r in rows if r.id is not None}
        return rows

    async def _deliver(self, rows: list[OutboxBase], sent: Callable[[], None] | None = None) -> None:
        """Send and settle a claimed batch; its rows leave this sender's hands when it is settled."""
        ids = {r.id for r in rows if r.id is not None}
        try:
            await self._send_and_record(rows, sent)
        finally:
            self._flying -= ids

    async def _send_and_record(self, rows: list[OutboxBase], sent: Callable[[], None] | None = None) -> None:
        """One lane's batch: every row goes out from one number, whose messaging-limit tier it spends.

        `sent` is called once every send is answered, before the batch is recorded.
        """
        now = self._clock()
        lane = self._lanes.of(rows[0])
        subjects = sorted({r.subject for r in rows if r.subject})
        campaigns = sorted({r.campaign_id for r in rows if r.campaign_id is not None})
        # Consent is read for every template's contact: Meta may have re-categorised one as marketing.
        templated = sorted({r.contact_id for r in rows if r.kind == "marketing" or template_key(r) is not None})
        contacts = sorted({r.contact_id for r in rows})
        several = self._lanes.several
        number = (lane.number, lane.number == self._book.default.id) if several else None
        context = await self._repository.batch_context(
            contacts,
            subjects,
            now,
            campaigns,
            templated,
            per_number=several,
            reach_of=number,
            phone_number_id=lane.number or self._policy.phone_number_id,
        )
        rows = [as_meta_says(r, context) for r in rows]  # priced, counted and checked in Meta's category
        marketing = sorted({r.contact_id for r in rows if is_marketing(r)})
        # Marketing recipients are held until their sends are answered, and their consent is re-read
        # under the hold, so an opt-out is stored either before (and seen) or after the sends
        # (storage.consent_guard).
        async with self._repository.consent_guard.sending(marketing) as consent:
            context.marketing_consent.update(consent)
            # The number's own tier (the settings' number: BOT_MESSAGING_LIMIT); without numbers, the policy's.
            tier = self._book.get(lane.number).tier if self._book.default.id else self._policy.messaging_limit
            checks = self._policy.for_batch(context, now, tier)
            leases = _Leases(self, rows)
            outcomes: list[Outcome] = []
            # A TaskGroup, not gather: on cancellation every send is cancelled and awaited before we leave.
            async with asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(self._attempt(row, checks, outcomes, leases))
        if sent is not None:
            sent()
        await self._record(outcomes)

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Settle a batch, trying again while the database is unavailable (locked, restarting, unreachable).

        Meta's answers are known here; given up on, the rows would wait out their leases and a reaper
        would send a reply or an update again unless its status webhook came first. So the batch keeps
        trying until it is recorded or the sender stops (this sender's reaper leaves its rows alone).
        """
        for attempt in itertools.count():
            try:
                await self._settle(outcomes)
                return
            except DatabaseUnavailable as exc:  # its message is the driver's first line: no statement, no values
                if not self.running:
                    raise
                wait = SETTLE_RETRY[min(attempt, len(SETTLE_RETRY) - 1)]
                error = str(exc)[:300]
                log.warning("outbox.record_retry", rows=len(outcomes), attempt=attempt + 1, wait_s=wait, error=error)
                await asyncio.sleep(wait)

    async def _attempt(self, row: OutboxBase, checks: BatchCheck, outcomes: list[Outcome], leases: _Leases) -> None:
        now = self._clock()
        stop = checks.check(row)
        if stop is not None:
            outcomes.append(Held(row, stop) if isinstance(stop, Hold) else Dropped(row, stop))
            return
        contact, lanes, context = checks.context.contacts.get(row.contact_id), self._lanes, checks.context
        lane = lanes.of(row)
        try:
            decision = decide(row, contact, lanes.open_conversations(row, context), now, lanes.window(row, context))
        except OutsideServiceWindow as exc:
            outcomes.append(Failed(row, "service", {"code": exc.code, "message": exc.message}))
            return
        try:
            payload = await self._ready(row.payload, self._from(lane))
            # The callback data comes back in every status webhook of this message: if we die before
            # recording the answer, the reaper still learns that Meta took it (see `reap`).
            number = checks.context.number
            slowed = is_marketing(row) and number is not None and number.quality == "YELLOW"
            gate = lane.marketing.sending(row.priority) if slowed else contextlib.nullcontext()
            async with gate, lane.throttle.sending(row.priority):  # a code passes bulk sends waiting here
                if not await leases.keep(row):
                    if leases.holds(row):  # held, but no renewal came back in time: queued again, unsent
                        outcomes.append(Retry(row, decision.category, LEASE_UNSURE, timedelta(0)))
                    return  # or another sender's reaper took it over: not ours to send
                result = await self._send(row, payload, self._from(lane))
        except MediaRefused as exc:  # a project file gone or refused: sending again would not help
            outcomes.append(Failed(row, decision.category, {"code": exc.code, "message": exc.message}))
            return
        except CloudAPIError as exc:
            outcomes.append(self._on_error(row, exc, decision.category))
            return
        except Exception as exc:  # a bug or an unexpected transport failure: retry later, never lose the row
            log.error("sender.unexpected", outbox_id=row.id, error=f"{type(exc).__name__}: {exc}")
            error = {"code": "unexpected", "message": type(exc).__name__}
            outcomes.append(Retry(row, decision.category, error, backoff(row.attempts)))
            return
        outside = reaches_outside_window(row, contact, now)
        outcomes.append(Sent(row, result, decision, decided_at=now, outside_window=outside, number=lane.number or None))

    def _from(self, lane: Lane) -> str | None:
        """The number the client sends from: None for the default one (the client's own)."""
        return lane.number if lane.number and lane.number != self._book.default.id else None

    async def _ready(self, payload: dict[str, Any], number: str | None) -> dict[str, Any]:
        """The payload to send from `number`: a project file's media id (that number's upload) filled in."""
        if self._uploads is None or PROJECT_FILE not in payload:
            return payload
        return await self._uploads.attach(payload, number=number)

    async def _send(self, row: OutboxBase, payload: dict[str, Any], number: str | None) -> SendResult:
        callback = {"biz_opaque_callback_data": outbox.callback_of(row.id)}
        try:
            return await self._client.send({**payload, **callback}, number=number)
        except CloudAPIError as exc:
            if self._uploads is None or PROJECT_FILE not in row.payload or not media_forgotten(exc):
                raise
        # Meta no longer knows the uploaded file (deleted, or its 30 days ran out early): upload it again, once.
        log.warning("sender.media_forgotten", outbox_id=row.id)
        fresh = await self._uploads.attach(row.payload, fresh=True, number=number)
        return await self._client.send({**fresh, **callback}, number=number)

    def _on_error(self, row: OutboxBase, exc: CloudAPIError, category: str) -> Outcome:
        """Meta's error codes decide: retry (and how long), or fail, and what else must change."""
        error = {"code": exc.code, "error_code": exc.error_code, "message": exc.message}
        if isinstance(exc, Undeliverable):
            return Failed(row, category, error, undeliverable=True)
        if isinstance(exc, TemplateError):
            return Failed(row, category, error, blocks_template=template_key(row))
        if isinstance(exc, MarketingStopped):  # the customer stopped marketing in WhatsApp itself
            return Failed(row, category, error, opts_out=True)
        if isinstance(exc, SendOutcomeUnknown) and outbox.ON_EXPIRED_LEASE.get(row.kind) == "unknown":
            return Expired(row, "unknown", error)  # marketing: Meta may have it, so it is never sent again
        if not exc.retryable or row.attempts >= MAX_ATTEMPTS:
            return Failed(row, category, error)
        if isinstance(exc, PairRateLimited):
            return Retry(row, category, error, pair_rate_wait(row.attempts), hold_kinds=outbox.KINDS)
        wait = backoff(row.attempts, exc.retry_after)
        if isinstance(exc, MarketingLimited):  # the per-user marketing limit: that user's marketing waits
            return Retry(row, category, error, wait, hold_kinds=("marketing",))
        if isinstance(exc, ThroughputExceeded):  # that number's limit: the other numbers' sends go on
            self._lanes.of(row).throttle.pause(wait.total_seconds())
        return Retry(row, category, error, wait)

    async def _settle(self, outcomes: list[Outcome]) -> None:
        """Record a batch's outcomes in one transaction, one statement per kind of outcome."""
        now = self._clock()

        async def write(conn: AsyncConnection) -> None:
            # One statement per status and set of columns: an executemany binds the same columns in every row.
            groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
            messages: list[dict[str, Any]] = []
            opening = [o for o in outcomes if isinstance(o, Sent) and o.decision.opens]
            ids = await conversation.open_conversations(conn, [o.conversation() for o in opening])
            opened = {id(o): cid for o, cid in zip(opening, ids, strict=True)}
            for outcome in outcomes:
                values = await outcome.prepare(conn, now, messages, opened.get(id(outcome)))
                groups[outcome.status, tuple(sorted(values))].append({"id": outcome.row.id, **values})
            for (status, _), rows in groups.items():
                settled = await outbox.settle(conn, owner=self.owner, status=status, now=now, rows=rows)
                if 0 <= settled < len(rows):
                    log.warning("outbox.lease_lost", status=status, lost=len(rows) - settled)
            await conversation.record_outbound(conn, messages)

        await self._repository.write_whole(write)  # on SQLite whole in the database's thread: one hand-off
        for outcome in outcomes:
            outcome.report(self._metrics)


class _Leases:
    """One batch's leases, renewed together when a send is about to start with half its lease spent.

    A batch can wait long at the throttle (a small share of the limit, a starved CPU). Without renewal,
    another sender's reaper could take a row over while this one sends it, and a reply or a utility
    message would go twice; with it, a row is sent only while this sender provably holds it.
    """

    def __init__(self, sender: Sender, rows: list[OutboxBase]) -> None:
        self._sender = sender
        self._until: dict[int, datetime] = {
            r.id: r.lease_until for r in rows if r.id is not None and r.lease_until is not None
        }
        self._lock = asyncio.Lock()

    def holds(self, row: OutboxBase) -> bool:
        """Whether this batch still holds `row`'s lease, as far as its last renewal said."""
        return row.id in self._until

    def _fresh(self, key: int) -> bool:
        """Whether this batch holds row `key` with at least half its lease left."""
        until = self._until.get(key)
        return until is not None and until - self._sender._clock() >= self._sender._lease / 2

    async def keep(self, row: OutboxBase) -> bool:
        """Whether this sender holds `row` with half its lease left, renewing the batch's leases if need be."""
        sender, key = self._sender, row.id or 0
        if key not in self._until or self._fresh(key):
            return key in self._until
        async with self._lock:
            # A renewal stamps the time it was asked at: one that waited (a locked database) can come back
            # with half its lease spent, and a reaper could take the rows mid-send. So renew again; after
            # RENEWALS such tries the row is not sent now but queued again (`Sender._attempt`).
            for _ in range(RENEWALS):
                if key not in self._until or self._fresh(key):
                    break
                now = sender._clock()
                held = await sender._repository.renew_leases(
                    owner=sender.owner, ids=list(self._until), now=now, lease=sender._lease
                )
                self._until = {oid: now + sender._lease for oid in held}
                log.info("outbox.leases_renewed", rows=len(held))
            return self._fresh(key)


SENDER = web.AppKey("sender", Sender)
