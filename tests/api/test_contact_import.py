"""CSV contact imports over real sockets: bodies sent in pieces, slowly, chunked, cut off, stalled or too large.

The in-process test client hands a handler the whole body at once; these tests write to the server's
socket as real clients do, so an import that reads only what has arrived so far shows up as lost rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from bot.api.contacts import MAX_IMPORT_BYTES
from bot.app import create_app
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.api.test_app import assert_error
from tests.conftest import ADMIN_TOKEN, FakeClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEADER = "wa_id,name,tags,marketing,consent_evidence\n"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def rows(count: int, *, consent_every: int = 3, name: str = "Customer", evidence: str = "signup form") -> str:
    """`count` good rows of Dutch mobiles from +31 6 1000 0000 on; every `consent_every`-th opts in."""
    lines = []
    for index in range(count):
        consent = f"opt_in,{evidence}" if index % consent_every == 0 else ","
        lines.append(f"+316{10_000_000 + index:08d},{name} {index},import,{consent}\n")
    return "".join(lines)


@dataclasses.dataclass
class Served:
    """The app served as `bot serve` serves it, the statuses it answered with, and a client session for it."""

    host: str
    port: int
    session: aiohttp.ClientSession
    statuses: list[int]
    answered: asyncio.Event

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def status(self, count: int) -> int:
        """The `count`-th status the app answered with, once it has (within 10 s)."""
        async with asyncio.timeout(10):
            while len(self.statuses) < count:
                self.answered.clear()
                await self.answered.wait()
        return self.statuses[count - 1]

    def head(self, length: int | None) -> bytes:
        """The head of a CSV import with this Content-Length, or chunked when None."""
        framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
        return (
            f"POST /api/contacts HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: text/csv\r\n{framing}Connection: close\r\n\r\n"
        ).encode()


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: FakeClock) -> AsyncIterator[Served]:
    """The real app on a real port, run as `bot serve` runs it (a handler is not cancelled when its client goes)."""
    statuses: list[int] = []
    answered = asyncio.Event()

    @web.middleware
    async def note(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        statuses.append(response.status)
        answered.set()
        return response

    app = create_app(settings, clock=clock, transport=RecordingTransport(), migrate=True, roles={"web"})
    app.middlewares.insert(0, note)  # outermost: the status the client is sent
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield Served(host, port, session, statuses, answered)
    finally:
        await runner.cleanup()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a response, read by its Content-Length (the server may linger before closing)."""
    async with asyncio.timeout(30):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        body = await reader.readexactly(length)
    return int(head.split(" ", 2)[1]), json.loads(body)


async def send_in_packets(served: Served, body: bytes, packet: int, pause: float) -> tuple[int, dict[str, Any]]:
    """POST `body` with a Content-Length over a raw socket, `packet` bytes at a time, draining and pausing between."""
    reader, writer = await asyncio.open_connection(served.host, served.port)
    try:
        writer.write(served.head(len(body)))
        for start in range(0, len(body), packet):
            writer.write(body[start : start + packet])
            await writer.drain()
            await asyncio.sleep(pause)
        return await read_answer(reader)
    finally:
        writer.close()


