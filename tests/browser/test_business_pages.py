"""The pages a business runs alone, in headless Chromium: confirmations, contacts (import, edit, export), schedules.

Screenshots are kept in test-artifacts/dashboard/ for people to look at.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from bot.app import create_app
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.browser import test_sandbox_page
from tests.browser.test_dashboard_page import ARTIFACTS, ServerFactory
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ANA, BEN = "31612345678", "31687654321"

page = test_sandbox_page.page  # the same headless Chromium page fixture


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages' queries run on PostgreSQL in tests/dashboard/; here the browser is tested."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def server(aiohttp_server: ServerFactory, make_settings: Any) -> TestServer:
    """The real app (no background loops), with one contact who opted in to marketing."""
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    started = await aiohttp_server(create_app(settings, transport=RecordingTransport(), migrate=True, roles={"web"}))
    consent = {"marketing": "opt_in", "evidence": "web form"}
    assert (await api(started, "POST", "/api/contacts", {"wa_id": ANA, "name": "Ana", "consent": consent}))[0] == 201
    return started


async def api(server: TestServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A call to the admin API over a real socket."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.make_url(path), json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def log_in(server: TestServer, page: Page, path: str) -> None:
    await page.goto(str(server.make_url(path)))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(str(server.make_url(path)))


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_send_now_and_cancel_ask_for_confirmation(server: TestServer, page: Page) -> None:
    """ "Create campaign" for now stops at a confirmation; "Cancel campaign…" too; only their buttons act."""
    await log_in(server, page, "/dashboard/campaigns/new?template=promotion_code")
    await page.get_by_label("Name", exact=True).fill("Spring sale")
    values = {"customer name": "there", "discount": "20%", "promo code": "S20", "expiry date": "May"}
    for label, value in values.items():
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_label("Time zone").fill("UTC")
    await page.get_by_role("button", name="Create campaign").click()
    await expect(page.get_by_role("heading", level=2)).to_have_text("Send 'Spring sale' now?")
    await shot(page, "campaign-send-now-confirm")
    assert (await api(server, "GET", "/api/campaigns"))[1]["items"] == []
    await page.get_by_role("button", name="Send now").click()
    await expect(page.get_by_role("status")).to_have_text("The campaign is created and scheduled.")

    await page.get_by_role("button", name="Cancel campaign…").click()
    await expect(page.get_by_role("heading", level=2)).to_have_text("Cancel 'Spring sale' for good?")
    await shot(page, "campaign-cancel-confirm")
    await page.get_by_role("link", name="Keep it, back to the campaign").first.click()
    await expect(page.locator("#campaign-state")).not_to_have_text("cancelled")
    await page.get_by_role("button", name="Cancel campaign…").click()
    await page.get_by_role("button", name="Cancel campaign").click()
    await expect(page.locator("#campaign-state")).to_have_text("cancelled")
