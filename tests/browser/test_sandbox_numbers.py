"""The sandbox chat page with two business numbers: the customer picks which one to write to, in Chromium."""

from __future__ import annotations

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from bot.inbound.dispatcher import ACK_TEXT
from tests.browser.test_sandbox_page import CHROMIUM, page  # noqa: F401  (the page fixture)
from tests.e2e.test_numbers import SALES, service  # noqa: F401  (two numbers, sandbox mode)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


async def test_the_customer_picks_the_business_number_and_each_is_a_chat_of_its_own(
    service: tuple[str, web.Application],  # noqa: F811
    page: Page,  # noqa: F811
) -> None:
    """Writing to the second number is answered there; back on the first, its chat does not show that exchange."""
    base, _ = service
    await page.goto(f"{base}/sandbox")
    await page.fill("#number", "31612345678")
    await page.fill("#name", "Ana")
    await page.press("#number", "Enter")
    picker = page.locator("#business")
    await expect(page.locator("#business-picker")).to_be_visible()
    await expect(picker.locator("option")).to_have_count(2)
    await picker.select_option(SALES)
    await page.fill("#message", "hi")
    await page.press("#message", "Enter")
    reply = ACK_TEXT.format(name=", Ana")
    await expect(page.locator("#messages")).to_contain_text(reply, timeout=10_000)
    await picker.select_option(index=0)
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#messages")).not_to_contain_text(reply)
