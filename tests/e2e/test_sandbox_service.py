"""The whole service in sandbox mode on a real port: a customer chats, the bot answers, everything is recorded."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from sqlalchemy import select

from bot.app import create_app
from bot.log import configure_logging
from bot.settings import Settings
from storage.models import OUTBOX, OutboxBase
from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CUSTOMER = "31612345678"


@pytest.fixture
async def service(make_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    """`bot serve` in sandbox mode: the real app, its sandbox as the Graph API, on a free local port."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox")
    app = create_app(settings, migrate=True)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    from bot.sandbox.app import SANDBOX_STATE, StatusDelays

    app[SANDBOX_STATE].status_delays = StatusDelays(0.05, 0.1, 0.15)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


async def poll(fetch: Callable[[], Any], until: Callable[[Any], bool], seconds: float = 10.0) -> Any:
    async with asyncio.timeout(seconds):
        while True:
            value = await fetch()
            if until(value):
                return value
            await asyncio.sleep(0.05)


async def test_customer_message_is_answered_and_recorded_as_service(service: str) -> None:
    """A sandbox text gets the main flow's greeting and menu, all show in /api/messages, as one service conversation."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(service) as http:
        resp = await http.post(
            f"/sandbox/users/{CUSTOMER}/messages", json={"text": "where is my order?", "name": "Ana"}
        )
        assert resp.status == 200
        inbound_wamid = (await resp.json())["wamid"]

        async def chat() -> list[dict[str, Any]]:
            async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                return list((await r.json())["items"])

        items = await poll(
            chat, lambda items: sum(i["direction"] == "out" and i["status"] == "read" for i in items) == 2
        )
        reply, menu = (i for i in items if i["direction"] == "out")
        assert reply["text"] == "Hi Ana! I'm the assistant of Example Store."
        assert menu["type"] == "interactive"
        assert menu["interactive"]["type"] == "list"

        async def messages() -> list[dict[str, Any]]:
            async with http.get("/api/messages", params={"wa_id": CUSTOMER}, headers=auth) as r:
                return list((await r.json())["items"])

        recorded = await poll(messages, lambda ms: any(m["direction"] == "out" and m["status"] == "read" for m in ms))
        inbound = [m for m in recorded if m["direction"] == "in"]
        outbound = {m["wamid"]: m for m in recorded if m["direction"] == "out"}
        assert [m["wamid"] for m in inbound] == [inbound_wamid]
        assert outbound[reply["wamid"]]["category"] == "service"
        assert outbound[reply["wamid"]]["pricing"]["pricing_model"] == "PMP"
        async with http.get("/api/conversations", params={"wa_id": CUSTOMER}, headers=auth) as r:
            conversations = (await r.json())["items"]
        assert [(c["category"], c["origin"]) for c in conversations] == [("service", "user_initiated")]


async def test_a_second_message_joins_the_open_conversation(service: str) -> None:
    """Two customer messages in a row (a greeting, then a word the menu does not know) stay one conversation."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(service) as http:
        for text in ("hi", "anyone there?"):
            assert (await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": text})).status == 200

        async def outbound() -> list[dict[str, Any]]:
            params = {"wa_id": CUSTOMER, "direction": "out"}
            async with http.get("/api/messages", params=params, headers=auth) as r:
                return list((await r.json())["items"])

        await poll(outbound, lambda ms: len(ms) == 4)  # greeting and menu; the re-prompt and the menu again
        async with http.get("/api/conversations", headers=auth) as r:
            assert len((await r.json())["items"]) == 1


@pytest.mark.browser
async def test_a_person_chats_with_the_real_service_in_the_browser(service: str) -> None:
    """In headless Chromium, a person types on /sandbox and sees the real bot's answer with read ticks."""
    if not HAVE_CHROMIUM:
        if os.environ.get("BOT_TEST_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here but /usr/bin/chromium is missing")
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{service}/sandbox")
            await page.get_by_label("Customer number").fill("31698765432")
            await page.get_by_role("button", name="Open chat").click()
            await page.get_by_label("Message").fill("hello from the browser")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator(".from-customer .bubble-text")).to_have_text(["hello from the browser"])
            bot_reply = page.locator(".from-bot .bubble-text").first
            await expect(bot_reply).to_contain_text("assistant of Example Store", timeout=10_000)
            await expect(page.locator(".from-bot .ticks").first).to_have_attribute("aria-label", "Read", timeout=10_000)
            await page.screenshot(path="/tmp/sandbox-real.png")
        finally:
            await browser.close()


@pytest.fixture
def captured_logs() -> io.StringIO:
    """Every log line of the test, from before the service starts, as JSON at debug level."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", level="debug")
    return stream


def logged_values(stream: io.StringIO) -> str:
    """All log lines without their timestamps (whose microseconds could be any six digits)."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return "\n".join(json.dumps({k: v for k, v in line.items() if k != "timestamp"}) for line in lines)


