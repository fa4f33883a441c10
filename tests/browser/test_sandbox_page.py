"""Specification of the sandbox chat page: a person chats with a stand-in bot in headless Chromium."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.sandbox.app import setup_sandbox
from bot.settings import Settings
from bot.whatsapp.client import AiohttpTransport, CloudAPIClient
from bot.whatsapp.message_body import buttons_message, list_message, text_message
from bot.whatsapp.signature import HEADER, verify

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "page-test-secret"
PHONE_ID = "106540352242922"
CUSTOMER = "16505551234"
SCREENSHOT = Path("/tmp/sandbox.png")

ServerFactory = Callable[..., Awaitable[TestServer]]


def _settings() -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        admin_token="admin",
        secret_key="key",
        access_token=None,
        phone_number_id=PHONE_ID,
        app_secret=SECRET,
        verify_token="verify",
        api_url=None,
        api_version="v25.0",
    )


class StandInBot:
    """A tiny bot behind ``/webhook``: answers a text with two reply buttons and a "book" tap with a list."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.replies: list[dict[str, Any]] = []
        self.reply_arrived = asyncio.Event()

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(SECRET, raw, request.headers.get(HEADER)):
            return web.Response(status=401)
        value = json.loads(raw)["entry"][0]["changes"][0]["value"]
        client = CloudAPIClient(
            transport=AiohttpTransport(self.session),
            base_url=str(request.url.origin().with_path("/sandbox")),
            version="v25.0",
            phone_number_id=PHONE_ID,
            access_token="stand-in-token",
        )
        for message in value.get("messages", []):
            await self._answer(client, message)
        return web.Response(text="ok")

    async def _answer(self, client: CloudAPIClient, message: dict[str, Any]) -> None:
        sender = message["from"]
        await client.mark_read(message["id"])
        if message["type"] == "text":
            await client.send(
                buttons_message(
                    sender,
                    f"You said “{message['text']['body']}”. How can I help?",
                    [("track", "Track order"), ("book", "Book a visit")],
                    header="Sandbox shop",
                    footer="Tap a button",
                )
            )
            return
        self.replies.append(message["interactive"])
        self.reply_arrived.set()
        reply = message["interactive"]
        if reply["type"] == "button_reply" and reply["button_reply"]["id"] == "book":
            slots = [("slot-0930", "09:30", "Tuesday morning"), ("slot-1400", "14:00", "Tuesday afternoon")]
            await client.send(list_message(sender, "Pick a time for your visit", "See times", [("Tuesday", slots)]))
        elif reply["type"] == "list_reply":
            await client.send(text_message(sender, f"Booked: {reply['list_reply']['title']} <b>see you</b>"))

    async def next_reply(self) -> dict[str, Any]:
        async with asyncio.timeout(10):
            await self.reply_arrived.wait()
        self.reply_arrived.clear()
        return self.replies[-1]


@pytest.fixture
async def stand_in(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[TestServer, StandInBot]]:
    async with aiohttp.ClientSession() as session:
        bot = StandInBot(session)
        app = web.Application()
        setup_sandbox(app, _settings())
        app.router.add_post("/webhook", bot.webhook)
        yield await aiohttp_server(app), bot


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page(viewport={"width": 1100, "height": 760})
        finally:
            await browser.close()


async def test_a_person_chats_with_the_bot_in_the_browser(stand_in: tuple[TestServer, StandInBot], page: Page) -> None:
    """Send "hello", see the bot's buttons, tap one, pick a list row, and watch the ticks reach read."""
    server, bot = stand_in
    await page.goto(str(server.make_url("/sandbox")))

    await page.get_by_label("Customer number").fill("12ab")
    await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("alert")).to_contain_text("6 to 15 digits")

    await page.get_by_label("Customer number").fill(f"+{CUSTOMER}")
    await page.get_by_role("button", name="Open chat").click()
    await expect(page.get_by_role("alert")).to_be_hidden()
    await page.get_by_label("Message").fill("hello")
    await page.get_by_role("button", name="Send").click()

    await expect(page.locator(".from-customer .bubble-text")).to_have_text(["hello"])
    await expect(page.locator(".from-bot .bubble-text").first).to_have_text("You said “hello”. How can I help?")
    await expect(page.locator(".from-bot .bubble-header").first).to_have_text("Sandbox shop")
    await expect(page.locator(".from-bot .ticks").first).to_have_attribute("aria-label", "Read", timeout=5000)
    await expect(page.locator(".from-customer .ticks").first).to_have_attribute("aria-label", "Read")

    await page.get_by_role("button", name="Book a visit").click()
    assert await bot.next_reply() == {"type": "button_reply", "button_reply": {"id": "book", "title": "Book a visit"}}
    await expect(page.locator(".from-customer .bubble-text").last).to_have_text("Book a visit")

    await page.get_by_role("button", name="See times").click()
    dialog = page.get_by_role("dialog", name="See times")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="14:00").click()
    await expect(dialog).to_be_hidden()
    reply = await bot.next_reply()
    assert reply["list_reply"]["id"] == "slot-1400"
    # The bot's text arrives as text, never as markup.
    await expect(page.locator(".from-bot .bubble-text").last).to_have_text("Booked: 14:00 <b>see you</b>")
    await expect(page.locator(".from-bot .ticks").last).to_have_attribute("aria-label", "Read")
    await expect(page.locator(".chat-item[aria-current='true']")).to_contain_text(f"+{CUSTOMER}")
    await page.screenshot(path=str(SCREENSHOT))


async def test_the_page_remembers_the_number_across_reloads(
    stand_in: tuple[TestServer, StandInBot], page: Page
) -> None:
    """The last number opened is remembered in localStorage and its chat reopens on reload."""
    server, _ = stand_in
    await page.goto(str(server.make_url("/sandbox")))
    await page.get_by_role("button", name="+447700900123").click()
    await page.get_by_label("Message").fill("hi there")
    await page.keyboard.press("Enter")
    await expect(page.locator(".from-customer .bubble-text")).to_have_text(["hi there"])
    await page.reload()
    await expect(page.get_by_label("Customer number")).to_have_value("447700900123")
    await expect(page.locator(".from-customer .bubble-text")).to_have_text(["hi there"])
