"""Specification of bot.edge.intake: strangers' bodies read within size, time and memory limits, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.app import create_app
from bot.edge.intake import INTAKE, LOGIN, SERVER_OPTIONS, WEBHOOK, Budget, Door, Intake, intake
from bot.settings import Settings
from tests.conftest import FakeClock, signed, text_webhook

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def echo(request: web.Request) -> web.Response:
    """A stand-in handler: says how many bytes it was handed."""
    return web.json_response({"bytes": len(await request.read())})


class Sockets:
    """Apps started on real sockets (port 0) and raw client connections, all closed after the test."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, app: web.Application, **options: Any) -> int:
        """Serve `app` with the service's server options (`options` override them); its port."""
        runner = web.AppRunner(app, **{**SERVER_OPTIONS, **options})
        await runner.setup()
        self.runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    async def connect(self, port: int, head: str = "") -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.writers.append(writer)
        writer.write(head.encode())
        await writer.drain()
        return reader, writer

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        for runner in self.runners:
            await runner.cleanup()


@pytest.fixture
async def sockets() -> AsyncIterator[Sockets]:
    opened = Sockets()
    yield opened
    await opened.close()


def doors_app(intake_: Intake) -> web.Application:
    """The intake middleware over stand-in doors: /webhook, /dashboard/login (a sub-app) and an API route."""
    app = web.Application(middlewares=[intake], client_max_size=8 * 1024 * 1024)
    app[INTAKE] = intake_
    app.router.add_post("/webhook", echo)
    app.router.add_post("/api/contacts", echo)
    dashboard = web.Application()
    dashboard.router.add_post("/login", echo)
    app.add_subapp("/dashboard", dashboard)
    return app


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], Any]:
    """The status, headers and JSON body of the one response on a raw connection."""
    status_line = await reader.readline()
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (end of stream, or reset)."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def post_head(path: str, length: int | None, **headers: str) -> str:
    fields = {"Host": "localhost", "Content-Type": "application/json", **headers}
    fields["Content-Length" if length is not None else "Transfer-Encoding"] = (
        str(length) if length is not None else "chunked"
    )
    return f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"


async def test_a_declared_body_over_the_webhooks_limit_is_413_before_it_is_sent(sockets: Sockets) -> None:
    """A webhook declaring 8 MB is refused with 413 naming the limit while its body has not been sent."""
    port = await sockets.start(doors_app(Intake()))
    reader, _ = await sockets.connect(port, post_head("/webhook", 8 * 1024 * 1024))
    status, headers, body = await answer(reader)
    assert status == 413
    assert body["error"]["code"] == "body_too_large"
    assert str(WEBHOOK.max_bytes) in body["error"]["message"]
    assert headers["connection"] == "close"


