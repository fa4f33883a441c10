"""The media fetcher: a background loop that claims queued files, fetches them from Meta, checks and stores them.

It runs in the worker role, beside the sender, never on the webhook's path: the webhook only queues a row
(`storage.media`). Each file is checked against Meta's size limit for its kind, the allowed types, and the
SHA-256 Meta declared; a file that breaks one is `refused` and never fetched again. A fetch that fails for
a reason that may pass (Meta or the network away, the URL expired) is retried with exponential backoff, up
to `max_attempts`, then `failed`. Several workers share the queue: each claim holds a lease.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import structlog
from aiohttp import web

from bot.errors import CloudAPIError, MediaRefused
from bot.loop import Wakeful
from bot.media.store import MediaStore
from bot.metrics import Metrics
from bot.whatsapp.media import MediaClient, check_sha256, check_size, check_type, size_limit
from storage import media as queue
from storage.models import MediaBase
from storage.repository import Repository

log = structlog.get_logger("bot.media.fetcher")
BATCH = 4  # files fetched at once by one worker
POLL = 5.0  # seconds between looks at the queue when nobody wakes the loop
MAX_ATTEMPTS = 6
BACKOFF = 30.0  # seconds before the second attempt; doubled each time after, up to MAX_BACKOFF
MAX_BACKOFF = 3600.0
LEASE = timedelta(minutes=5)


class MediaFetcher(Wakeful):
    """Fetches queued media files into the store, a few at a time, until stopped."""

    def __init__(
        self,
        repository: Repository,
        client: MediaClient,
        store: MediaStore,
        *,
        clock: Callable[[], datetime],
        batch: int = BATCH,
        poll: float = POLL,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: float = BACKOFF,
        lease: timedelta = LEASE,
        metrics: Metrics | None = None,
    ) -> None:
        self._repository, self._client, self._store, self._clock = repository, client, store, clock
        self._batch, self._poll, self._lease = batch, poll, lease
        self._max_attempts, self._backoff = max_attempts, backoff
        self._metrics = metrics
        self.owner = f"media-{uuid.uuid4().hex[:12]}"
        super().__init__()

    async def run(self) -> None:
        async def one_round() -> float:
            return 0.0 if await self.fetch_due() == self._batch else self._poll

        await self.rounds(one_round, "media.round_failed", on_error=self._poll)

    async def fetch_due(self) -> int:
        """Claim what is due and fetch it; how many files were claimed."""
        async with self._repository.transaction() as conn:
            claimed = await queue.claim_due(
                conn, owner=self.owner, now=self._clock(), lease=self._lease, limit=self._batch
            )
        await asyncio.gather(*(self._fetch(row) for row in claimed))
        return len(claimed)

    async def _fetch(self, row: MediaBase) -> None:
        assert row.id is not None
        try:
            size, mime, digest = await self._get(row)
        except MediaRefused as exc:
            await self._give_up(row, queue.REFUSED, exc.message)
        except CloudAPIError as exc:
            if row.attempts >= self._max_attempts:
                await self._give_up(row, queue.FAILED, f"after {row.attempts} attempts: {exc.message}")
            else:
                await self._retry(row, exc.message)
        else:
            async with self._repository.transaction() as conn:
                await queue.record_stored(
                    conn, row.id, owner=self.owner, mime_type=mime, size=size, sha256=digest, now=self._clock()
                )
            log.info("media.stored", media=row.id, kind=row.kind, size=size, mime_type=mime)
            self._count("stored")

    async def _get(self, row: MediaBase) -> tuple[int, str, str]:
        """Fetch and check one file, and put it in the store: its size, type and hex SHA-256."""
        if not row.media_id:
            raise MediaRefused("the message names no media id")
        info = await self._client.info(row.media_id)
        mime = check_type(row.kind, info.mime_type or row.declared_mime or "")
        if info.file_size is not None:
            check_size(row.kind, info.file_size, animated=row.animated)
        data = await self._client.download(info.url, limit=size_limit(row.kind, animated=row.animated))
        check_size(row.kind, len(data), animated=row.animated)
        digest = check_sha256(data, info.sha256)
        if row.declared_sha256 and info.sha256 != row.declared_sha256:
            check_sha256(data, row.declared_sha256)
        await self._store.put(digest, data)
        return len(data), mime, digest

    async def _retry(self, row: MediaBase, error: str) -> None:
        assert row.id is not None
        delay = min(MAX_BACKOFF, self._backoff * 2 ** (row.attempts - 1))
        now = self._clock()
        async with self._repository.transaction() as conn:
            due = now + timedelta(seconds=delay)
            await queue.record_retry(conn, row.id, owner=self.owner, error=error, due_at=due, now=now)
        log.warning("media.retry", media=row.id, kind=row.kind, attempts=row.attempts, in_seconds=delay, error=error)
        self._count("retry")

    async def _give_up(self, row: MediaBase, status: str, error: str) -> None:
        assert row.id is not None
        async with self._repository.transaction() as conn:
            await queue.record_given_up(conn, row.id, owner=self.owner, status=status, error=error, now=self._clock())
        log.warning(f"media.{status}", media=row.id, kind=row.kind, attempts=row.attempts, error=error)
        self._count(status)

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.media.labels(outcome=outcome).inc()


MEDIA_FETCHER: Final = web.AppKey("media_fetcher", MediaFetcher)
