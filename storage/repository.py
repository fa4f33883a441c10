"""The repository: owns the engine, and opens the transactions and per-contact locks the service works in.

The `storage` package as a whole is the one door to the database: nothing in `bot` writes SQL. A
`Repository` method is a whole transaction (`store_deliveries`, `claim_due`, `list_messages`); work that
must share one transaction with the caller's own steps (a turn, a campaign page, an import) opens it here
(`transaction`, `contact_turns`) and calls the query modules beside this one (`storage.consent`,
`storage.outbox`, `storage.business`, ...), whose functions take that connection and speak the domain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import access, erasure, inbox, lifecycle, outbox, policy, presence, queries, session, status
from storage.consent_guard import ConsentGuard
from storage.database import READ_ONLY, create_engine, upgrade
from storage.models import MESSAGE, ContactBase, MessageBase, OutboxBase, TemplateBlockBase, TemplateStatusBase
from storage.sqlite_writes import SQLiteWrites
from storage.whole import drive

_TURN_LOCK_NAMESPACE = 7301  # pg_advisory_xact_lock(namespace, contact_id): one turn per contact at a time
_OTP_LOCK_NAMESPACE = 7302  # pg_advisory_xact_lock(namespace, hashtext(purpose:wa_id)): one OTP step at a time


T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused the transaction; the caller should retry later."""


