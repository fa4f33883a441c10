"""The sender: claims due outbox rows, applies WhatsApp's rules at send time, sends, and settles each row."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot import category as rules
from bot.cloudapi import CloudAPIClient, SendResult
from bot.errors import CloudAPIError, OutsideServiceWindow, PairRateLimited, ThroughputExceeded
from bot.metrics import Metrics
from bot.ratelimit import Throttle
from storage import conversation, outbox
from storage.models import Contact, Conversation, Outbox
from storage.repository import Repository

log = structlog.get_logger("bot.sender")

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)


def backoff(attempts: int, hint: float | None = None) -> timedelta:
    """Exponential backoff from the attempt count, never shorter than Meta's hint for the error."""
    seconds = min(2.0 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=max(seconds, hint or 0.0))


def pair_rate_wait(attempts: int) -> timedelta:
    """Meta's advice for 131056: wait 4^n seconds before the n-th retry to that user."""
    return timedelta(seconds=min(4.0 ** max(attempts, 1), MAX_BACKOFF.total_seconds()))


class Sender:
    """One sender loop; several (in several processes) may share an outbox safely."""

    def __init__(
        self,
        repository: Repository,
        client: CloudAPIClient,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
        throughput: int = 80,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 64,
        idle_wait: float = 1.0,
        reap_every: float = 10.0,
    ) -> None:
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        self._repository = repository
        self._client = client
        self._clock = clock
        self._metrics = metrics
        self._throttle = Throttle(throughput)
        self._lease = lease
        self._batch = batch
        self._idle_wait = idle_wait
        self._reap_every = reap_every
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        last_reap = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_reap >= self._reap_every:
                    await self.reap()
                    last_reap = loop.time()
                sent = await self.run_once()
            except Exception as exc:  # top-level loop: log and go on
                log.error("sender.failed", error=f"{type(exc).__name__}: {exc}")
                sent = 0
            if not sent:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # coincides with the wake-up, and the loop would then outlive its owner.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_wait):
                        await self._wakeup.wait()
                self._wakeup.clear()

    async def reap(self) -> None:
        counts = await self._repository.reap_expired_leases(self._clock())
        if counts:
            log.warning("outbox.leases_expired", **counts)
        self._metrics.set_outbox_depth(await self._repository.outbox_depth())

    async def run_once(self) -> int:
        """Claim one batch and send it (one message per contact at a time); returns rows claimed."""
        rows = await self._repository.claim_due(
            owner=self.owner, now=self._clock(), lease=self._lease, limit=self._batch
        )
        await asyncio.gather(*(self._send(row) for row in rows))
        return len(rows)

    async def _send(self, row: Outbox) -> None:
        now = self._clock()
        contact, open_now = await self._repository.send_context(row.contact_id, now)
        try:
            decision = _decide(row, contact, open_now, now)
        except OutsideServiceWindow as exc:
            await self._fail(row, exc.code, exc.message, category="service")
            return
        await self._throttle.acquire()
        try:
            result = await self._client.send(row.payload)
        except CloudAPIError as exc:
            await self._on_error(row, exc, decision.category)
            return
        await self._record(row, result, decision)

    async def _record(self, row: Outbox, result: SendResult, decision: rules.SendDecision) -> None:
        now = self._clock()
        assert row.id is not None
        async with self._repository.transaction() as conn:
            if not await outbox.settle(
                conn, row.id, owner=self.owner, status="sent", now=now, wamid=result.wamid, category=decision.category
            ):
                log.warning("outbox.lease_lost", outbox_id=row.id)  # the reaper settled it meanwhile
            await conversation.close_conversations(conn, [c.id for c in decision.closes if c.id is not None], now)
            conversation_id = decision.conversation_id
            if decision.opens:
                conversation_id = await conversation.open_conversation(
                    conn,
                    contact_id=row.contact_id,
                    category=decision.category,
                    origin=decision.origin,
                    opened_at=now,
                    expires_at=decision.expires_at,
                    opening_wamid=result.wamid,
                )
            await conversation.record_outbound(conn, **_message_values(row, result, decision, conversation_id, now))
        self._metrics.sent.labels(category=decision.category).inc()
        log.info("message.sent", outbox_id=row.id, kind=row.kind, category=decision.category, opened=decision.opens)

    async def _on_error(self, row: Outbox, exc: CloudAPIError, category: str) -> None:
        now = self._clock()
        assert row.id is not None
        error = {"code": exc.code, "error_code": exc.error_code, "message": exc.message}
        if not exc.retryable or row.attempts >= MAX_ATTEMPTS:
            await self._fail(row, exc.code, exc.message, category=category, error=error)
            return
        wait = backoff(row.attempts, exc.retry_after)
        async with self._repository.transaction() as conn:
            if isinstance(exc, PairRateLimited):
                wait = pair_rate_wait(row.attempts)
                await outbox.defer_contact(conn, row.contact_id, now + wait, now)
            if isinstance(exc, ThroughputExceeded):
                self._throttle.pause(wait.total_seconds())
            await outbox.settle(
                conn, row.id, owner=self.owner, status="queued", now=now, due_at=now + wait, last_error=error
            )
        self._metrics.retried.labels(reason=exc.code).inc()
        log.warning("message.retry", outbox_id=row.id, code=exc.error_code, wait_s=wait.total_seconds())

    async def _fail(
        self, row: Outbox, reason: str, message: str, *, category: str, error: dict[str, Any] | None = None
    ) -> None:
        assert row.id is not None
        async with self._repository.transaction() as conn:
            await outbox.settle(
                conn,
                row.id,
                owner=self.owner,
                status="failed",
                now=self._clock(),
                last_error=error or {"code": reason, "message": message},
            )
        self._metrics.failed.labels(category=category, reason=reason).inc()
        log.warning("message.failed", outbox_id=row.id, reason=reason, detail=message)


def _decide(row: Outbox, contact: Contact | None, open_now: list[Conversation], now: datetime) -> rules.SendDecision:
    is_template = row.payload.get("type") == "template"
    template_category = rules.parse_category(row.template_category or "marketing") if is_template else None
    return rules.decide_send(
        template_category=template_category,
        open_conversations=[
            rules.OpenConversation(
                category=rules.parse_category(c.category),
                opened_at=c.opened_at,
                expires_at=c.expires_at,
                id=c.id,
                origin=c.origin,  # type: ignore[arg-type]
            )
            for c in open_now
        ],
        last_inbound_at=contact.last_inbound_at if contact else None,
        now=now,
        free_entry_point_at=contact.free_entry_point_at if contact else None,
    )


def _message_values(
    row: Outbox, result: SendResult, decision: rules.SendDecision, conversation_id: int | None, now: datetime
) -> dict[str, Any]:
    payload = row.payload
    kind = str(payload.get("type", "text"))
    content = payload.get(kind)
    text = content.get("body") if kind == "text" and isinstance(content, dict) else None
    if kind == "interactive" and isinstance(content, dict):
        text = (content.get("body") or {}).get("text")
    return {
        "wamid": result.wamid,
        "contact_id": row.contact_id,
        "type": kind,
        "text": text,
        "body": payload,
        "template_name": row.template_name,
        "conversation_id": conversation_id,
        "category": decision.category,
        "outbox_id": row.id,
        "created_at": now,
    }
