"""Calls to the business's endpoints over a real socket: signed, retried when safe, and every failure named."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.engine.endpoint import MAX_ANSWER, read_endpoints, signature_holds
from bot.engine.state import ActionDone
from bot.inbound.endpoint_call import AiohttpEndpoints, Canned, CannedEndpoints, EndpointCaller
from tests.conftest import ENDPOINT_SECRET, ENDPOINT_TOKEN

ENDPOINTS = """
endpoints:
  choices: {url: "{base}/choices", auth: {signature: SHOP_SECRET}, returns: [{id: string, title: string}]}
  flaky: {url: "{base}/flaky", returns: {ok: boolean}}
  flaky_post: {url: "{base}/flaky", method: POST, returns: {ok: boolean}}
  slow: {url: "{base}/slow", timeout: 1s}
  broken: {url: "{base}/broken", method: POST, auth: {bearer: SHOP_TOKEN}}
  not_json: {url: "{base}/not-json"}
  huge: {url: "{base}/huge"}
  huge_streamed: {url: "{base}/huge-streamed"}
  wrong_shape: {url: "{base}/choices", auth: {signature: SHOP_SECRET}, returns: [{id: integer}]}
  echo: {url: "{base}/echo", method: POST, auth: {bearer: SHOP_TOKEN}}
"""


class Shop:
    """A business's system that misbehaves on purpose, counting what it was asked."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.seen: list[tuple[str, dict[str, str], bytes]] = []

    def app(self) -> web.Application:
        app = web.Application()
        for path, handler in {
            "/choices": self.choices,
            "/flaky": self.flaky,
            "/slow": self.slow,
            "/broken": self.broken,
            "/not-json": self.not_json,
            "/huge": self.huge,
            "/huge-streamed": self.huge_streamed,
            "/echo": self.echo,
        }.items():
            app.router.add_route("*", path, handler)
        return app

    async def _count(self, request: web.Request) -> bytes:
        body = await request.read()
        self.calls[request.path] = self.calls.get(request.path, 0) + 1
        self.seen.append((request.path_qs, dict(request.headers), body))
        return body

    async def choices(self, request: web.Request) -> web.Response:
        body = await self._count(request)
        if not signature_holds(request.headers.get("X-Bot-Signature", ""), ENDPOINT_SECRET, body, int(time.time())):
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response([{"id": request.query.get("wa_id", ""), "title": "Order 7"}])

    async def flaky(self, request: web.Request) -> web.Response:
        await self._count(request)
        ok = self.calls["/flaky"] >= 3
        return web.json_response({"ok": True} if ok else {"error": "busy"}, status=200 if ok else 503)

    async def slow(self, request: web.Request) -> web.Response:
        await self._count(request)
        await asyncio.sleep(5)
        return web.json_response({})

    async def broken(self, request: web.Request) -> web.Response:
        await self._count(request)
        return web.json_response({"error": "boom"}, status=500)

    async def not_json(self, request: web.Request) -> web.Response:
        await self._count(request)
        return web.Response(text="<html>oops</html>", content_type="text/html")

    async def huge(self, request: web.Request) -> web.Response:
        await self._count(request)
        return web.json_response({"blob": "x" * MAX_ANSWER})

    async def huge_streamed(self, request: web.Request) -> web.StreamResponse:
        """Oversized without a Content-Length: chunked, so only reading tells how big it is."""
        await self._count(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"blob": "')
        for _ in range(20):
            await response.write(b"x" * 8192)
        await response.write(b'"}')
        return response

    async def echo(self, request: web.Request) -> web.Response:
        body = await self._count(request)
        return web.json_response({"body": body.decode(), "auth": request.headers.get("Authorization") is not None})


@pytest.fixture
async def shop() -> AsyncIterator[tuple[Shop, str]]:
    shop = Shop()
    server = TestServer(shop.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield shop, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def caller(shop: tuple[Shop, str], tmp_path: Path) -> AsyncIterator[EndpointCaller]:
    path = tmp_path / "endpoints.yaml"
    path.write_text(ENDPOINTS.replace("{base}", shop[1]))
    endpoints, problems = read_endpoints(path)
    assert problems == []
    environ = {"SHOP_SECRET": ENDPOINT_SECRET, "SHOP_TOKEN": ENDPOINT_TOKEN}
    async with aiohttp.ClientSession() as session:
        yield EndpointCaller(endpoints, AiohttpEndpoints(session), environ)


async def test_a_signed_call_renders_its_query_and_keeps_the_answer(
    caller: EndpointCaller, shop: tuple[Shop, str]
) -> None:
    """The query goes on the URL, the shop verifies the signature, and its JSON comes back as the slot value."""
    done = await caller.call("choices", {"wa_id": "316 & more"}, None, None)
    assert done == ActionDone(value=[{"id": "316 & more", "title": "Order 7"}])
    path, headers, body = shop[0].seen[0]
    assert path == "/choices?wa_id=316+%26+more"
    assert body == b""
    assert ENDPOINT_SECRET not in str(headers)


async def test_idempotent_calls_are_retried_and_others_are_not(caller: EndpointCaller, shop: tuple[Shop, str]) -> None:
    """A GET answered 503 twice is tried a third time and succeeds; a POST is tried once and fails at once."""
    assert await caller.call("flaky", {}, None, timedelta(seconds=5)) == ActionDone(value={"ok": True})
    assert shop[0].calls["/flaky"] == 3
    shop[0].calls["/flaky"] = 0
    assert await caller.call("flaky_post", {}, {"a": "1"}, timedelta(seconds=5)) == ActionDone(error="status 503")
    assert shop[0].calls["/flaky"] == 1


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        ("slow", "timeout"),
        ("broken", "status 500"),
        ("not_json", "answer is not JSON"),
        ("huge", "answer over 64 KB"),
        ("huge_streamed", "answer over 64 KB"),
        ("wrong_shape", "wrong answer: answer[0].id is a string, not an integer"),
    ],
)
async def test_each_failure_is_an_error_with_its_reason(caller: EndpointCaller, endpoint: str, error: str) -> None:
    """Timeouts, error statuses, answers that are not JSON, too big or misshapen all end as the step's error."""
    started = time.monotonic()
    done = await caller.call(endpoint, {}, None, None)
    assert done == ActionDone(error=error)
    assert time.monotonic() - started < 3  # the slow endpoint's own 1s timeout, not its 5s answer


