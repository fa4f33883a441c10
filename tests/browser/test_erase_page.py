"""Erasing a contact from the dashboard in headless Chromium: the button, the confirmation step, CSRF, the result.

Screenshots are kept in test-artifacts/dashboard/ (erase-confirm.png, erase-done.png) for people to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from bot import keys
from bot.app import create_app
from bot.privacy.erasure import pseudonym
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.models import CONTACT
from tests.browser import test_sandbox_page
from tests.browser.test_dashboard_page import ARTIFACTS, ServerFactory
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, signed, text_webhook

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ANA, BEN = "31612345678", "61412345678"

page = test_sandbox_page.page  # the same headless Chromium page fixture


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the erasure's queries run on PostgreSQL in tests/api/test_erasure.py; here the browser is tested."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def server(aiohttp_server: ServerFactory, settings: Settings) -> TestServer:
    """The real app with two customers who wrote in."""
    started = await aiohttp_server(create_app(settings, transport=RecordingTransport(), migrate=True, roles={"web"}))
    for wa_id, name, text in ((ANA, "Anabela Quist", "deliver to Zwanenburgwal 7"), (BEN, "Ben", "hi")):
        body, headers = signed(text_webhook(wa_id, text, name=name))
        async with (
            aiohttp.ClientSession() as http,
            http.post(started.make_url("/webhook"), data=body, headers=headers) as r,
        ):
            assert r.status == 200
    return started


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_person_erases_a_contact_after_confirming(server: TestServer, page: Page) -> None:
    """The contact page's button leads to a confirmation; a wrong number or a missing CSRF token erases nothing."""
    await page.goto(str(server.make_url(f"/dashboard/contacts/{ANA}")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(str(server.make_url(f"/dashboard/contacts/{ANA}")))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Anabela Quist")

    await page.get_by_role("button", name="Erase this contact…").click()
    await expect(page.get_by_role("heading", level=2)).to_have_text(f"Erase Anabela Quist ({ANA}) for good?")
    await _shot(page, "erase-confirm")
    await page.get_by_label(f"Type the number, {ANA}, to confirm").fill(BEN)
    await page.get_by_role("button", name="Erase for good").click()
    await expect(page.get_by_role("alert")).to_have_text("That is not this contact's number. Nothing was erased.")

    await (
        page.get_by_role("region", name="Confirm erasure")
        .locator("input[name=csrf]")
        .evaluate("input => input.remove()")
    )
    await page.get_by_label(f"Type the number, {ANA}, to confirm").fill(ANA)
    await page.get_by_role("button", name="Erase for good").click()
    await expect(page.get_by_role("alert")).to_contain_text("did not come from the dashboard")
    assert await server.app[keys.REPOSITORY].contact_by_wa_id(ANA) is not None

    await page.goto(str(server.make_url(f"/dashboard/contacts/{ANA}/erase")))
    await page.get_by_label(f"Type the number, {ANA}, to confirm").fill(f"+{ANA}")
    await page.get_by_role("button", name="Erase for good").click()
    await expect(page.get_by_role("status")).to_have_text(
        "The contact is erased: number, name and messages are gone; the consent history is kept."
    )
    await expect(page.get_by_role("link", name="Ben")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("Anabela")
    await expect(page.locator("main")).not_to_contain_text(ANA)
    await _shot(page, "erase-done")

    repository = server.app[keys.REPOSITORY]
    assert await repository.contact_by_wa_id(ANA) is None
    async with repository.engine.connect() as conn:
        erased = (await conn.execute(CONTACT.select().where(CONTACT.c.pseudonym == pseudonym(SECRET_KEY, ANA)))).all()
    assert [(row.wa_id, row.name) for row in erased] == [(None, None)]
