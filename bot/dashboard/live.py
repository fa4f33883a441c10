"""The live inbox: server-sent events (`GET /dashboard/live`) that tell open pages what changed, as it happens.

The events come from the database, not from this process's memory, so a customer's message stored by
another instance (or a chat released through another instance's API) reaches every open dashboard. One
task per process polls while some page listens, twice a second: the message rows above a high-water mark
(a range of the primary key, cheap whatever the table's size) and the set of customers waiting for a person.
Polling was chosen over PostgreSQL's LISTEN/NOTIFY because it works the same on SQLite, needs no
connection held per process, and no writer (the webhook's batch writer, the sender, the dispatcher) has to
remember to notify; half a second of delay is nothing to a person reading an inbox.

Each event's id is the high-water mark, so a browser that reconnects sends it back as `Last-Event-ID` and is
told of the messages it missed (up to `REPLAY`; beyond that, a `reset` asks the page to reload its parts).
Every page gets a bounded queue: a client too slow to take `QUEUE` events has them replaced by one `reset`,
so a slow reader never grows memory. A stream checks every `PING` seconds that its login is still open, and
ends once it was logged out (on any instance) or expired. A message committed late with an id below the mark
(PostgreSQL assigns ids before commit) is caught by re-reading the last `LOOKBACK` ids each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp_sse import sse_response

from bot import keys
from bot.dashboard.render import session_of
from bot.loop import Wakeful
from storage import reads
from storage.repository import Repository

log = structlog.get_logger("bot.dashboard.live")
routes = web.RouteTableDef()
POLL = 0.5  # seconds between looks at the database while some page listens
QUEUE = 64  # events waiting for one page before they are replaced by a `reset`
REPLAY = 200  # messages told to a reconnecting page before it is told to reset instead
LOOKBACK = 100  # ids below the mark re-read each round, for rows that committed after later ones
STREAMS = 200  # pages listening at once on one process; more get a 503 (and no live updates)
PING = 15.0  # seconds between comments that keep proxies from closing an idle stream
STALLED = 30.0  # seconds one write may wait on a page that reads nothing before its connection is dropped


@dataclass(frozen=True)
class Change:
    """One thing an open page should show: `kind` is message, handoff or reset."""

    id: int
    kind: str
    data: dict[str, Any]


class Hub(Wakeful):
    """The process's one poller and the queues of the pages listening to it."""

    def __init__(self, repository: Repository, poll: float = POLL) -> None:
        super().__init__()
        self._repository = repository
        self._poll = poll
        self._queues: set[asyncio.Queue[Change]] = set()
        self._listening = asyncio.Event()
        self._mark = -1  # the high-water mark; -1 until the first round reads it
        self._floor = 0  # the mark when listening began: nothing at or below it is told
        self._seen: OrderedDict[int, None] = OrderedDict()  # ids told of, within LOOKBACK of the mark
        self._waiting: set[str] | None = None
        self._lock = asyncio.Lock()
        self.recheck = PING  # seconds between checks that an idle stream's session is still open

    def join(self) -> asyncio.Queue[Change]:
        if len(self._queues) >= STREAMS:
            raise web.HTTPServiceUnavailable(text="Too many live pages are open on this instance; reload later.")
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE)
        self._queues.add(queue)
        self._listening.set()
        return queue

    def leave(self, queue: asyncio.Queue[Change]) -> None:
        self._queues.discard(queue)
        if not self._queues:
            self._listening.clear()

    def tell(self, changes: Iterable[Change]) -> None:
        """Queue `changes` for every listening page; a page whose queue is full gets one `reset` instead."""
        for change in changes:
            for queue in self._queues:
                try:
                    queue.put_nowait(change)
                except asyncio.QueueFull:  # a slow page: drop what it has not taken; it reloads its parts instead
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(Change(change.id, "reset", {}))

    async def run(self) -> None:
        """Poll while some page listens; idle (no queries at all) while none does."""
        while self.running:
            if not self._queues:
                self._mark, self._waiting = -1, None  # start afresh: what happened meanwhile was seen by nobody
                stop = asyncio.ensure_future(self._stop_asked.wait())
                listen = asyncio.ensure_future(self._listening.wait())
                await asyncio.wait({stop, listen}, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (stop, listen):
                    waiter.cancel()
                continue
            try:
                self.tell(await self.changes())
            except Exception:  # the top-level loop: log and go on
                log.exception("live.poll_failed")
            await self.idle(self._poll)

    async def opening_mark(self) -> int:
        """The mark a newly opened page starts from; the poller tells it of everything above."""
        async with self._lock:
            if self._mark < 0:
                async with self._repository.engine.connect() as conn:
                    self._mark = self._floor = await reads.newest_id(conn)
                self._seen.clear()
            return self._mark

    async def changes(self) -> list[Change]:
        """What happened since the last round: chats with new messages (with unread counts), handoffs begun or ended."""
        await self.opening_mark()
        async with self._repository.engine.connect() as conn:
            found = await reads.messages_after(conn, max(self._mark - LOOKBACK, self._floor), REPLAY + LOOKBACK)
            waiting = await reads.waiting_numbers(conn)
            new = [w for w in found if w.id not in self._seen]
            before, self._waiting = self._waiting, waiting
            moved = before is not None and before != waiting
            counts = await reads.unread(conn) if new or moved else {}
        for written in new:
            self._seen[written.id] = None
        self._mark = max([self._mark, *(w.id for w in new)])
        while self._seen and next(iter(self._seen)) <= self._mark - LOOKBACK:
            self._seen.popitem(last=False)
        told = _chats(self._mark, new, counts)
        for wa_id in sorted(before ^ waiting) if moved and before is not None else ():
            data = {"wa_id": wa_id, "waiting": wa_id in waiting, "unread_total": sum(counts.values())}
            told.append(Change(self._mark, "handoff", data))
        return told

    async def missed(self, since: int) -> list[Change]:
        """The chats with messages after a reconnecting page's last event id; a `reset` when there are too many."""
        async with self._repository.engine.connect() as conn:
            found = await reads.messages_after(conn, since, REPLAY + 1)
            counts = await reads.unread(conn) if found else {}
        if len(found) > REPLAY:
            return [Change(found[-1].id, "reset", {})]
        return _chats(found[-1].id if found else since, found, counts)


def _chats(mark: int, written: list[reads.Written], counts: dict[int, int]) -> list[Change]:
    """One `message` change per chat that has new messages: whose, which way the newest went, and the unread counts."""
    newest = {w.contact_id: w for w in written}
    return [
        Change(mark, "message", {
            "wa_id": w.wa_id, "direction": w.direction, "unread": counts.get(w.contact_id, 0),
            "unread_total": sum(counts.values()),
        })
        for w in newest.values()
    ]  # fmt: skip


HUB: Final = web.AppKey("dashboard_live_hub", Hub)


async def live_hub(app: web.Application) -> AsyncIterator[None]:
    """The hub's poller, for the application's lifetime."""
    hub = app[HUB] = Hub(app[keys.REPOSITORY])
    task = asyncio.create_task(hub.run(), name="dashboard-live")
    yield
    hub.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _still_logged_in(request: web.Request) -> bool:
    """Whether the session that opened the stream is still open: a stream outlives no logout."""
    session = session_of(request)
    now = request.config_dict[keys.CLOCK]()
    return session is not None and await request.config_dict[keys.REPOSITORY].dashboard_session_is_open(
        session.digest, now=now
    )


def _last_event_id(request: web.Request) -> int | None:
    value = request.headers.get("Last-Event-ID", "").strip()
    return int(value) if value.isdecimal() and len(value) < 19 else None


@routes.get("/live")
async def live(request: web.Request) -> web.StreamResponse:
    """The event stream an open dashboard page listens to; `Last-Event-ID` resumes it after a reconnect."""
    hub = request.config_dict[HUB]
    queue = hub.join()
    try:
        async with sse_response(request, ping_interval=PING, send_timeout=STALLED) as stream:
            since = _last_event_id(request)
            mark = await hub.opening_mark()
            told = since or 0
            for change in await hub.missed(since) if since is not None else []:
                await stream.send(json.dumps(change.data), id=str(change.id), event=change.kind)
                told = max(told, change.id)
            await stream.send(json.dumps({"mark": mark}), id=str(max(mark, told)), event="ready")
            checked = time.monotonic()
            while stream.is_connected():  # the pings find out when the page has gone
                came: Change | None = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(hub.recheck):
                        came = await queue.get()
                if time.monotonic() - checked >= hub.recheck:
                    if not await _still_logged_in(request):
                        break  # logged out (on any instance) or expired: this page hears nothing more
                    checked = time.monotonic()
                if came is not None:
                    await stream.send(json.dumps(came.data), id=str(came.id), event=came.kind)
    except ConnectionResetError:
        pass  # the page went away mid-send
    finally:
        hub.leave(queue)
    return stream
