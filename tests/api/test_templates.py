"""`/api/templates`: the templates, the ones Meta refused, and lifting a block once the template is fixed."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.client import RecordedRequest, RecordingTransport
from tests.api.test_app import ClientFactory, assert_error
from tests.conftest import FakeClock

Client = TestClient[web.Request, web.Application]
CUSTOMER = "31612345670"
PAUSED = {"error": {"message": "Template is paused", "type": "OAuthException", "code": 132015, "fbtrace_id": "T"}}


async def notify(client: Client, auth: dict[str, str], key: str) -> None:
    body = {
        "wa_id": CUSTOMER,
        "template": "payment_received",
        "parameters": {"customer_name": "Ana", "amount": "€ 10,00", "invoice_number": key, "payment_date": "26 Nov"},
        "idempotency_key": key,
    }
    resp = await client.post("/api/notifications", json=body, headers=auth)
    assert resp.status == 202, await resp.text()


async def test_a_refused_template_is_shown_blocked_until_unblocked(
    aiohttp_client: ClientFactory, make_settings: Any, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Meta's 132015 blocks the template: the API shows why, sends stop, and unblocking resumes them."""
    refuse = True

    def answer(request: RecordedRequest) -> tuple[int, Any]:
        if refuse:
            return 400, PAUSED
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.ok.{len(transport.requests)}"}]}

    transport = RecordingTransport(answer)
    settings: Settings = make_settings()
    app = create_app(settings, clock=clock, transport=transport, migrate=True, roles={"web"})
    client = await aiohttp_client(app)
    sender = app[SENDER]

    await notify(client, auth, "p1")
    await sender.run_once()
    resp = await client.get("/api/templates", headers=auth)
    assert resp.status == 200
    items = {(t["name"], t["language"]): t for t in (await resp.json())["items"]}
    blocked = items[("payment_received", "en")]["blocked"]
    assert blocked["error_code"] == 132015
    assert "Template is paused" in blocked["reason"]
    assert items[("order_confirmation", "en")]["blocked"] is None
    assert items[("payment_received", "en")]["category"] == "utility"

    await notify(client, auth, "p2")
    await sender.run_once()
    assert len(transport.requests) == 1  # the second was failed without asking Meta

    refuse = False
    resp = await client.post("/api/templates/payment_received/unblock", json={"language": "en"}, headers=auth)
    assert (resp.status, await resp.json()) == (200, {"name": "payment_received", "language": "en", "unblocked": 1})
    await notify(client, auth, "p3")
    await sender.run_once()
    assert len(transport.requests) == 2
    resp = await client.get("/api/templates", headers=auth)
    assert all(t["blocked"] is None for t in (await resp.json())["items"])


async def test_unblocking_checks_its_input(
    aiohttp_client: ClientFactory, make_settings: Any, clock: FakeClock, auth: dict[str, str]
) -> None:
    """An unknown template is 404, a bad body 400, and nothing blocked unblocks nothing."""
    app = create_app(make_settings(), clock=clock, transport=RecordingTransport(), migrate=True, roles={"web"})
    client = await aiohttp_client(app)
    resp = await client.post("/api/templates/nope/unblock", headers=auth)
    assert resp.status == 404
    assert "nope" in assert_error(await resp.json(), "not_found")
    resp = await client.post("/api/templates/login_code/unblock", data="[1]", headers=auth)
    assert resp.status == 400
    assert_error(await resp.json(), "invalid_request")
    resp = await client.post("/api/templates/login_code/unblock", json={"language": 3}, headers=auth)
    assert resp.status == 400
    assert "language" in assert_error(await resp.json(), "invalid_request")
    resp = await client.post("/api/templates/login_code/unblock", headers=auth)
    assert (await resp.json())["unblocked"] == 0
    assert (await client.get("/api/templates")).status == 401