class Repository:
    """Owns the engine; every method is one transaction unless it hands out a connection to extend."""

    def __init__(self, engine: AsyncEngine, *, sqlite_writes: SQLiteWrites | None = None) -> None:
        self.engine = engine
        # Reads begin without SQLite's write lock (`BEGIN IMMEDIATE` is for transactions that write).
        self._reads = engine.execution_options(**{READ_ONLY: True})
        self._sqlite = sqlite_writes
        self.consent_guard = ConsentGuard(engine)

    @classmethod
    def connect(cls, url: str) -> Repository:
        return cls(create_engine(url), sqlite_writes=SQLiteWrites(url) if url.startswith("sqlite") else None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self, phone_number_id: str | None = None) -> None:
        """Apply the migrations; rows from before several numbers get `phone_number_id`."""
        await upgrade(self.engine, phone_number_id=phone_number_id)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sqlite is not None:
            await self._sqlite.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; connection-level failures surface as `DatabaseUnavailable`."""
        try:
            async with self._writing(), self.engine.begin() as conn:
                yield conn
        except (OperationalError, OSError, ConnectionError) as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
            raise

    async def write_whole(self, work: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        """Run `work` in one write transaction; on SQLite whole in a worker thread (`storage.whole`).

        `work` may await only its connection's statements. For a sender's claims and settles and a
        campaign's pages: on SQLite, the hand-offs per statement held the write lock while the event loop
        was busy with sends.
        """
        if self._sqlite is None:
            async with self.transaction() as conn:
                return await work(conn)
        return await self._whole(self._sqlite.in_thread(lambda conn: drive(work, conn)))

    async def _whole(self, call: Coroutine[Any, Any, T]) -> T:
        """Await one of `SQLiteWrites`' transactions; its connection-level failures as `DatabaseUnavailable`."""
        try:
            return await call
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc

    async def renew_leases(self, *, owner: str, ids: Sequence[int], now: datetime, lease: timedelta) -> set[int]:
        """Extend a sender's leases on rows it is still sending; which it still holds."""
        async with self.transaction() as conn:
            return await outbox.renew_leases(conn, owner=owner, ids=ids, now=now, lease=lease)

    @asynccontextmanager
    async def sender_beat(self, owner: str, now: datetime, alive_for: timedelta) -> AsyncIterator[presence.Presence]:
        """Say this sender is alive, and hold which senders are (it included) until the beat commits.

        The caller acts on them inside the block (a sender shrinks its share there), so by the time
        another sender can see this beat, what it implies has been done.
        """
        async with self.transaction() as conn:
            yield await presence.beat(conn, owner, now, alive_for)

    async def sender_leave(self, owner: str) -> None:
        async with self.transaction() as conn:
            await presence.leave(conn, owner)

    async def ping(self) -> None:
        async with self._reads.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # -- admin access ----------------------------------------------------------------------------

    async def latest_wrong_tokens(self, client: str, *, since: datetime, limit: int) -> list[datetime]:
        """When `client`'s latest wrong admin tokens after `since` came, newest first (`storage.access`)."""
        async with self._reads.connect() as conn:
            return await access.latest_wrong_tokens(conn, client, since=since, limit=limit)

    async def add_wrong_token(self, client: str, *, at: datetime, since: datetime) -> int:
        """Record a wrong admin token from `client`; its count after `since`, this one included."""
        async with self.transaction() as conn:
            return await access.add_wrong_token(conn, client, at=at, since=since)

    async def open_dashboard_session(self, digest: str, *, expires_at: datetime, now: datetime) -> None:
        async with self.transaction() as conn:
            await access.open_session(conn, digest, expires_at=expires_at, now=now)

    async def dashboard_session_is_open(self, digest: str, *, now: datetime) -> bool:
        async with self._reads.connect() as conn:
            return await access.session_is_open(conn, digest, now=now)

    async def end_dashboard_session(self, digest: str) -> None:
        async with self.transaction() as conn:
            await access.end_session(conn, digest)

    # -- inbound ---------------------------------------------------------------------------------

    async def store_deliveries(self, deliveries: Sequence[inbox.Delivery]) -> list[inbox.StoredDelivery]:
        """Store a batch of webhook deliveries in one transaction (on SQLite, see `SQLiteWrites.at_once`)."""
        if self._sqlite is None:
            async with self.transaction() as conn:
                return await conn.run_sync(inbox.store_deliveries, deliveries)
        return await self._whole(self._sqlite.at_once(lambda conn: inbox.store_deliveries(conn, deliveries)))

    def _writing(self, *, urgent: bool = False) -> AbstractAsyncContextManager[None]:
        return self._sqlite.gate.hold(urgent=urgent) if self._sqlite else nullcontext()

    async def contacts_with_unhandled(self, limit: int = 100) -> list[int]:
        async with self._reads.connect() as conn:
            return await inbox.contacts_with_unhandled(conn, limit)

    async def due_sessions(self, now: datetime, limit: int = 100) -> list[int]:
        async with self._reads.connect() as conn:
            return await session.due_sessions(conn, now, limit)

    @asynccontextmanager
    async def contact_turns(self, contact_ids: Sequence[int]) -> AsyncIterator[tuple[AsyncConnection, list[int]]]:
        """One transaction holding the turn locks of those contacts it could lock, and their ids.

        On PostgreSQL each lock is `pg_try_advisory_xact_lock(namespace, contact)`, released with the
        transaction; a contact another process is serving is skipped, not waited for. On SQLite
        `BEGIN IMMEDIATE` already makes every write transaction exclusive, so every contact is locked.
        """
        async with self.transaction() as conn:
            locked = list(contact_ids)
            if self.dialect == "postgresql" and locked:
                rows = await conn.execute(
                    text(
                        "SELECT cid FROM unnest(CAST(:ids AS integer[])) AS cid "
                        "WHERE pg_try_advisory_xact_lock(:ns, cid)"
                    ),
                    {"ids": locked, "ns": _TURN_LOCK_NAMESPACE},
                )
                locked = [row[0] for row in rows]
            yield conn, locked

    @asynccontextmanager
    async def otp_transaction(self, wa_id: str, purpose: str) -> AsyncIterator[AsyncConnection]:
        """One transaction in which nobody else issues or verifies a code for this (number, purpose).

        Pacing reads the recent challenges and then writes a new one; two requests racing between the
        read and the write would both pass. On PostgreSQL a transaction-scoped advisory lock on the pair
        serialises them; on SQLite `BEGIN IMMEDIATE` already does.
        """
        async with self.transaction() as conn:
            await self.lock_otp_pair(conn, wa_id, purpose)
            yield conn

    async def lock_otp_pair(self, conn: AsyncConnection, wa_id: str, purpose: str) -> None:
        """Hold the (number, purpose) pair for the rest of `conn`'s transaction (a no-op on SQLite)."""
        if self.dialect == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
                {"ns": _OTP_LOCK_NAMESPACE, "key": f"{purpose}:{wa_id}"},
            )

    # -- outbound --------------------------------------------------------------------------------

    async def enqueue(self, messages: Sequence[outbox.NewMessage], now: datetime) -> int:
        async with self.transaction() as conn:
            return await outbox.enqueue(conn, messages, now)

    async def claim_due(
        self,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        number: tuple[str, bool] | None = None,
    ) -> list[OutboxBase]:
        return await self.write_whole(
            lambda conn: outbox.claim_due(conn, owner=owner, now=now, lease=lease, limit=limit, number=number)
        )

    async def refresh_outbox_statistics(self) -> None:
        async with self.transaction() as conn:
            await outbox.refresh_statistics(conn)

    async def take_expired_leases(
        self, *, owner: str, now: datetime, lease: timedelta, limit: int, flying: Sequence[int] = ()
    ) -> tuple[list[OutboxBase], dict[str, str]]:
        """Rows whose sender died mid-send, now leased to `owner`, and the wamids Meta reported for any of them."""
        async with self.transaction() as conn:
            rows = await outbox.take_expired_leases(conn, owner=owner, now=now, lease=lease, limit=limit, flying=flying)
            reported = await status.reported_sends(conn, [outbox.callback_of(r.id) for r in rows])
        return rows, reported

    async def expire_stale_secrets(self, *, created_before: datetime, now: datetime) -> int:
        async with self.transaction() as conn:
            return await outbox.expire_stale_secrets(conn, created_before=created_before, now=now)

    async def outbox_depth(self) -> dict[str, int]:
        async with self._reads.connect() as conn:
            return await outbox.depth(conn)

    async def outbox_after(self, after_id: int, *, recipient: str) -> list[OutboxBase]:
        """The messages queued for `recipient` since outbox row `after_id`, oldest first: what a rehearsal shows."""
        async with self.engine.connect() as conn:
            return await outbox.rows_after(conn, after_id, recipient)

    async def next_due_at(self, after: datetime) -> datetime | None:
        """When the next queued message falls due after `after`: how long an idle sender may wait, and where
        a virtual clock stops. A read: on SQLite it takes no write lock."""
        async with self._reads.connect() as conn:
            return await outbox.next_due_at(conn, after)

    async def batch_context(
        self,
        contact_ids: Sequence[int],
        subjects: Sequence[str],
        now: datetime,
        campaign_ids: Sequence[int] = (),
        marketing_ids: Sequence[int] = (),
        per_number: bool = False,
        reach_of: tuple[str, bool] | None = None,
        phone_number_id: str | None = None,
    ) -> policy.BatchContext:
        """What the send-time checks need for one batch: recipients, conversations, reach, blocks, subjects."""
        async with self._reads.connect() as conn:
            return await policy.batch_context(
                conn,
                contact_ids,
                subjects,
                now,
                campaign_ids,
                marketing_ids,
                per_number=per_number,
                reach_of=reach_of,
                phone_number_id=phone_number_id,
            )

    async def meta_word(self) -> dict[tuple[str, str], TemplateStatusBase]:
        """Meta's word on each template it reported on: status, reason, category (`storage.lifecycle`)."""
        async with self._reads.connect() as conn:
            return await lifecycle.meta_word(conn)

    async def template_blocks(self) -> list[TemplateBlockBase]:
        """The templates Meta refused, which the sender no longer uses."""
        async with self._reads.connect() as conn:
            return list((await policy.blocked_templates(conn)).values())

    async def unblock_template(self, name: str, language: str | None = None) -> int:
        """Use a refused template again (every language unless one is given); answers how many were blocked."""
        async with self.transaction() as conn:
            return await policy.unblock_template(conn, name=name, language=language)

    # -- admin reads -----------------------------------------------------------------------------

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """One connection for a report made of several reads (the stats); nothing is written through it.

        On SQLite it begins deferred, so a reader neither takes the write lock nor waits for the writers.
        """
        async with self._reads.connect() as conn:
            yield conn

    async def list_conversations(self, **filters: Any) -> list[dict[str, Any]]:
        async with self._reads.connect() as conn:
            return await queries.list_conversations(conn, **filters)

    async def list_messages(self, **filters: Any) -> list[dict[str, Any]]:
        async with self._reads.connect() as conn:
            return await queries.list_messages(conn, **filters)

    async def contact_by_wa_id(self, wa_id: str) -> ContactBase | None:
        async with self._reads.connect() as conn:
            return await queries.contact_by_wa_id(conn, wa_id)

    # -- privacy ---------------------------------------------------------------------------------

    async def erase_contact(self, request: erasure.Erasure) -> erasure.ErasureReport | None:
        """Erase a contact (`storage.erasure`): first find the raw bodies naming them, then one transaction.

        On PostgreSQL the transaction first waits for a turn of theirs in progress (the turn lock), so the
        reply that turn queues is cancelled with the rest rather than slipping out after the erasure.
        """
        async with self._reads.connect() as conn:
            found = await queries.contact_by_wa_id(conn, request.wa_id)
            named = [request.wa_id, *([found.user_id] if found and found.user_id else [])]
            mentioned = await erasure.webhooks_naming(conn, named) if found else []
        async with self.transaction() as conn:
            if found is not None and self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:ns, :cid)"), {"ns": _TURN_LOCK_NAMESPACE, "cid": found.id}
                )
            return await erasure.erase(conn, request, mentioned)

    async def message_by_wamid(self, wamid: str) -> MessageBase | None:
        async with self._reads.connect() as conn:
            row = (await conn.execute(select(MESSAGE).where(MESSAGE.c.wamid == wamid))).first()
            return MessageBase.model_validate(row._mapping) if row else None
