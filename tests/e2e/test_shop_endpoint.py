"""The shipped orders flow switched to the business's own system: the example shop endpoint, over real sockets."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from bot.app import create_app
from bot.engine.endpoint import sign
from bot.settings import Settings
from examples import shop_endpoint
from tests.conftest import ENDPOINT_SECRET

CUSTOMER = "31612345678"
EXAMPLES = Path(__file__).parents[2] / "examples"


async def _release(request: web.Request) -> web.Response:
    request.app[RELEASE].set()
    return web.json_response({})


async def _let_go(app: web.Application) -> None:
    app[RELEASE].set()


async def _broken(request: web.Request) -> web.Response:
    """A shop whose proxy answers with an error page: not JSON, so not retried (500s are, within the timeout)."""
    return web.Response(text="<html>Bad gateway</html>", content_type="text/html")


RELEASE: web.AppKey[asyncio.Event] = web.AppKey("release", asyncio.Event)


async def _held(request: web.Request) -> web.Response:
    """A shop that answers only when the test lets it: a slow business system, without a timed wait."""
    await request.app[RELEASE].wait()
    return web.json_response([{"id": "5", "title": "Order 5"}])


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    """The example shop endpoint on a free port, plus a route that fails and one that answers when let."""
    app = shop_endpoint.create_app(ENDPOINT_SECRET)
    app.router.add_get("/broken", _broken)
    app.router.add_get("/held", _held)
    app.router.add_post("/release", _release)
    app[RELEASE] = asyncio.Event()
    app.on_shutdown.append(_let_go)
    server = TestServer(app, host="127.0.0.1", port=unused_port())
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
def project(tmp_path: Path, shop: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: the shipped flows, and the example endpoints file pointed at the running shop."""
    shutil.copytree(Path("flows"), tmp_path / "flows")
    shutil.copytree(Path("whatsapp_flows"), tmp_path / "whatsapp_flows")
    endpoints = (EXAMPLES / "endpoints.yaml").read_text().replace("http://127.0.0.1:8081", shop)
    (tmp_path / "endpoints.yaml").write_text(endpoints)
    monkeypatch.setenv("SHOP_ENDPOINT_SECRET", ENDPOINT_SECRET)
    return tmp_path


