"""Rich messages on the sandbox chat page in headless Chromium: a template's document header, the stores flow's
photo header and location request, "Send location" answering it, and the link button that follows.

Screenshots are kept in test-artifacts/rich/ for people to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from tests.browser import test_media_pages, test_sandbox_page
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "rich"
CUSTOMER = "31612345678"
INVOICE_URL = "https://shop.example.com/invoices/10482.pdf"

page = test_sandbox_page.page  # the same headless Chromium page fixture
database_url = test_media_pages.database_url  # SQLite: the same paths run on PostgreSQL in tests/e2e
service = test_media_pages.service  # the whole service in sandbox mode on a real port


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_chat_page_shows_headers_the_location_request_and_the_link_button(
    service: tuple[str, web.Application], page: Page
) -> None:
    """The invoice shows as a document link; tapping "Send location" at the request shares a place and answers it."""
    url = service[0]
    parameters = {"customer_name": "Ana", "order_number": "10482", "total": "€84.90", "invoice_url": INVOICE_URL}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
        pickup = {"customer_name": "Ana", "order_number": "10482", "latitude": "52.3731", "longitude": "4.8922"}
        pickup |= {"store_name": "Example Store Centrum", "store_address": "Dam 1, Amsterdam"}
        for template, values in (("order_invoice", parameters), ("pickup_ready", pickup)):
            body = {"wa_id": CUSTOMER, "template": template, "parameters": values}
            async with http.post(f"{url}/api/notifications", json=body) as response:
                assert response.status in (200, 201, 202), await response.text()

    await page.goto(f"{url}/sandbox")
    await page.get_by_label("Customer number").fill(CUSTOMER)
    await page.get_by_role("button", name="Open chat").click()
    document = page.locator(".from-bot .bubble-media.media-document .file-link")
    await expect(document).to_have_text("Invoice 10482.pdf", timeout=10_000)
    await expect(document).to_have_attribute("href", INVOICE_URL)
    place = page.locator(".from-bot .bubble-location")
    await expect(place).to_contain_text("Example Store Centrum Dam 1, Amsterdam", timeout=10_000)
    await expect(place.get_by_role("link")).to_have_attribute(
        "href", "https://www.openstreetmap.org/?mlat=52.3731&mlon=4.8922"
    )
    await _shot(page, "template-headers")

    await page.get_by_label("Message").fill("hi")
    await page.get_by_role("button", name="Send").click()
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("button", name="Our stores").click()
    stores = page.locator(".from-bot").filter(has_text="We have two stores in Amsterdam")
    await expect(stores.locator(".bubble-media.media-image")).to_be_visible()
    await expect(stores.locator(".bubble-footer")).to_have_text("Open Monday to Saturday, 09:00 to 18:00")
    await _shot(page, "stores-menu")

    await stores.get_by_role("button", name="The nearest one").click()
    request = page.locator(".from-bot").filter(has_text="Share your location")
    await request.get_by_role("button", name="Send location").click()
    await page.get_by_label("Preset").select_option(label="Amsterdam Centraal")
    await page.locator("#location-send").click()
    await expect(page.locator(".from-customer .bubble-location").last).to_contain_text("Amsterdam Centraal")
    answer = page.locator(".from-bot").filter(has_text="Example Store Centrum is at Dam 1")
    link = answer.get_by_role("link", name="Open the map")
    await expect(link).to_have_attribute(
        "href", "https://www.openstreetmap.org/?mlat=52.3731&mlon=4.8922#map=17/52.3731/4.8922"
    )
    await page.locator("#scroller").evaluate("node => { node.scrollTop = node.scrollHeight; }")
    await _shot(page, "stores-link")

    await page.goto(f"{url}/dashboard/login")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(f"{url}/dashboard/conversations/{CUSTOMER}")
    invoice = page.locator(".sent-file a").first
    await expect(invoice).to_have_text("Invoice 10482.pdf")
    await expect(invoice).to_have_attribute("href", INVOICE_URL)
    await expect(page.locator(".location").first).to_contain_text("Example Store Centrum Dam 1, Amsterdam")
    await expect(page.locator(".detail").filter(has_text="Link button: Open the map")).to_be_visible()
    await expect(page.locator(".detail").filter(has_text="Asks for the customer's location")).to_be_visible()
    await _shot(page, "dashboard-conversation")
