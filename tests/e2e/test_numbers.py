"""Several numbers through the sandbox on a real port: each customer is answered from the number they wrote to.

The service runs in sandbox mode with two numbers in numbers.yaml; the sandbox plays Meta for both, with a
service window per (number, customer), as Meta keeps them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from sqlalchemy import select

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import ACK_TEXT, Acknowledger
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.message_body import text_message
from storage.models import CONVERSATION, MESSAGE, OUTBOX
from storage.outbox import NewMessage, enqueue
from tests.conftest import PHONE_NUMBER_ID, signed, text_webhook
from tests.e2e.test_sandbox_service import poll

ROOT = Path(__file__).resolve().parents[2]  # the shipped flows and templates
SALES = "200000000000002"
CUSTOMER = "31612345678"
NUMBERS = f"""\
numbers:
  - id: "{PHONE_NUMBER_ID}"
    display_number: "+1 555 078 3881"
  - id: "{SALES}"
    display_number: "+31 20 555 0102"
    token_env: WHATSAPP_TOKEN_SALES
    throughput: 40
    main_flow: orders
"""


@pytest.fixture(params=["acknowledger"])
async def service(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[tuple[str, web.Application]]:
    """`bot serve` in sandbox mode with two numbers, its sandbox as the Graph API, on a free local port.

    The customers' texts get the one-line acknowledgement, or (param "flows") the shipped flows.
    """
    (tmp_path / "numbers.yaml").write_text(NUMBERS)
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", project_dir=tmp_path)
    handler = Acknowledger() if request.param == "acknowledger" else None
    app = create_app(settings, migrate=True, handler=handler, flows=ROOT / "flows", templates=ROOT / "templates")
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    from bot.sandbox.app import SANDBOX_STATE, StatusDelays

    app[SANDBOX_STATE].status_delays = StatusDelays(0.02, 0.04, 0.06)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await server.close()


async def rows(app: web.Application, statement: Any) -> list[Any]:
    async with app[keys.REPOSITORY].reading() as conn:
        return list(await conn.execute(statement))


async def test_a_customer_who_writes_to_b_is_answered_from_b(service: tuple[str, web.Application]) -> None:
    """The reply goes to B's Graph API path, and its message and conversation are B's; A's window stays shut."""
    base, app = service
    async with aiohttp.ClientSession(base) as http:
        async with http.get("/sandbox/numbers") as response:
            assert [n["id"] for n in (await response.json())["items"]] == [PHONE_NUMBER_ID, SALES]
        async with http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "hi", "to": SALES}) as response:
            assert response.status == 200, await response.text()

        async def chat() -> list[dict[str, Any]]:
            async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                return list((await r.json())["items"])

        items = await poll(chat, lambda items: any(i["direction"] == "out" for i in items))
        reply = next(i for i in items if i["direction"] == "out")
        assert reply["text"] == ACK_TEXT.format(name=", Sandbox User")
        assert reply["phone_number_id"] == SALES
    sent = await poll(  # the sender records the send once Meta answered it: poll for it
        lambda: rows(app, select(MESSAGE.c.direction, MESSAGE.c.phone_number_id).order_by(MESSAGE.c.id)),
        lambda found: len(found) == 2,
    )
    assert [tuple(r) for r in sent] == [("in", SALES), ("out", SALES)]
    opened = await rows(app, select(CONVERSATION.c.category, CONVERSATION.c.phone_number_id))
    assert [tuple(r) for r in opened] == [("service", SALES)]

    # The customer wrote to B only: a free-form message from A is outside A's window, and is never sent.
    (contact_id,) = (await rows(app, select(MESSAGE.c.contact_id).limit(1)))[0]
    repository, now = app[keys.REPOSITORY], app[keys.CLOCK]()
    from_a = NewMessage(
        "reply", contact_id, CUSTOMER, text_message(CUSTOMER, "from A"), now, phone_number_id=PHONE_NUMBER_ID
    )
    from_b = NewMessage("reply", contact_id, CUSTOMER, text_message(CUSTOMER, "from B"), now, phone_number_id=SALES)
    async with repository.transaction() as conn:
        await enqueue(conn, [from_a, from_b], now)
    app[SENDER].wake()

    async def settled() -> list[Any]:
        return await rows(app, select(OUTBOX.c.phone_number_id, OUTBOX.c.status).order_by(OUTBOX.c.id))

    outcome = await poll(settled, lambda found: all(status in ("sent", "failed") for _, status in found))
    assert [tuple(r) for r in outcome][1:] == [(PHONE_NUMBER_ID, "failed"), (SALES, "sent")]


async def test_a_message_to_a_number_not_served_is_stored_not_answered(service: tuple[str, web.Application]) -> None:
    """Meta's webhook for another number of the app is acknowledged (200) and kept, but gets no reply."""
    base, app = service
    payload = text_webhook(CUSTOMER, "hello", wamid="wamid.other.1")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999000999"
    body, headers = signed(payload)
    async with aiohttp.ClientSession(base) as http, http.post("/webhook", data=body, headers=headers) as response:
        assert response.status == 200
    stored = await rows(app, select(MESSAGE.c.phone_number_id, MESSAGE.c.handled_at, MESSAGE.c.turn_error))
    assert len(stored) == 1
    number, handled_at, error = stored[0]
    assert number == "999000999"
    assert handled_at is not None
    assert "does not serve" in error
    await asyncio.sleep(0.3)  # a dispatcher round: still nothing queued
    assert await rows(app, select(OUTBOX.c.id)) == []


@pytest.mark.parametrize("service", ["flows"], indirect=True)
async def test_each_number_starts_its_customers_in_its_own_main_flow(service: tuple[str, web.Application]) -> None:
    """B names `orders` as its main flow: a customer writing to B starts there; one writing to A gets `main`."""
    base, _ = service
    async with aiohttp.ClientSession(base) as http:
        for wa_id, to in (("31600000001", SALES), ("31600000002", None)):
            body = {"text": "hello", "name": "Ana"} | ({"to": to} if to else {})
            async with http.post(f"/sandbox/users/{wa_id}/messages", json=body) as response:
                assert response.status == 200

        async def first_reply(wa_id: str) -> dict[str, Any] | None:
            async with http.get(f"/sandbox/users/{wa_id}/messages") as r:
                return next((i for i in (await r.json())["items"] if i["direction"] == "out"), None)

        to_b = await poll(lambda: first_reply("31600000001"), lambda item: item is not None)
        to_a = await poll(lambda: first_reply("31600000002"), lambda item: item is not None)
    assert to_b["phone_number_id"] == SALES
    assert "order" in to_b["text"].lower()
    assert to_a["text"] == "Hi Ana! I'm the assistant of Example Store."