async def all_contacts(served: Served) -> list[dict[str, Any]]:
    """Every stored contact, through the API's pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        async with served.session.get(served.url("/api/contacts"), params=params, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            page = await resp.json()
        found += page["items"]
        if page["next_before"] is None:
            return found
        params["before"] = page["next_before"]


async def test_a_file_sent_in_many_small_packets_with_pauses_is_stored_whole(
    settings: Settings, clock: FakeClock
) -> None:
    """300 rows written 100 bytes at a time with pauses are all read: every row is stored, none reported lost."""
    body = (HEADER + rows(300)).encode()
    async with serving(settings, clock) as served:
        status, report = await send_in_packets(served, body, packet=100, pause=0.002)

        assert status == 200, report
        assert (report["rows"], report["created"], report["updated"], report["rejected"]) == (300, 300, 0, [])
        assert report["consent_recorded"] == 100
        assert len(await all_contacts(served)) == 300


async def test_a_mid_size_file_over_the_apps_body_limit_sent_slowly_is_stored_whole(
    settings: Settings, clock: FakeClock
) -> None:
    """20,000 rows (9 MB, over the 8 MB `client_max_size` of JSON bodies) sent in 64 KB packets: all stored."""
    body = (HEADER + rows(20_000, consent_every=2, name="N" * 200, evidence="E" * 450)).encode()
    assert len(body) > 8 * 1024 * 1024
    async with serving(settings, clock) as served:
        status, report = await send_in_packets(served, body, packet=64 * 1024, pause=0.001)

        assert status == 200, report
        assert (report["rows"], report["created"], report["rejected"]) == (20_000, 20_000, [])
        assert report["consent_recorded"] == 10_000
        stored = await all_contacts(served)
        assert len(stored) == 20_000
        assert sum(c["marketing"] == "opt_in" for c in stored) == 10_000


async def test_a_chunked_upload_is_read_to_its_last_chunk(settings: Settings, clock: FakeClock) -> None:
    """An aiohttp client streaming an async generator (Transfer-Encoding: chunked) gets every row stored."""
    body = (HEADER + rows(2_000)).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]
            await asyncio.sleep(0.001)

    async with serving(settings, clock) as served:
        headers = {**AUTH, "Content-Type": "text/csv"}
        async with served.session.post(served.url("/api/contacts"), data=pieces(), headers=headers) as resp:
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
            assert resp.status == 200, await resp.text()
            report = await resp.json()

        assert (report["rows"], report["created"], report["rejected"]) == (2_000, 2_000, [])
        assert len(await all_contacts(served)) == 2_000


async def test_a_client_that_goes_away_mid_body_stores_nothing_and_the_server_goes_on(
    settings: Settings, clock: FakeClock
) -> None:
    """Half of a declared Content-Length, then a closed socket: the import ends as a 400, no contact is stored."""
    body = (HEADER + rows(2_000)).encode()
    async with serving(settings, clock) as served:
        _, writer = await asyncio.open_connection(served.host, served.port)
        writer.write(served.head(len(body)) + body[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()

        assert await served.status(1) == 400
        assert await all_contacts(served) == []
        status, report = await send_in_packets(served, (HEADER + rows(10)).encode(), packet=4096, pause=0)
        assert (status, report["created"]) == (200, 10)


async def test_a_chunked_body_cut_off_before_its_last_chunk_stores_nothing(
    settings: Settings, clock: FakeClock
) -> None:
    """Chunks of a file without the terminating zero-length chunk, then a closed socket: nothing stored."""
    body = (HEADER + rows(500)).encode()
    async with serving(settings, clock) as served:
        _, writer = await asyncio.open_connection(served.host, served.port)
        writer.write(served.head(None))
        for start in range(0, len(body), 1000):
            piece = body[start : start + 1000]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()

        assert await served.status(1) == 400
        assert await all_contacts(served) == []


async def test_a_stalled_client_gets_a_408_and_nothing_is_stored(settings: Settings, clock: FakeClock) -> None:
    """A client that stops sending mid-body is answered 408 after the read timeout; no row of it is stored."""
    body = (HEADER + rows(100)).encode()
    async with serving(dataclasses.replace(settings, body_read_timeout=0.3), clock) as served:
        reader, writer = await asyncio.open_connection(served.host, served.port)
        try:
            writer.write(served.head(len(body)) + body[:1000])
            await writer.drain()
            status, answer = await read_answer(reader)
        finally:
            writer.close()

        assert status == 408
        message = assert_error(answer, "body_timeout")
        assert "no part of the body arrived for 0.3 s after 1,000 bytes" in message
        assert await all_contacts(served) == []


async def test_a_body_over_the_limit_is_a_413_declared_or_sent(settings: Settings, clock: FakeClock) -> None:
    """A Content-Length over 32 MB is refused before reading; a chunked body is refused once it passes 32 MB."""
    piece = (HEADER + rows(10_000)).encode()
    async with serving(settings, clock) as served:
        reader, writer = await asyncio.open_connection(served.host, served.port)
        try:
            writer.write(served.head(MAX_IMPORT_BYTES + 1))
            status, answer = await read_answer(reader)
        finally:
            writer.close()
        assert status == 413
        assert "over this route's limit of 32 MB" in assert_error(answer, "body_too_large")

        reader, writer = await asyncio.open_connection(served.host, served.port)

        async def send() -> None:
            writer.write(served.head(None))
            sent = 0
            while sent <= MAX_IMPORT_BYTES:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                sent += len(piece)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

        sending = asyncio.create_task(send())
        try:
            status, answer = await read_answer(reader)
        finally:
            sending.cancel()
            writer.close()
        assert status == 413
        assert "over this route's limit of 32 MB" in assert_error(answer, "body_too_large")
        assert await all_contacts(served) == []


async def test_a_file_that_is_not_utf8_is_a_400_naming_the_byte(settings: Settings, clock: FakeClock) -> None:
    """A Latin-1 file is refused whole, with the offset and line of its first bad byte; nothing is stored."""
    body = (HEADER + rows(3)).encode() + "+31650000000,Zoë,,,\n".encode("latin-1")
    at = body.index(b"\xeb")
    async with serving(settings, clock) as served:
        status, answer = await send_in_packets(served, body, packet=64, pause=0.001)

        assert status == 400
        assert f"byte {at} (line 5) is 0xeb" in assert_error(answer, "invalid_request")
        assert await all_contacts(served) == []


async def test_a_bad_row_in_the_middle_is_reported_by_line_and_the_others_stored(
    settings: Settings, clock: FakeClock
) -> None:
    """Row 2,501 (line 2,502) has a cell too few: it alone is rejected, by line; the file's 4,999 others are stored."""
    good = rows(5_000).splitlines(keepends=True)
    good[2_500] = "+31650000000,no columns enough\n"
    last = good.pop().rstrip("\n")  # the last line has no line break and still counts
    body = (HEADER + "".join(good) + last).encode()
    async with serving(settings, clock) as served:
        status, report = await send_in_packets(served, body, packet=1500, pause=0)

        assert status == 200, report
        assert (report["rows"], report["created"]) == (5_000, 4_999)
        assert report["rejected"] == [
            {"line": 2_502, "wa_id": None, "reason": "has 2 cells, the header names 5 columns"}
        ]
        stored = {c["wa_id"] for c in await all_contacts(served)}
        assert len(stored) == 4_999
        assert "31610004999" in stored  # the last row, after which no line break came
        assert "31650000000" not in stored
