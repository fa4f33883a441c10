"""Templates in headless Chromium as WhatsApp shows them: in the sandbox's chat, with header, footer and buttons a
customer taps, and in the dashboard's transcript of the whole service, filled in rather than listed as values.

Screenshots are kept in /tmp/shots-render18/ for people to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect

from bot.app import create_app
from bot.message_templates.library import TemplateLibrary, to_cloud_api
from bot.settings import Settings
from bot.whatsapp.client import AiohttpTransport, CloudAPIClient
from bot.whatsapp.signature import HEADER, verify
from tests.browser import test_sandbox_page
from tests.browser.test_sandbox_page import CHROMIUM, PHONE_ID, SECRET
from tests.conftest import ADMIN_TOKEN

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path("/tmp/shots-render18")
CUSTOMER = "5511987654321"
PROMOTION = {"customer_name": "Carla Souza", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "31 December"}

ServerFactory = Callable[..., Awaitable[TestServer]]
page = test_sandbox_page.page  # the same headless Chromium page fixture


class TemplateBot:
    """A bot behind ``/webhook`` that answers "promo" with the shipped promotion and "code" with a one-time code."""

    def __init__(self, session: aiohttp.ClientSession, library: TemplateLibrary) -> None:
        self.session, self.library = session, library
        self.taps: list[dict[str, Any]] = []
        self.tapped = asyncio.Event()

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(SECRET, raw, request.headers.get(HEADER)):
            return web.Response(status=401)
        client = CloudAPIClient(
            transport=AiohttpTransport(self.session),
            base_url=str(request.url.origin().with_path("/sandbox")),
            version="v25.0",
            phone_number_id=PHONE_ID,
            access_token="stand-in-token",
        )
        for message in json.loads(raw)["entry"][0]["changes"][0]["value"].get("messages", []):
            if message["type"] == "button":
                self.taps.append(message["button"])
                self.tapped.set()
            elif message["text"]["body"] == "promo":
                template = self.library.get("promotion_code", "en")
                await client.send(to_cloud_api(template, message["from"], PROMOTION))
            else:
                template = self.library.get("login_code", "en")
                await client.send(to_cloud_api(template, message["from"], {"code": "482913"}))
        return web.Response(text="ok")


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[TestServer, TemplateBot]]:
    """The sandbox holding the shipped templates, as Meta holds the approved ones, and the bot above."""
    from bot.sandbox.app import setup_sandbox

    library = TemplateLibrary.load(ROOT / "templates")
    async with aiohttp.ClientSession() as session:
        bot = TemplateBot(session, library)
        app = web.Application()
        setup_sandbox(app, test_sandbox_page._settings(), templates=library)
        app.router.add_post("/webhook", bot.webhook)
        yield await aiohttp_server(app), bot


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before a screenshot
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_the_sandbox_shows_a_template_and_a_tap_sends_its_payload(
    sandbox: tuple[TestServer, TemplateBot], page: Page
) -> None:
    """The promotion reads with header, values, footer and titled buttons; a tap sends the payload, shows the title."""
    server, bot = sandbox
    await page.goto(str(server.make_url("/sandbox")))
    await page.get_by_label("Customer number").fill(CUSTOMER)
    await page.get_by_role("button", name="Open chat").click()
    await page.get_by_label("Message").fill("promo")
    await page.get_by_role("button", name="Send").click()

    promotion = page.locator(".from-bot").first
    await expect(promotion.locator(".tag")).to_have_text("Template · marketing · en")
    await expect(promotion.locator(".bubble-header")).to_have_text("A thank-you from us")
    await expect(promotion.locator(".bubble-text")).to_contain_text(
        "Hi Carla Souza, thanks for shopping with us. Enjoy 20% off your next order with code SPRING20"
    )
    await expect(promotion.locator(".bubble-text")).to_contain_text("valid until 31 December")
    await expect(promotion.locator(".bubble-footer")).to_have_text("Not interested? Tap Stop promotions")
    await expect(promotion.locator(".reply")).to_have_text(["Shop now", "Stop promotions"])

    await promotion.get_by_role("button", name="Shop now").click()
    async with asyncio.timeout(10):
        await bot.tapped.wait()
    assert bot.taps == [{"payload": "SHOP_NOW", "text": "Shop now"}]  # Meta's quick-reply webhook
    await expect(page.locator(".from-customer .bubble-text").last).to_have_text("Shop now")

    await page.get_by_label("Message").fill("code")
    await page.get_by_role("button", name="Send").click()
    code = page.locator(".from-bot").last
    await expect(code.locator(".bubble-text")).to_have_text(
        "482913 is your verification code. For your security, do not share this code."
    )
    await expect(code.locator(".bubble-footer")).to_have_text("This code expires in 10 minutes.")
    await expect(code.locator(".reply")).to_have_text(["Copy code"])
    await _shot(page, "sandbox-templates")

    url = server.make_url(f"/sandbox/users/{CUSTOMER}/messages")
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        items = (await answer.json())["items"]
    assert items[1]["text"] == (
        "A thank-you from us\n\nHi Carla Souza, thanks for shopping with us. Enjoy 20% off your next order with code "
        "SPRING20 at checkout.\n\nThe code is valid until 31 December on everything in store and online.\n\n"
        "Not interested? Tap Stop promotions\n\n[Shop now] [Stop promotions]"
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the transcript's queries run on PostgreSQL in tests/dashboard/test_view.py; here the page."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def service(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]) -> TestServer:
    """`bot serve` as it runs with no Meta account: every role, sending to its own sandbox."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox")
    return await aiohttp_server(create_app(settings, migrate=True), port=port)


async def test_the_dashboard_transcript_shows_a_sent_template_filled_in(service: TestServer, page: Page) -> None:
    """An order confirmation sent through the API reads in the transcript as the customer read it, no value twice."""
    values = {"order_number": "10482", "customer_name": "Ana", "total": "€84.90", "delivery_date": "Friday 17 April"}
    body = {"wa_id": CUSTOMER, "template": "order_confirmation", "parameters": values}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = service.make_url("/api/notifications")
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as answer:
        assert answer.status == 202, await answer.text()
    await page.goto(str(service.make_url("/dashboard/login")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(str(service.make_url(f"/dashboard/conversations/{CUSTOMER}")))
    bubble = page.locator(".bubble-out, .bubble-unsent").last
    await expect(bubble.locator(".header")).to_have_text("Order 10482 confirmed", timeout=10_000)
    await expect(bubble.locator(".text")).to_have_text(
        "Thank you, Ana. We have received order 10482 for €84.90.\n\n"
        "We expect to deliver it on Friday 17 April and will message you when it ships."
    )
    await expect(bubble.locator(".footer")).to_have_text("Reply to this message with any question")
    await expect(bubble.locator(".detail")).to_have_text("Template order_confirmation (en)")
    await expect(page.get_by_text("order_number=")).to_have_count(0)
    await _shot(page, "dashboard-transcript")
