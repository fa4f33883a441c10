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


async def test_a_person_imports_a_csv_after_a_preview(server: TestServer, page: Page, tmp_path: Path) -> None:
    """The guide names the columns; the preview shows the bad row's error and stores nothing; the report lists it."""
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "wa_id,name,language,tags,marketing,consent_evidence\n"
        f"+{BEN},Ben,nl,vip;newsletter,opt_in,signed at the counter\n"
        "12ab,Nobody,,,,\n"
        "+5511912345678,Bruno,pt_BR,,,\n"
    )
    await log_in(server, page, "/dashboard/contacts")
    await page.get_by_role("link", name="Import contacts from a CSV file").click()
    await expect(page.get_by_role("region", name="Column guide")).to_contain_text("consent_evidence")
    await shot(page, "contact-import-guide")
    await page.get_by_label("CSV file").set_input_files(str(csv_file))
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("heading", level=2).first).to_have_text("3 rows: 2 to import, 1 refused")
    await expect(page.locator("#preview tr.refused")).to_contain_text("'12ab' is not a valid phone number")
    await expect(page.locator("#preview")).to_contain_text("America/Sao_Paulo (from the number)")
    await shot(page, "contact-import-preview")
    assert (await api(server, "GET", f"/api/contacts/{BEN}"))[0] == 404

    await page.get_by_role("button", name="Import 2 contacts").click()
    await expect(page.locator("#import-report")).to_have_text(
        "3 rows read: 2 new, 0 updated, 1 refused; 1 consent entries recorded."
    )
    await expect(page.locator("#refused")).to_contain_text("3")  # the bad row's line, the header being line 1
    await shot(page, "contact-import-report")
    status, ben = await api(server, "GET", f"/api/contacts/{BEN}")
    assert (status, ben["name"], ben["tags"], ben["consent"]["marketing"]["state"]) == (
        200,
        "Ben",
        ["vip", "newsletter"],
        "opt_in",
    )


async def test_a_file_that_is_not_a_csv_of_contacts_is_refused_with_the_reason(
    server: TestServer, page: Page, tmp_path: Path
) -> None:
    """A bad header refuses the whole file on the upload page, naming line 1; nothing is kept."""
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("number,name\n31612345679,Cleo\n")
    await log_in(server, page, "/dashboard/contacts/import")
    await page.get_by_label("CSV file").set_input_files(str(csv_file))
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("alert")).to_contain_text("Line 1: unknown column(s) number")
