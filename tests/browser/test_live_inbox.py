"""The live inbox in headless Chromium, on the whole service in sandbox mode: a customer's messages show up in an
open inbox and chat without a reload, the unread counts go up and clear when the chat is opened, and the chat
stays at its newest message after a reply. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from tests.browser.test_dashboard_page import _shot, database_url, page, pytestmark, service
from tests.conftest import ADMIN_TOKEN

__all__ = ["database_url", "page", "pytestmark", "service"]  # fixtures (SQLite only) and marks, used by name
CUSTOMER = "31612345777"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# What arrives live waits for the service (in this test's process), the poller and the browser: Playwright's 5 s
# ran out once for "Hello?" in a full run on a loaded machine, and passed alone every time.
LIVE = 15_000  # ms


async def _writes(server: TestServer, text: str) -> None:
    """The customer writes in the sandbox (signed webhook to the service, as Meta would)."""
    url = server.make_url(f"/sandbox/users/{CUSTOMER}/messages")
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": text, "name": "Lia"}) as resp:
        assert resp.status == 200, await resp.text()


async def _handed_off(server: TestServer) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(10):
        while True:
            async with http.get(server.make_url("/api/handoffs"), headers=AUTH) as resp:
                items: list[dict[str, Any]] = (await resp.json())["items"]
            if [i["wa_id"] for i in items] == [CUSTOMER]:
                return
            await asyncio.sleep(0.05)


async def test_an_open_inbox_shows_a_new_message_and_counts_it_unread(service: TestServer, page: Page) -> None:
    """A sandbox message reaches the open inbox and chat without a reload; opening the chat clears the count;
    a release elsewhere shows in the open chat with the message the customer was sent."""
    await _writes(service, "agent")
    await _handed_off(service)
    for n in range(1, 11):
        await _writes(service, f"Note {n} about my order")
    await page.goto(str(service.make_url("/dashboard/login")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Inbox").click()
    row, total = page.locator(f'tr[data-wa-id="{CUSTOMER}"]'), page.locator("#unread-total")
    await expect(row.locator(".unread")).to_have_text("11")
    await expect(total).to_have_text("11")

    await page.evaluate("window.notReloaded = true")
    await _writes(service, "Is anyone there?")
    await expect(row.locator(".unread")).to_have_text("12", timeout=LIVE)
    await expect(total).to_have_text("12", timeout=LIVE)
    assert await page.evaluate("window.notReloaded === true")
    await _shot(page, "inbox-live")

    await row.get_by_role("link", name="Open chat").click()
    await expect(page.locator("#transcript .bubble-in .text").last).to_have_text("Is anyone there?")
    await expect(page.locator("#latest")).to_be_in_viewport()  # opened at the newest message
    await expect(total).to_be_hidden()
    await page.evaluate("window.notReloaded = true")
    await _writes(service, "Hello?")
    await expect(page.locator("#latest .text")).to_have_text("Hello?", timeout=LIVE)
    await expect(page.locator("#latest")).to_be_in_viewport()
    await expect(total).to_be_hidden()  # read as it arrives: the chat is open
    assert await page.evaluate("window.notReloaded === true")

    await page.get_by_label("Your reply").fill("Yes, Tom here. Let me look at your order.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.locator("#latest .text")).to_have_text("Yes, Tom here. Let me look at your order.")
    await expect(page.locator("#latest")).to_be_in_viewport()  # no jump to the top of a long chat
    assert await page.evaluate("window.scrollY") > 0
    await _shot(page, "inbox-chat-live")

    await page.evaluate("window.notReloaded = true")
    url = service.make_url(f"/api/conversations/{CUSTOMER}/release")
    async with aiohttp.ClientSession() as http, http.post(url, headers=AUTH) as resp:
        assert resp.status == 200
    await expect(page.locator("#chat-lead")).to_contain_text("the bot is answering", timeout=LIVE)
    await expect(page.get_by_role("button", name="Give the chat back to the bot")).to_have_count(0)
    back = "You're chatting with our assistant again. Type menu to see the options."
    # What the customer was told, as it went:
    await expect(page.locator("#latest .text")).to_have_text(back, timeout=LIVE)
    assert await page.evaluate("window.notReloaded === true")
    await _shot(page, "inbox-chat-released")
