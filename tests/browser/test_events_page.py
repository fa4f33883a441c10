"""The dashboard's events page in headless Chromium: add a URL (its secret shown once), see the log, replay, delete.

Screenshots are kept in test-artifacts/dashboard/ for people to look at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from bot.app import create_app
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.browser import test_sandbox_page
from tests.browser.test_dashboard_page import ARTIFACTS, REQUIRED
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN, signed, text_webhook
from tests.events.test_courier import Receiver
from tests.events.test_courier import receiver as receiver  # the real receiver on a port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ServerFactory = Callable[..., Awaitable[TestServer]]
page = test_sandbox_page.page


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the routes behind the page run on PostgreSQL in tests/events."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def server(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]) -> TestServer:
    settings = make_settings(events_retry=0.2, events_timeout=1.0)
    return await aiohttp_server(create_app(settings, transport=RecordingTransport(), migrate=True))


async def test_a_person_subscribes_a_url_and_reads_its_delivery_log(
    server: TestServer, page: Page, receiver: Receiver
) -> None:
    """A wrong URL is refused on the page; a right one shows its secret once; a customer's text shows in the log."""
    await page.goto(str(server.make_url("/dashboard/login")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Events").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Events")

    await page.get_by_label("URL (http:// or https://)").fill("ftp://shop.example.com/events")
    await page.get_by_label("message.received").check()
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was added: url")
    await expect(page.get_by_label("message.received")).to_be_checked()

    await page.get_by_label("URL (http:// or https://)").fill(receiver.url)
    await page.get_by_label("Note (optional)").fill("the shop")
    await page.get_by_role("button", name="Add").click()
    secret = await page.locator("code.secret").inner_text()
    assert secret.startswith("whsec_")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "events-added.png"), full_page=True)
    await page.goto(str(server.make_url("/dashboard/events")))
    await expect(page.locator("code.secret")).to_have_count(0)  # shown once, never again
    await expect(page.get_by_text("the shop")).to_be_visible()

    body, headers = signed(text_webhook("31612345001", "hi", wamid="wamid.page.1"))
    async with aiohttp.ClientSession() as http, http.post(server.make_url("/webhook"), data=body, headers=headers):
        pass
    await page.get_by_role("link", name=receiver.url).click()
    for _ in range(50):
        if await page.get_by_text("HTTP 204").count():
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(page.get_by_text("HTTP 204")).to_be_visible()
    await page.get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("status")).to_have_text("The event is queued to be delivered again.")
    await page.screenshot(path=str(ARTIFACTS / "events-log.png"), full_page=True)

    await page.get_by_role("link", name="Events").first.click()
    await page.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text(
        "The URL is deleted, with its undelivered events and its log."
    )
    await expect(page.get_by_text("No URL is subscribed yet.")).to_be_visible()
