"""The retention loop: raw webhook bodies, message texts and media files purged once past their days, in batches.

It runs in the role that runs the scheduler. Every batch is its own short transaction (`storage.retention`),
so on SQLite the webhook's writes go between them. Where the walk over messages and the outbox got to is
kept in memory: a restarted process walks once from the start, which reads rows but writes none twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.loop import Wakeful
from bot.media.store import MediaStore
from storage import events
from storage import media as media_rows
from storage import retention as store
from storage.repository import Repository

log = structlog.get_logger("bot.privacy.retention")
BATCH = 500  # rows per transaction
EVERY = 3600.0  # seconds between rounds

Step = Callable[[AsyncConnection, int], Awaitable[store.Walk]]


@dataclass(frozen=True)
class Purged:
    """What one round purged: raw bodies deleted, message texts and outbox payloads blanked, settled events and
    media files deleted."""

    webhooks: int = 0
    messages: int = 0
    outbox: int = 0
    media: int = 0
    events: int = 0


class Retention(Wakeful):
    """Purges what is older than its retention; None days keeps that kind forever."""

    def __init__(
        self,
        repository: Repository,
        *,
        webhooks_days: int | None,
        texts_days: int | None,
        clock: Callable[[], datetime],
        media_days: int | None = None,
        media: MediaStore | None = None,
        batch: int = BATCH,
        every: float = EVERY,
    ) -> None:
        self._repository = repository
        self._webhooks_days, self._texts_days = webhooks_days, texts_days
        self._media_days: int | None = media_days if media is not None else None
        self._media: MediaStore | None = media
        self._clock = clock
        self._batch, self._every = batch, every
        self._resume = {"message": 0, "outbox": 0}
        super().__init__()

    @property
    def enabled(self) -> bool:
        return any(days is not None for days in (self._webhooks_days, self._texts_days, self._media_days))

    async def run(self) -> None:
        async def one_round() -> float:
            purged = await self.purge()
            if purged != Purged():
                log.info(
                    "retention.purged",
                    webhooks=purged.webhooks,
                    messages=purged.messages,
                    outbox=purged.outbox,
                    media=purged.media,
                    events=purged.events,
                )
            return self._every

        await self.rounds(one_round, "retention.failed", on_error=self._every / 10)

    async def purge(self) -> Purged:
        """One round: everything past its days, batch by batch, until none is left or the loop is stopped."""
        now = self._clock()
        webhooks = messages = outbox = delivered = 0
        if self._webhooks_days is not None:
            webhooks = await self._purge_webhooks(now - timedelta(days=self._webhooks_days))
        if self._texts_days is not None:
            before = now - timedelta(days=self._texts_days)
            messages = await self._walk("message", self._message_step(before))
            outbox = await self._walk("outbox", self._outbox_step(before))
            delivered = await self._purge_events(before)  # their payloads carry customers' words too
        media = 0
        if self._media_days is not None:
            media = await self._purge_media(now - timedelta(days=self._media_days))
        return Purged(webhooks, messages, outbox, media, delivered)

    async def _purge_media(self, before: datetime) -> int:
        """Media rows past their days lose their file; a file still used by a younger row (same content) stays."""
        assert self._media is not None
        total = 0
        while self.running:
            async with self._repository.transaction() as conn:
                digests = await media_rows.purge_older(conn, created_before=before, limit=self._batch)
            total += await delete_unused(self._repository, self._media, digests)
            if len(digests) < self._batch:
                break
        return total

    async def _purge_webhooks(self, before: datetime) -> int:
        return await self._in_batches(
            lambda conn: store.purge_webhooks(conn, received_before=before, limit=self._batch)
        )

    async def _purge_events(self, before: datetime) -> int:
        return await self._in_batches(lambda conn: events.purge_settled(conn, created_before=before, limit=self._batch))

    async def _in_batches(self, purge: Callable[[AsyncConnection], Awaitable[int]]) -> int:
        """Run `purge` (at most a batch of rows deleted) a transaction at a time until it deletes less than a batch."""
        total = 0
        while self.running:
            async with self._repository.transaction() as conn:
                done = await purge(conn)
            total += done
            if done < self._batch:
                break
        return total

    async def _walk(self, name: str, step: Step) -> int:
        """Walk one table by id from where the last round left off, a batch per transaction."""
        after, total = self._resume[name], 0
        resume: int | None = None
        while self.running:
            async with self._repository.transaction() as conn:
                walk = await step(conn, after)
            total += walk.purged
            if resume is None and walk.resume < walk.after:
                resume = walk.resume  # an old row still in use: the next round starts there
            after = walk.after
            if not walk.more:
                break
        self._resume[name] = after if resume is None else resume
        return total

    def _message_step(self, before: datetime) -> Step:
        async def step(conn: AsyncConnection, after: int) -> store.Walk:
            return await store.purge_message_texts(conn, after=after, created_before=before, limit=self._batch)

        return step

    def _outbox_step(self, before: datetime) -> Step:
        async def step(conn: AsyncConnection, after: int) -> store.Walk:
            return await store.purge_outbox_payloads(conn, after=after, created_before=before, limit=self._batch)

        return step


async def delete_unused(repository: Repository, store: MediaStore, digests: list[str]) -> int:
    """Delete the files of these digests that no stored media row points at any more; how many were deleted."""
    if not digests:
        return 0
    async with repository.engine.connect() as conn:
        gone = await media_rows.unused(conn, digests)
    deleted = 0
    for digest in sorted(gone):
        deleted += await store.delete(digest)
    return deleted


RETENTION: Final = web.AppKey("retention", Retention)
