"""WhatsApp Flows in headless Chromium: the customer opens the feedback Flow on the sandbox chat page, fills the
form drawn from its Flow JSON, and reads the bot's thanks built from the answers; the dashboard shows both.

Screenshots are kept in test-artifacts/flows/ for people to look at.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from playwright.async_api import Page, expect

from tests.browser import test_media_pages, test_sandbox_page
from tests.conftest import ADMIN_TOKEN

pytestmark = test_media_pages.pytestmark
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "flows"
CUSTOMER = "31612345678"

page = test_sandbox_page.page  # the same headless Chromium page fixture
database_url = test_media_pages.database_url
service = test_media_pages.service  # the whole service in sandbox mode on a real port, the shipped flows


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_customer_fills_the_feedback_flow_and_the_bot_thanks_with_the_answers(
    service: tuple[str, web.Application], page: Page
) -> None:
    """Menu → Give feedback → Rate us opens the form; Send posts Meta's nfm_reply; the thanks quotes the answers."""
    url, _ = service
    await page.goto(f"{url}/sandbox")
    await page.get_by_label("Customer number").fill(CUSTOMER)
    await page.get_by_role("button", name="Open chat").click()
    await page.get_by_label("Message").fill("hi")
    await page.get_by_label("Message").press("Enter")
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("button", name="Give feedback").click()
    opener = page.get_by_role("button", name="Rate us")
    await expect(opener).to_be_visible()
    await expect(page.locator(".from-bot .bubble-header").last).to_have_text("Your feedback")
    await opener.click()

    form = page.locator("#flow-dialog")
    await expect(form.get_by_role("heading", name="Rate us")).to_be_visible()
    await expect(form.get_by_text("How did we do?")).to_be_visible()
    await form.get_by_label("5 - Excellent").check()
    await form.get_by_label("What was it about?").select_option(label="A delivery")
    await form.get_by_label("When was it?").fill("2026-12-01")
    await form.get_by_label("The staff").check()
    await form.get_by_label("The speed").check()
    await form.get_by_label("Anything to add?").fill("Fast, <b>friendly</b> courier")
    await form.get_by_label("You may contact me about this").check()
    await _shot(page, "sandbox-flow-form")
    await form.get_by_role("button", name="Send").click()
    await expect(form).to_be_hidden()

    thanks = page.locator(".from-bot .bubble-text").filter(has_text="Thank you!")
    await expect(thanks).to_have_text(
        "Thank you! You gave us 5 out of 5 and wrote: “Fast, <b>friendly</b> courier”. "
        "Someone from our team will get in touch."
    )
    answer = page.locator(".from-customer .bubble-text").last
    await expect(answer).to_contain_text("rating: 5 · topic: delivery · visited_on: 2026-12-01 · liked: staff, speed")
    await _shot(page, "sandbox-flow-answered")

    await page.goto(f"{url}/dashboard/login")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(f"{url}/dashboard/conversations/{CUSTOMER}")
    await expect(page.get_by_text("WhatsApp Flow feedback · Button: Rate us")).to_be_visible()
    await expect(page.get_by_text("Form answers: rating: 5 · topic: delivery", exact=False)).to_be_visible()
    await _shot(page, "dashboard-flow-conversation")