async def test_a_bearer_token_is_sent_and_a_missing_one_fails_before_any_request(
    caller: EndpointCaller, shop: tuple[Shop, str]
) -> None:
    """POST bodies are JSON of the rendered values with the bearer token; without the variable nothing is sent."""
    done = await caller.call("echo", {}, {"number": "1042"}, None)
    assert done == ActionDone(value={"body": '{"number":"1042"}', "auth": True})
    assert shop[0].seen[-1][1]["Authorization"] == f"Bearer {ENDPOINT_TOKEN}"
    bare = EndpointCaller(caller.endpoints, caller.transport, {})
    assert await bare.call("echo", {}, {}, None) == ActionDone(error="SHOP_TOKEN is not set")
    assert shop[0].calls["/echo"] == 1


async def test_canned_answers_stand_in_for_the_business_offline(caller: EndpointCaller) -> None:
    """Canned answers go through the same checks: JSON of the declared shape is kept, a canned timeout fails."""
    canned = CannedEndpoints(
        {"choices": Canned(json=[{"id": "1", "title": "One"}]), "slow": Canned(timeout=True), "broken": Canned(500)}
    )
    offline = EndpointCaller(caller.endpoints, canned, {"SHOP_SECRET": "x", "SHOP_TOKEN": "y"})
    answers: list[Any] = [
        await offline.call("choices", {}, None, None),
        await offline.call("slow", {}, None, None),
        await offline.call("broken", {}, None, None),
    ]
    assert answers == [
        ActionDone(value=[{"id": "1", "title": "One"}]),
        ActionDone(error="timeout"),
        ActionDone(error="status 500"),
    ]
