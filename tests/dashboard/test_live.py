"""Specification of bot.dashboard.live: the inbox's server-sent events, their resumption, and their bounds."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse

from bot.app import create_app
from bot.dashboard.live import HUB, QUEUE, Change
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.api.test_app import ClientFactory
from tests.conftest import FakeClock
from tests.dashboard.test_app import (
    ANA,
    Client,
    client,
    customer_writes,
    hand_off,
    log_in,
    logged_in,
    noon,
    post_form,
)

__all__ = ["client", "logged_in", "noon"]  # fixtures, used by name
BEN = "31612345002"


@dataclass(frozen=True)
class Event:
    id: str | None
    kind: str
    data: Any


async def next_event(stream: ClientResponse, seconds: float = 5.0) -> Event:
    """The next event of a text/event-stream, its comments (pings) skipped."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(seconds):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\r\n")
            if line == "" and fields:
                return Event(fields.get("id"), fields.get("event", "message"), json.loads(fields.get("data", "null")))
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def test_a_customers_message_reaches_an_open_page(logged_in: Client) -> None:
    """A page listening to /dashboard/live hears of a waiting customer's new message, with the unread counts."""
    contact_id = await customer_writes(logged_in, "first")
    await hand_off(logged_in, contact_id)
    async with logged_in.get("/dashboard/live") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        ready = await next_event(stream)
        assert ready.kind == "ready"
        await customer_writes(logged_in, "second")
        told = await next_event(stream)
        assert (told.kind, told.data["wa_id"], told.data["direction"]) == ("message", ANA, "in")
        assert (told.data["unread"], told.data["unread_total"]) == (2, 2)
        assert int(told.id or 0) > int(ready.id or 0)


async def test_a_message_stored_by_another_instance_reaches_the_page(
    aiohttp_client: ClientFactory, settings: Settings, noon: FakeClock, logged_in: Client
) -> None:
    """Two instances on one database: a webhook taken by one is told to a page listening at the other."""
    other = await aiohttp_client(
        create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
    )
    assert (await log_in(other)).status == 303
    async with other.get("/dashboard/live") as stream:
        assert (await next_event(stream)).kind == "ready"
        await customer_writes(logged_in, "to the first instance", wa_id=BEN)
        told = await next_event(stream)
        assert (told.kind, told.data["wa_id"]) == ("message", BEN)


async def test_a_handoff_begun_is_told(logged_in: Client) -> None:
    """A chat handed to a person (by any instance: it is read from the database) is told as a `handoff`."""
    contact_id = await customer_writes(logged_in, "hi")
    async with logged_in.get("/dashboard/live") as stream:
        assert (await next_event(stream)).kind == "ready"
        await asyncio.sleep(0.6)  # one round reads who is waiting now, so that a change shows against it
        await hand_off(logged_in, contact_id)
        told = await next_event(stream)
        assert (told.kind, told.data) == ("handoff", {"wa_id": ANA, "waiting": True, "unread_total": 1})


async def test_a_page_that_reconnects_with_last_event_id_hears_what_it_missed(logged_in: Client) -> None:
    """Back with `Last-Event-ID`, a page is told of the chats that got messages meanwhile, then `ready`."""
    async with logged_in.get("/dashboard/live") as stream:
        ready = await next_event(stream)
    await customer_writes(logged_in, "while away", wa_id=BEN)
    async with logged_in.get("/dashboard/live", headers={"Last-Event-ID": str(ready.id)}) as stream:
        missed = await next_event(stream)
        assert (missed.kind, missed.data["wa_id"]) == ("message", BEN)
        again = await next_event(stream)
        assert again.kind == "ready"
        assert int(again.id or 0) >= int(missed.id or 0) > int(ready.id or 0)
    async with logged_in.get("/dashboard/live", headers={"Last-Event-ID": str(again.id)}) as stream:
        assert (await next_event(stream)).kind == "ready"  # nothing missed: nothing replayed


@pytest.mark.parametrize("last", ["\u00b9", "12\u00b2", "9" * 40, "-1", "abc", ""])
async def test_a_last_event_id_that_is_no_id_of_ours_starts_afresh(logged_in: Client, last: str) -> None:
    """A `Last-Event-ID` that is not one of our ids (a superscript digit, which int() refuses, or too long) is
    ignored, as a first connection: the stream opens with `ready`."""
    async with logged_in.get("/dashboard/live", headers={"Last-Event-ID": last}) as stream:
        assert stream.status == 200
        assert (await next_event(stream)).kind == "ready"


async def test_without_a_session_the_stream_sends_the_browser_to_log_in(client: Client) -> None:
    """No cookie, no events: the stream answers like every dashboard page, with the login page."""
    resp = await client.get("/dashboard/live", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/dashboard/login")


async def test_a_stream_ends_when_its_login_is_logged_out(logged_in: Client) -> None:
    """Logging out ends the streams that login opened: a copy of the page hears nothing more."""
    logged_in.server.app[HUB].recheck = 0.1
    async with logged_in.get("/dashboard/live") as stream:
        assert (await next_event(stream)).kind == "ready"
        assert (await post_form(logged_in, "/dashboard/logout", {})).status == 303
        async with asyncio.timeout(5):
            assert await stream.content.read() == b""  # the server closed it


async def test_a_page_that_reads_nothing_holds_a_bounded_queue(logged_in: Client) -> None:
    """A slow page's queue never grows past its bound: what it could not take becomes one `reset`."""
    hub = logged_in.server.app[HUB]
    queue = hub.join()
    try:
        hub.tell(Change(i, "message", {"wa_id": str(i)}) for i in range(QUEUE * 10))
        assert queue.qsize() <= QUEUE
        kinds = [queue.get_nowait().kind for _ in range(queue.qsize())]
        assert "reset" in kinds
    finally:
        hub.leave(queue)