async def test_a_one_time_code_reaches_the_customer_verifies_once_and_stays_secret(
    captured_logs: io.StringIO, service: str, database_url: str
) -> None:
    """A code arrives as an authentication template, verifies once, locks after 5 wrong tries, and leaks nowhere."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    repository = Repository.connect(database_url)
    codes: list[str] = []
    try:
        async with aiohttp.ClientSession(service) as http:
            assert (await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "hi"})).status == 200

            async def chat() -> list[dict[str, Any]]:
                async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                    return list((await r.json())["items"])

            async def request_and_receive(purpose: str, template: str) -> str:
                async with http.post("/api/otp", json={"wa_id": CUSTOMER, "purpose": purpose}, headers=auth) as r:
                    assert (r.status, await r.json()) == (202, {"status": "sent"})
                items = await poll(
                    chat, lambda items: any((i["template"] or {}).get("name") == template for i in items)
                )
                [message] = [i for i in items if (i["template"] or {}).get("name") == template]
                assert message["template"]["category"] == "authentication"
                [code] = message["template"]["parameters"]  # what the customer sees
                codes.append(code)
                return str(code)

            async def verify(purpose: str, code: str) -> bool:
                body = {"wa_id": CUSTOMER, "purpose": purpose, "code": code}
                async with http.post("/api/otp/verify", json=body, headers=auth) as r:
                    assert r.status == 200
                    return bool((await r.json())["verified"])

            code = await request_and_receive("login", "login_code")
            assert await verify("login", code) is True
            assert await verify("login", code) is False

            async with http.post("/api/otp", json={"wa_id": CUSTOMER, "purpose": "login"}, headers=auth) as r:
                assert r.status == 429
                assert 1 <= int(r.headers["Retry-After"]) <= 30

            code = await request_and_receive("account_setup", "account_setup_code")
            for _ in range(5):
                assert await verify("account_setup", f"{(int(code) + 1) % 10**6:06d}") is False
            assert await verify("account_setup", code) is False

            async def settled() -> list[OutboxBase]:
                async with repository.engine.connect() as conn:
                    rows = await conn.execute(select(OUTBOX).where(OUTBOX.c.kind == "otp"))
                    return [OutboxBase.model_validate(row._mapping) for row in rows]

            rows = await poll(settled, lambda rows: len(rows) == 2 and all(r.status == "sent" for r in rows))
            for row in rows:
                assert row.wamid is not None
                message = await repository.message_by_wamid(row.wamid)
                assert message is not None
                assert message.category == "authentication"
                for code in codes:
                    assert code not in json.dumps(row.payload)
                    assert code not in json.dumps(message.body)
    finally:
        await repository.close()
    logged = logged_values(captured_logs)
    assert "otp.requested" in logged
    for code in codes:
        assert code not in logged


async def test_an_order_shipped_reaches_the_customer_as_a_utility_template(service: str) -> None:
    """PATCH an order to shipped: the chat shows shipping_window with the order's values, in a utility conversation."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(service) as http:
        assert (
            await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "hi", "name": "Ana"})
        ).status == 200

        async def chat() -> list[dict[str, Any]]:
            async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                return list((await r.json())["items"])

        await poll(chat, lambda items: any(i["direction"] == "out" for i in items))
        order = {"number": "10482", "wa_id": CUSTOMER, "total": "84.90", "currency": "EUR"}
        async with http.post("/api/orders", json=order, headers=auth) as r:
            assert r.status == 201
        shipped = {
            "status": "shipped",
            "delivery_start": "2026-04-17T10:00:00+00:00",
            "delivery_end": "2026-04-17T14:00:00+00:00",
            "tracking_number": "PX39281DE",
        }
        async with http.patch("/api/orders/10482", json=shipped, headers=auth) as r:
            assert r.status == 200
            assert (await r.json())["notification"]["key"] == "order:10482:shipped"

        def shipping(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [i for i in items if (i["template"] or {}).get("name") == "shipping_window"]

        [message] = shipping(await poll(chat, lambda items: bool(shipping(items))))
        assert message["template"]["category"] == "utility"
        # The window on the customer's clock: a +31 number is in Amsterdam (UTC+2 in April), the business in UTC.
        assert message["template"]["parameters"] == ["Ana", "10482", "Friday 17 April", "12:00", "16:00 (Amsterdam)"]
        [button] = [c for c in message["template"]["components"] if c["type"] == "button"]
        assert button["parameters"] == [{"type": "text", "text": "PX39281DE"}]

        async def conversations() -> list[dict[str, Any]]:
            async with http.get("/api/conversations", params={"wa_id": CUSTOMER}, headers=auth) as r:
                return list((await r.json())["items"])

        found = await poll(conversations, lambda cs: any(c["category"] == "utility" for c in cs))
        assert sorted((c["category"], c["origin"]) for c in found) == [
            ("service", "user_initiated"),
            ("utility", "business_initiated"),
        ]
