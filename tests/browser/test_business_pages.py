"""The pages a business runs alone, in headless Chromium: confirmations, contacts (import, edit, export), schedules.

Screenshots are kept in test-artifacts/dashboard/ for people to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from bot.app import create_app
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.browser import test_dashboard_page, test_sandbox_page
from tests.browser.test_dashboard_page import ARTIFACTS, ServerFactory, database_url
from tests.conftest import ADMIN_TOKEN

pytestmark = test_dashboard_page.pytestmark  # the browser mark; skipped without Chromium unless required
__all__ = ["database_url"]  # SQLite only, as there: the pages' queries run on PostgreSQL in tests/dashboard/
ANA, BEN = "31612345678", "31687654321"

page = test_sandbox_page.page  # the same headless Chromium page fixture


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
    await expect(page.get_by_role("heading", level=2).first).to_have_text("3 rows in the file")
    await expect(page.get_by_role("region", name="Preview")).to_contain_text(
        "The first 3 rows as they will be stored, 1 of them refused."
    )
    await expect(page.locator("#preview tr.refused")).to_contain_text("'12ab' is not a valid phone number")
    await expect(page.locator("#preview")).to_contain_text("America/Sao_Paulo (from the number)")
    await shot(page, "contact-import-preview")
    assert (await api(server, "GET", f"/api/contacts/{BEN}"))[0] == 404

    await page.get_by_role("button", name="Import 3 rows").click()
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


async def test_a_person_edits_a_contact_and_sees_each_error_by_its_field(server: TestServer, page: Page) -> None:
    """A wrong language and time zone are named under their fields and nothing is saved; fixed, all four are stored."""
    await log_in(server, page, f"/dashboard/contacts/{ANA}")
    await page.get_by_role("link", name="Edit").click()
    await expect(page.get_by_label("Time zone")).to_have_value("Europe/Amsterdam")
    await page.get_by_label("Name").fill("Ana Lima")
    await page.get_by_label("Language").fill("Portuguese")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_label("Tags").fill("vip, newsletter")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_have_text("Nothing was saved: 2 fields to correct.")
    await expect(page.locator("#language-error")).to_have_text(
        "Language 'Portuguese' is not a code such as 'en' or 'pt_BR'"
    )
    await expect(page.locator("#time_zone-error")).to_contain_text("Time zone 'Mars/Olympus' is unknown")
    await expect(page.get_by_label("Name")).to_have_value("Ana Lima")  # what was typed stays
    await shot(page, "contact-edit-errors")
    assert (await api(server, "GET", f"/api/contacts/{ANA}"))[1]["name"] == "Ana"

    await page.get_by_label("Language").fill("pt_BR")
    await page.get_by_label("Time zone").fill("America/Sao_Paulo")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("The contact is saved.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ana Lima")
    stored = (await api(server, "GET", f"/api/contacts/{ANA}"))[1]
    assert (stored["language"], stored["time_zone"], stored["tags"]) == (
        "pt_BR",
        "America/Sao_Paulo",
        ["vip", "newsletter"],
    )


async def test_the_export_is_a_csv_the_import_reads_and_no_spreadsheet_runs(server: TestServer, page: Page) -> None:
    """The downloaded file has the import's columns; names a spreadsheet would run as formulas start with '."""
    for wa_id, name in ((BEN, '=HYPERLINK("http://x")'), ("31611111111", "@SUM(A1)"), ("31622222222", "-3+4")):
        assert (await api(server, "POST", "/api/contacts", {"wa_id": wa_id, "name": name, "tags": ["b2b"]}))[0] == 201
    await log_in(server, page, "/dashboard/contacts")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Export contacts as CSV").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("contacts-")
    text = Path(await download.path()).read_text()  # noqa: ASYNC240 - a small file, once
    rows = text.splitlines()
    assert rows[0] == "wa_id,name,language,time_zone,tags,marketing,consent_evidence,consent_at"
    assert f'{BEN},"\'=HYPERLINK(""http://x"")",,Europe/Amsterdam,b2b,,,' in rows
    assert "31611111111,'@SUM(A1),,Europe/Amsterdam,b2b,,," in rows
    assert "31622222222,'-3+4,,Europe/Amsterdam,b2b,,," in rows
    assert any(row.startswith(f"{ANA},Ana,,Europe/Amsterdam,,opt_in,web form,") for row in rows)
    assert len(rows) == 5


async def test_a_person_creates_edits_pauses_and_deletes_a_schedule(server: TestServer, page: Page) -> None:
    """A bad cron and time zone are named under their fields; fixed, the list shows its next run; pause, delete."""
    await log_in(server, page, "/dashboard/schedules")
    await page.get_by_role("link", name="New schedule").click()
    await page.get_by_label("Name", exact=True).fill("Invoice reminder")
    await page.get_by_label("When (cron)").fill("every monday")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_label("Utility template").select_option("payment_link")
    values = "customer_name: Tomás\ninvoice_number: INV-2031\namount: €120.00\ndue_date: 1 May\npayment_id: 7f3c9a"
    await page.get_by_label("Values, one a line").fill(values)
    await page.get_by_label("Numbers to send to").fill(f"+{ANA}, {BEN}")
    await page.get_by_role("button", name="Create schedule").click()
    await expect(page.get_by_role("alert")).to_have_text("Nothing was saved: 2 fields to correct.")
    await expect(page.locator("#cron-error")).to_contain_text("every monday")
    await expect(page.locator("#time_zone-error")).to_contain_text("Mars/Olympus")
    await shot(page, "schedule-errors")
    assert (await api(server, "GET", "/api/schedules"))[1]["items"] == []

    await page.get_by_label("When (cron)").fill("0 9 * * MON")
    await page.get_by_label("Time zone").fill("Europe/Amsterdam")
    await page.get_by_role("button", name="Create schedule").click()
    await expect(page.get_by_role("status")).to_have_text("The schedule is saved; it runs at the next time it names.")
    await expect(page.locator("#next-runs li").first).to_contain_text("Mon")
    await page.get_by_label("When (cron)").fill("0 10 * * MON")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#next-runs li").first).to_contain_text("10:00 Europe/Amsterdam")
    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#schedule-state")).to_have_text("paused")
    await page.get_by_role("navigation").get_by_role("link", name="Schedules").click()
    await expect(page.get_by_role("link", name="Invoice reminder")).to_be_visible()
    await shot(page, "schedule-list")
    [stored] = (await api(server, "GET", "/api/schedules"))[1]["items"]
    assert (stored["cron"], stored["active"], stored["wa_ids"]) == ("0 10 * * MON", False, [ANA, BEN])

    await page.get_by_role("link", name="Invoice reminder").click()
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#schedule-state")).to_have_text("active")
    await page.get_by_role("button", name="Delete…").click()
    await page.get_by_role("button", name="Delete schedule").click()
    await expect(page.get_by_role("status")).to_contain_text("The schedule is deleted")
    assert (await api(server, "GET", "/api/schedules"))[1]["items"] == []
