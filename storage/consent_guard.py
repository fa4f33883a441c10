"""No marketing message reaches a contact after their opt-out is stored: senders and opt-outs exclude each other.

A sender holds a *shared* hold on each contact of a marketing batch from just before it reads their
consent until their sends are answered; an opt-out takes an *exclusive* hold on the contact before it
is stored. So either the opt-out is stored first (and the sender's fresh read sees it, and sends
nothing) or the sends were made first (and the opt-out waits for them). Holds are per contact and
short (one batch's sends), and a sender never waits on the database while holding one, so the two
cannot deadlock.

On PostgreSQL the holds are advisory locks: the sender's are transaction-level shared locks on a
connection of its own for the batch's sends; the opt-out's is taken in its own transaction by
`storage.consent.record` (`pg_advisory_xact_lock`), across every process. On SQLite, which is the
one-process default, the holds are in-process reader-writer locks (`ContactHolds`), and the code that
records opt-outs takes them through `ConsentGuard.stopping`.

Opt-outs that Meta itself reports (the `user_preferences` webhook, error 131050) need no hold: Meta has
already stopped marketing to that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.consent import CONSENT_NAMESPACE, states


class ContactHolds:
    """In-process shared and exclusive holds per contact (a reader-writer lock per contact id)."""

    def __init__(self) -> None:
        self._readers: defaultdict[int, int] = defaultdict(int)
        self._writers: set[int] = set()
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def shared(self, contact_ids: Sequence[int]) -> AsyncIterator[None]:
        ids = sorted(set(contact_ids))
        async with self._changed:
            await self._changed.wait_for(lambda: not self._writers.intersection(ids))
            for cid in ids:
                self._readers[cid] += 1
        try:
            yield
        finally:
            async with self._changed:
                for cid in ids:
                    self._readers[cid] -= 1
                    if not self._readers[cid]:
                        del self._readers[cid]
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self, contact_ids: Sequence[int]) -> AsyncIterator[None]:
        ids = sorted(set(contact_ids))
        async with self._changed:
            await self._changed.wait_for(
                lambda: not self._writers.intersection(ids) and not any(cid in self._readers for cid in ids)
            )
            self._writers.update(ids)
        try:
            yield
        finally:
            async with self._changed:
                self._writers.difference_update(ids)
                self._changed.notify_all()


class ConsentGuard:
    """The holds of one process on one database (`Repository.consent_guard`).

    On SQLite an opt-out is marked here, under the exclusive hold, before its transaction commits: a
    sender that takes its shared hold afterwards sees the mark even if it reads the database before the
    commit. Marks are dropped after `MARK_LIFE`, by which time the opt-out is in the ledger.
    """

    MARK_LIFE = 300.0  # seconds

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._holds = ContactHolds()
        self._postgres = engine.dialect.name == "postgresql"
        self._marks: dict[int, float] = {}

    @contextlib.asynccontextmanager
    async def sending(self, contact_ids: Sequence[int]) -> AsyncIterator[dict[int, str]]:
        """Hold off opt-outs of these contacts while their marketing is sent; yields their latest consent.

        Read the batch's other facts before entering: on SQLite a read may wait for the write lock, which
        an opt-out's transaction holds while it waits for this hold. What is yielded is what the sender
        must believe: on PostgreSQL every contact's state read under the lock, on SQLite `opt_out` for
        those who opted out in this process moments ago (their transaction may not have committed yet).
        """
        ids = sorted(set(contact_ids))
        if not ids:
            yield {}
            return
        if not self._postgres:
            async with self._holds.shared(ids):
                now = time.monotonic()
                yield {cid: "opt_out" for cid in ids if now - self._marks.get(cid, -self.MARK_LIFE) < self.MARK_LIFE}
            return
        async with self._engine.connect() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock_shared(:ns, cid) FROM unnest(CAST(:ids AS integer[])) AS cid"),
                {"ns": CONSENT_NAMESPACE, "ids": ids},
            )
            try:
                yield await states(conn, ids)
            finally:
                await conn.rollback()  # ends the transaction, and with it the locks

    async def stopping(self, contact_ids: Sequence[int]) -> None:
        """An opt-out of these contacts is about to be stored: wait for marketing in flight, then mark them.

        Call it before storing the opt-out. On PostgreSQL the opt-out's own transaction takes the lock
        (`storage.consent.record`), across processes, so this does nothing.
        """
        ids = sorted(set(contact_ids))
        if self._postgres or not ids:
            return
        async with self._holds.exclusive(ids):
            now = time.monotonic()
            self._marks = {cid: at for cid, at in self._marks.items() if now - at < self.MARK_LIFE}
            self._marks.update(dict.fromkeys(ids, now))