async def test_a_chunked_body_over_the_logins_limit_is_413(sockets: Sockets) -> None:
    """A login form sent chunked is cut off at the login's limit with 413, however much more was coming."""
    port = await sockets.start(doors_app(Intake()))
    reader, writer = await sockets.connect(port, post_head("/dashboard/login", None))
    chunk = b"x" * 4096
    for _ in range(LOGIN.max_bytes // len(chunk) + 2):
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    await writer.drain()
    status, _, body = await answer(reader)
    assert status == 413
    assert "the login form" in body["error"]["message"]


async def test_bodies_within_the_limits_reach_the_handler_whole(sockets: Sockets) -> None:
    """A 3 MB webhook and a chunked one reach the handler whole; a route that is no door is left alone."""
    port = await sockets.start(doors_app(Intake()))
    size = 3 * 1024 * 1024
    reader, writer = await sockets.connect(port, post_head("/webhook", size))
    writer.write(b"x" * size)
    status, _, body = await answer(reader)
    assert (status, body) == (200, {"bytes": size})
    reader, writer = await sockets.connect(port, post_head("/webhook", None))
    writer.write(b"5\r\nhello\r\n0\r\n\r\n")
    assert (await answer(reader))[2] == {"bytes": 5}
    reader, writer = await sockets.connect(port, post_head("/api/contacts", 5 * 1024 * 1024))
    writer.write(b"x" * 5 * 1024 * 1024)
    assert (await answer(reader))[2] == {"bytes": 5 * 1024 * 1024}


async def test_a_body_that_came_with_its_headers_is_handed_on_whole_and_frees_its_budget(sockets: Sockets) -> None:
    """A webhook sent in one write with its headers (the common case, read without a timer) arrives whole, in turn."""
    doors = Intake()
    port = await sockets.start(doors_app(doors))
    body = '{"entry": []}' * 50
    reader, writer = await sockets.connect(port, post_head("/webhook", len(body)) + body)
    assert (await answer(reader))[:3:2] == (200, {"bytes": len(body)})
    writer.write((post_head("/webhook", len(body)) + body).encode())  # the same connection, kept alive
    assert (await answer(reader))[:3:2] == (200, {"bytes": len(body)})
    assert doors.budget.used == 0


async def test_a_spent_budget_answers_503_with_retry_after_and_frees_when_the_upload_ends(sockets: Sockets) -> None:
    """While stalled uploads hold the budget another large one gets 503 and Retry-After; once they end it fits."""
    mb = 1024 * 1024
    port = await sockets.start(doors_app(Intake(budget=Budget(total=4 * mb, small=64 * 1024, small_share=1 * mb))))
    holders = [await sockets.connect(port, post_head("/webhook", 1 * mb)) for _ in range(3)]
    for _, writer in holders:
        writer.write(b"x" * 1000)  # and then nothing: stalled
        await writer.drain()
    await asyncio.sleep(0.2)  # let the server take their reservations
    reader, writer = await sockets.connect(port, post_head("/webhook", 1 * mb))
    status, headers, body = await answer(reader)
    assert status == 503
    assert headers["retry-after"] == "2"
    assert body["error"]["code"] == "busy"
    small, small_writer = await sockets.connect(port, post_head("/webhook", 2))
    small_writer.write(b"{}")
    assert (await answer(small))[:1] == (200,), "the small bodies' share stays free"
    first, first_writer = holders[0]
    first_writer.write(b"x" * (1 * mb - 1000))
    assert (await answer(first))[2] == {"bytes": 1 * mb}
    reader, writer = await sockets.connect(port, post_head("/webhook", 1 * mb))
    writer.write(b"x" * mb)
    assert (await answer(reader))[0] == 200


async def test_a_body_trickling_past_its_time_limit_is_408_and_the_connection_closed(sockets: Sockets) -> None:
    """A body still arriving a byte at a time when its door's time is up gets 408, then the server hangs up."""
    door = Door("webhook", "the webhook", WEBHOOK.path, 1024, seconds=0.5)
    port = await sockets.start(doors_app(Intake(doors=[door])), lingering_time=0.5)
    reader, writer = await sockets.connect(port, post_head("/webhook", 1000))

    async def trickle() -> None:
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    trickling = asyncio.create_task(trickle())
    status, _, body = await answer(reader)
    assert status == 408
    assert body["error"]["code"] == "body_timeout"
    assert await closed(reader)
    assert not trickling.done(), "the server hung up while the client was still sending"
    trickling.cancel()


async def test_headers_sent_a_byte_at_a_time_are_cut_off(sockets: Sockets) -> None:
    """A connection whose request headers never finish is closed by the server while they still trickle in."""
    port = await sockets.start(doors_app(Intake()), keepalive_timeout=0.5)
    reader, writer = await sockets.connect(port)

    async def trickle() -> None:
        for byte in b"POST /webhook HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 10_000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.02)

    trickling = asyncio.create_task(trickle())
    assert await closed(reader)
    assert not trickling.done(), "the server hung up while the headers were still coming"
    trickling.cancel()


async def test_the_service_takes_webhooks_through_its_intake(
    sockets: Sockets, settings: Settings, clock: FakeClock
) -> None:
    """The real app reads Meta's webhook through the intake: a signed one is stored, an 8 MB one is refused unread."""
    port = await sockets.start(create_app(settings, clock=clock, migrate=True, roles={"web"}))
    body, headers = signed(text_webhook("wamid.intake1", "hello"))
    reader, writer = await sockets.connect(port, post_head("/webhook", len(body), **headers))
    writer.write(body)
    status, _, answered = await answer(reader)
    assert status == 200
    assert answered["ok"] is True
    reader, writer = await sockets.connect(port, post_head("/webhook", 8 * 1024 * 1024, **headers))
    assert (await answer(reader))[0] == 413