@asynccontextmanager
async def served(make_settings: Callable[..., Settings], project: Path, **overrides: Any) -> AsyncIterator[str]:
    """`bot serve` in sandbox mode over the project folder, on a free local port."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", reload=False, **overrides)
    app = create_app(settings, migrate=True, flows=project / "flows", templates=Path("templates"))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


async def _say(http: aiohttp.ClientSession, text: str, replies: int) -> list[dict[str, Any]]:
    """The customer writes `text`; the bot's messages once `replies` of them have arrived in all."""
    assert (await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": text, "name": "Ana"})).status == 200
    async with asyncio.timeout(10):
        while True:
            async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                out = [i for i in (await r.json())["items"] if i["direction"] == "out"]
            if len(out) >= replies:
                return out
            await asyncio.sleep(0.05)


async def _out(http: aiohttp.ClientSession, who: str) -> list[dict[str, Any]]:
    async with http.get(f"/sandbox/users/{who}/messages") as r:
        return [i for i in (await r.json())["items"] if i["direction"] == "out"]


async def _say_nothing_until(http: aiohttp.ClientSession, who: str, replies: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while len(out := await _out(http, who)) < replies:
            await asyncio.sleep(0.05)
    return out


def _text(item: dict[str, Any]) -> str:
    return str(item.get("text") or item["interactive"]["body"]["text"])


async def test_a_customer_gets_their_orders_from_the_shop_endpoint(
    make_settings: Callable[..., Settings], project: Path
) -> None:
    """Asked for their orders, a sandbox customer picks one the shop's endpoint lists and reads its status."""
    async with served(make_settings, project) as service, aiohttp.ClientSession(service) as http:
        await _say(http, "hi", 2)
        out = await _say(http, "My orders", 3)
        menu = out[2]["interactive"]
        assert _text(out[2]) == "Which order is it about?"
        buttons = [button["reply"]["title"] for button in menu["action"]["buttons"]]
        assert buttons == ["Order 1042", "Order 1017", "Another order"]
        out = await _say(http, "Order 1042", 4)
        assert _text(out[3]).startswith("Order 1042 is on its way: it should arrive on Tue 14 Apr between 09:00")
        assert "Tracking number: 3SABC1234567." in _text(out[3])


async def test_a_failing_endpoint_takes_the_flow_to_its_error_exit(
    make_settings: Callable[..., Settings], project: Path, shop: str
) -> None:
    """When the shop's lookup answers an error page, the customer gets the orders flow's on_error reply."""
    endpoints = project / "endpoints.yaml"
    endpoints.write_text(endpoints.read_text().replace(f"{shop}/orders/lookup", f"{shop}/broken"))
    async with served(make_settings, project) as service, aiohttp.ClientSession(service) as http:
        await _say(http, "hi", 2)
        await _say(http, "My orders", 3)
        out = await _say(http, "1042", 4)
        assert _text(out[3]).startswith("Sorry, I can't look up orders right now.")


async def test_the_sandbox_can_answer_for_the_endpoints_from_a_canned_file(
    make_settings: Callable[..., Settings], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With BOT_ENDPOINTS_CANNED the sandbox answers for the shop, with no shop running and no secret set."""
    monkeypatch.delenv("SHOP_ENDPOINT_SECRET")
    canned = project / "canned.yaml"
    canned.write_text(
        "shop_orders: {json: [{id: '77', title: Order 77}]}\nshop_order: {json: {number: '77', status: delivered}}\n"
    )
    (project / "endpoints.yaml").write_text((EXAMPLES / "endpoints.yaml").read_text())  # the shop's real address
    async with (
        served(make_settings, project, endpoints_canned=canned) as service,
        aiohttp.ClientSession(service) as http,
    ):
        await _say(http, "hi", 2)
        await _say(http, "My orders", 3)
        out = await _say(http, "77", 4)
        assert _text(out[3]).startswith("Order 77 was delivered.")


async def test_the_example_shop_refuses_what_the_bot_did_not_sign(shop: str) -> None:
    """No signature, a wrong one, or one over five minutes old: 401; the bot's own signature: the orders."""
    now = int(time.time())
    async with aiohttp.ClientSession() as http:
        for header in ("", sign("wrong-secret", now, b""), sign(ENDPOINT_SECRET, now - 301, b"")):
            async with http.get(f"{shop}/orders?wa_id={CUSTOMER}", headers={"X-Bot-Signature": header}) as r:
                assert r.status == 401
        async with http.get(
            f"{shop}/orders?wa_id={CUSTOMER}", headers={"X-Bot-Signature": sign(ENDPOINT_SECRET, now, b"")}
        ) as r:
            assert [order["id"] for order in await r.json()] == ["1042", "1017"]


async def test_a_slow_endpoint_keeps_only_its_own_customer_waiting(
    make_settings: Callable[..., Settings], project: Path, shop: str
) -> None:
    """While one customer's turn waits for the shop, another customer is answered; then the first gets theirs."""
    endpoints = project / "endpoints.yaml"
    endpoints.write_text(endpoints.read_text().replace(f"{shop}/orders\n", f"{shop}/held\n"))
    async with served(make_settings, project) as service, aiohttp.ClientSession(service) as http:
        await _say(http, "hi", 2)
        assert (await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "My orders"})).status == 200
        other = "31687654321"
        assert (await http.post(f"/sandbox/users/{other}/messages", json={"text": "hi", "name": "Bo"})).status == 200
        async with asyncio.timeout(10):
            while not await _out(http, other):
                await asyncio.sleep(0.05)
        assert _text((await _out(http, other))[0]) == "Hi Bo! I'm the assistant of Example Store."
        assert len(await _out(http, CUSTOMER)) == 2  # still waiting for the shop
        signed = {"X-Bot-Signature": sign(ENDPOINT_SECRET, int(time.time()), b"")}
        async with http.post(f"{shop}/release", headers=signed) as released:
            assert released.status == 200
        out = await _say_nothing_until(http, CUSTOMER, 3)
        assert _text(out[2]) == "Which order is it about?"
