"""The delivery loop: claims owed events with a lease, posts them signed, retries with backoff, settles in batches.

Off the reply path: events are rows written with the change that caused them (`storage.events`), and
this loop, run by the sender role (`bot serve` and `bot worker`), is the only thing that waits on a
receiver. At most `concurrency` requests are in flight, and at most `per_subscription` of them to one
URL, so a slow or dead receiver holds a few slots and nothing else; each request has a deadline. The
loop claims again as soon as a slot frees, without waiting for a whole batch, and settles what finished
in one transaction per round.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.events import signature
from bot.loop import Wakeful
from storage import events
from storage.models import EventDeliveryBase, EventSubscriptionBase, utcnow
from storage.repository import Repository

log = structlog.get_logger("bot.events")

IDLE = 0.25  # seconds between looks for due events when there is nothing to do
MAX_DELAY = timedelta(hours=1)  # the longest wait between two attempts
ANSWER_LIMIT = 64 * 1024  # bytes of a receiver's answer read (and thrown away) before the connection is reused
USER_AGENT = "whatsapp-bot-events/1"


@dataclass(frozen=True)
class Policy:
    """How deliveries are made: the deadline of one request, the slots, and the retry schedule."""

    timeout: float = 10.0
    concurrency: int = 32
    per_subscription: int = 8
    first_retry: float = 10.0  # seconds before the second attempt; each later wait doubles, up to MAX_DELAY
    give_up: timedelta = timedelta(hours=24)

    @property
    def lease(self) -> timedelta:
        """Long enough for one request and its settling on a busy machine; a deliverer that dies is replaced after it.

        Six deadlines (a minute by default): with `timeout + 10 s` at a 2 s deadline, two workers on a machine
        at load 10 (`bot bench events --workers 2`) settled some deliveries after the other had taken them
        again, and sent them twice.
        """
        return timedelta(seconds=self.timeout * 6)

    def retry_at(self, delivery: EventDeliveryBase, now: datetime) -> datetime | None:
        """When to try again after a failed attempt, or None once the next try would be past the give-up time."""
        wait = timedelta(seconds=self.first_retry * 2 ** max(delivery.attempts - 1, 0))
        wait = min(wait, MAX_DELAY) * random.uniform(0.9, 1.1)  # spread the retries of a burst
        at = now + wait
        return None if at > delivery.created_at + self.give_up else at


def body_of(delivery: EventDeliveryBase) -> bytes:
    """The bytes sent (and signed): the stored envelope as compact JSON, the same on every attempt and replay."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


class Courier(Wakeful):
    """Delivers owed events until stopped; several couriers (processes) share the queue through leases."""

    def __init__(self, repository: Repository, *, policy: Policy, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        self._repository = repository
        self._clock = clock
        self.policy = policy
        self._owner = f"courier-{uuid.uuid4().hex[:12]}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_subscription: Counter[int] = Counter()
        self._done: list[events.Outcome] = []
        self._turn = 0

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        connector = aiohttp.TCPConnector(limit=self.policy.concurrency, limit_per_host=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            self._http = http
            try:
                await self.rounds(self._round, "events.round_failed", on_error=1.0)
            finally:
                if self._tasks:  # requests in flight finish (each within its deadline) and are settled
                    await asyncio.wait(self._tasks)
                await self._settle()

    async def _round(self) -> float:
        """Settle what finished and claim as many as there are free slots, in one transaction.

        One transaction, because on SQLite each commit is a write to disk that can take tens of
        milliseconds on a busy machine (`bot bench events`); and in batches, not a round per finished
        request, which would spend a commit on each event. Each finishing request wakes the loop.
        """
        free = self.policy.concurrency - len(self._tasks)
        claiming = free >= max(1, self.policy.concurrency // 4) or not self._tasks
        now = self._clock()
        if claiming:
            async with self._repository.reading() as conn:
                claiming = await events.any_due(conn, now)
        done, self._done = self._done, []
        if not done and not claiming:
            return IDLE
        claimed: list[tuple[EventDeliveryBase, EventSubscriptionBase]] = []
        async with self._repository.transaction() as conn:
            await events.settle(conn, owner=self._owner, outcomes=done)
            if claiming:
                await events.reap(conn, now)
                claimed = await self._claim(conn, now, free)
        for delivery, subscription in claimed:
            self._per_subscription[delivery.subscription_id] += 1
            task = asyncio.create_task(self._deliver(delivery, subscription))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return 0 if claiming and len(claimed) == free else IDLE

    async def _claim(
        self, conn: AsyncConnection, now: datetime, free: int
    ) -> list[tuple[EventDeliveryBase, EventSubscriptionBase]]:
        """Claim for each subscription in turn, none beyond its share of the slots: a dead URL holds only its share."""
        subscriptions = await events.all_subscriptions(conn)
        share = self.policy.concurrency if len(subscriptions) == 1 else self.policy.per_subscription
        self._turn += 1  # each round starts at the next subscription, so none is always served last
        first = self._turn % max(len(subscriptions), 1)
        claimed: list[tuple[EventDeliveryBase, EventSubscriptionBase]] = []
        for subscription in subscriptions[first:] + subscriptions[:first]:
            assert subscription.id is not None
            room = min(free - len(claimed), share - self._per_subscription[subscription.id])
            if room <= 0:
                continue
            rows = await events.claim(
                conn, owner=self._owner, now=now, lease=self.policy.lease, limit=room, subscription_id=subscription.id
            )
            claimed += [(row, subscription) for row in rows]
        return claimed

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.wake()

    async def _settle(self) -> None:
        """Settle what finished, on the way out."""
        done, self._done = self._done, []
        if done:
            async with self._repository.transaction() as conn:
                await events.settle(conn, owner=self._owner, outcomes=done)

    async def _deliver(self, delivery: EventDeliveryBase, subscription: EventSubscriptionBase) -> None:
        assert delivery.id is not None
        body = body_of(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Bot-Event": delivery.type,
            "X-Bot-Event-Id": delivery.event_id,
            "X-Bot-Delivery": str(delivery.id),
            signature.HEADER: signature.sign(subscription.secret, int(time.time()), body),
        }
        code, error = None, None
        started = time.perf_counter()
        try:
            async with self._http.post(subscription.url, data=body, headers=headers, allow_redirects=False) as answer:
                code = answer.status
                await answer.content.read(ANSWER_LIMIT)
        except TimeoutError:
            error = f"no answer within {self.policy.timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:255]
        finally:
            self._per_subscription[delivery.subscription_id] -= 1
        latency = (time.perf_counter() - started) * 1000
        now = self._clock()
        if code is not None and 200 <= code < 300:
            self._done.append(events.Outcome(delivery.id, "delivered", now, latency, code))
            return
        error = error or f"the receiver answered {code}"
        retry_at = self.policy.retry_at(delivery, now)
        status = "pending" if retry_at else "failed"
        self._done.append(events.Outcome(delivery.id, status, now, latency, code, error, retry_at))
        log.warning(
            "events.attempt_failed",
            subscription_id=delivery.subscription_id,
            delivery_id=delivery.id,
            event_type=delivery.type,
            attempts=delivery.attempts,
            status_code=code,
            error=error,
            gave_up=retry_at is None,
        )


COURIER = web.AppKey("courier", Courier)
