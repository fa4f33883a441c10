"""The dashboard's Meta page in headless Chromium: templates pushed to the sandbox, reviewed, and shown as Meta decided.

Screenshots are kept in test-artifacts/dashboard/ for people to look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect

from bot import keys
from bot.app import create_app
from bot.message_templates.meta_sync import run_command
from bot.sandbox.review import SANDBOX_REVIEWS
from bot.settings import Settings
from tests.browser import test_sandbox_page
from tests.browser.test_dashboard_page import ARTIFACTS, REQUIRED
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN, signed
from tests.e2e.test_template_push import pushed_folder

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ServerFactory = Callable[..., Awaitable[TestServer]]
page = test_sandbox_page.page


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what the page reads runs on PostgreSQL in tests/e2e and tests/storage."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def server(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]) -> TestServer:
    """The service in sandbox mode, its Graph API its own /sandbox; Meta reviews in 50 ms."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox")
    app = create_app(settings, migrate=True, roles={"web"})
    started = await aiohttp_server(app, port=port)
    app[SANDBOX_REVIEWS].delay = 0.05
    return started


async def test_pushed_templates_show_metas_verdicts(server: TestServer, page: Page, tmp_path: Path) -> None:
    """After a push, the page names the rejection with Meta's reason and the move to marketing, and Meta's flag."""
    settings = server.app[keys.SETTINGS]
    api = str(server.make_url("/sandbox"))
    code, _ = await run_command(settings, job="push", templates=pushed_folder(tmp_path), api_url=api)
    assert code == 0
    flag = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1765100000, "changes": [
        {"field": "phone_number_quality_update", "value": {"display_phone_number": "15550783881", "event": "FLAGGED",
                                                           "current_limit": "TIER_2K"}}]}]}  # fmt: skip
    body, headers = signed(flag)
    async with aiohttp.ClientSession() as http, http.post(server.make_url("/webhook"), data=body, headers=headers):
        pass
    await asyncio.sleep(0.3)  # the sandbox's review (50 ms) and its two webhooks

    await page.goto(str(server.make_url("/dashboard/login")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Meta").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Meta")
    await expect(page.get_by_role("alert")).to_contain_text(
        "Not sent: template payment_received (en) is REJECTED at Meta: INVALID_FORMAT: Variable parameters"
    )
    await expect(page.get_by_role("status")).to_contain_text(
        "order_delayed (en) was moved by Meta from utility to marketing"
    )
    await expect(page.locator("#meta-order_delayed-en")).to_contain_text("APPROVED")
    await expect(page.locator("#meta-payment_received-en")).to_contain_text("REJECTED")
    await expect(page.locator("#meta-order_confirmation-en")).to_contain_text("never heard: sent")
    await expect(page.get_by_text("Marketing is paused until the quality recovers")).to_be_visible()
    await expect(page.get_by_text("TIER_2K")).to_have_count(2)  # the number, and its history line
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "meta.png"), full_page=True)
