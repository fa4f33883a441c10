"""The dashboard in headless Chromium: a person logs in, visits every page, answers a waiting customer, logs out;
and, on the whole service in sandbox mode, imports contacts, creates and schedules a campaign, watches it go, pauses it.

Screenshots of each page are kept in test-artifacts/dashboard/ for people to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect

from bot import keys
from bot.app import create_app
from bot.dashboard.render import NAV
from bot.inbound.content import CONTENT
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.rate_card import example_rate_card
from storage import session
from storage.conversation import open_conversations, record_outbound
from tests.browser import test_sandbox_page
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN, signed, status_webhook, text_webhook
from tests.dashboard.test_app import SCRIPT, conversation_row, sent_row
from tests.otp.test_service import outbox_rows

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
WAITING, OTHER = "31612345001", "31612345002"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages' queries run on PostgreSQL in tests/dashboard/test_app.py; here the browser is tested."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def server(aiohttp_server: ServerFactory, settings: Settings) -> TestServer:
    """The real app with two customers: one who asked for a person (named like a script), one with a history."""
    app = create_app(settings, transport=RecordingTransport(), migrate=True, roles={"web"})
    started = await aiohttp_server(app)
    await _webhook(started, text_webhook(WAITING, "I need a person", wamid="wamid.in.1", name=SCRIPT))
    await _webhook(started, text_webhook(OTHER, "Where is order 10482?", wamid="wamid.in.2", name="Ben"))
    repository, now = app[keys.REPOSITORY], app[keys.CLOCK]()
    waiting, other = [await repository.contact_by_wa_id(n) for n in (WAITING, OTHER)]
    assert waiting is not None
    assert other is not None
    assert waiting.id is not None
    assert other.id is not None
    async with repository.transaction() as conn:
        await session.save_sessions(conn, {waiting.id: {"handed_off": True}}, now)
        [service] = await open_conversations(conn, [conversation_row(other.id, "service", now)])
        [utility] = await open_conversations(conn, [conversation_row(other.id, "utility", now)])
        template = {"type": "template", "template": {"name": "order_delivered", "language": {"code": "en"}}}
        await record_outbound(
            conn,
            [
                sent_row("wamid.out.1", other.id, service, now, "service"),
                sent_row("wamid.out.2", other.id, utility, now, "utility", template),
            ],
        )
    await _webhook(started, status_webhook("wamid.out.1", "read", recipient=OTHER))
    error = {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}
    await _webhook(started, status_webhook("wamid.out.2", "failed", recipient=OTHER, errors=[error]))
    return started


async def _webhook(server: TestServer, payload: dict[str, object]) -> None:
    """Deliver a signed webhook to the running app, as Meta would."""
    body, headers = signed(payload)
    async with aiohttp.ClientSession() as http, http.post(server.make_url("/webhook"), data=body, headers=headers) as r:
        assert r.status == 200, await r.text()


page = test_sandbox_page.page  # the same headless Chromium page fixture


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_person_uses_the_dashboard_in_the_browser(server: TestServer, page: Page) -> None:
    """Log in, visit every page, see a script-like name as text, reply from the inbox, and log out; no dialog fires."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(str(server.make_url("/dashboard/inbox")))
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await _shot(page, "login")
    await page.get_by_label("Admin token").fill("wrong")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("That is not the admin token. Check it and try again.")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    pages = page.get_by_role("navigation", name="Pages")
    for link in NAV:
        await pages.get_by_role("link", name=link.title).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(link.title)
        await _shot(page, link.title.lower())
    await expect(page.locator("svg.flow-diagram")).to_have_count(len(server.app[CONTENT].current.flows))
    widths = "[...document.querySelectorAll('.diagram')].map(d => [d.scrollWidth, d.clientWidth])"
    assert all(drawn <= card for drawn, card in await page.evaluate(widths))  # each diagram fits its card

    await pages.get_by_role("link", name="Conversations").click()
    await page.get_by_role("link", name="Ben").first.click()
    await expect(page.locator(".bubble-out .status").first).to_have_text("read")
    await expect(page.locator(".bubble-out .status").last).to_have_text("failed: error 131026: Message undeliverable")
    await _shot(page, "transcript")

    await pages.get_by_role("link", name="Inbox").click()
    await page.get_by_role("link", name=SCRIPT).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT)
    await page.get_by_label("Your reply").fill("Hello, this is Tom. How can I help?")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Your reply is queued and goes out in a moment.")
    await expect(page.locator(".bubble-unsent .text")).to_have_text("Hello, this is Tom. How can I help?")
    await _shot(page, "inbox-chat")
    rows = await outbox_rows(server.app[keys.REPOSITORY])
    assert [r.payload["text"]["body"] for r in rows] == ["Hello, this is Tom. How can I help?"]

    await page.locator("form.release input[name=csrf]").evaluate("input => input.remove()")
    await page.get_by_role("button", name="Give the chat back to the bot").click()
    await expect(page.get_by_role("alert")).to_contain_text("did not come from the dashboard")
    await _shot(page, "refused")
    await page.go_back()
    await page.reload()
    await page.get_by_role("button", name="Give the chat back to the bot").click()
    await expect(page.get_by_role("status")).to_have_text(
        "The bot answers this customer again, and tells them so if they wrote in the last 24 hours."
    )

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("status")).to_have_text("You are logged out.")
    await page.goto(str(server.make_url("/dashboard/inbox")))
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert dialogs == []


# --- campaigns and contacts on the whole service in sandbox mode ----------------------------------------

CONTACTS_CSV = f"""wa_id,name,tags,marketing,consent_evidence
31612345101,Ana,spring,opt_in,signup form
31612345102,Ben,spring,opt_in,signup form
31612345103,"{SCRIPT}",spring,opt_in,signup form
31612345104,Dee,spring,opt_in,in the shop
31612345105,Eve,spring,opt_in,in the shop
31612345106,Fay,spring,opt_in,in the shop
"""


@pytest.fixture
async def service(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]) -> TestServer:
    """`bot serve` as it runs with no Meta account: every role, the real clock, sending to its own sandbox."""
    port = unused_port()
    settings = make_settings(
        access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", rate_card=example_rate_card()
    )
    return await aiohttp_server(create_app(settings, migrate=True), port=port)


async def _import_contacts(server: TestServer) -> None:
    """Six opted-in customers tagged spring, one named like a script, imported as a CSV through the admin API."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"}
    url = server.make_url("/api/contacts")
    async with aiohttp.ClientSession() as http, http.post(url, data=CONTACTS_CSV, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["created"] == 6


async def test_a_person_runs_a_campaign_in_the_sandbox(service: TestServer, page: Page) -> None:
    """Import contacts, create and schedule a campaign from the form, see the sandbox deliver it, pause it."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await _import_contacts(service)
    await page.goto(str(service.make_url("/dashboard/login")))
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    pages = page.get_by_role("navigation", name="Pages")

    await pages.get_by_role("link", name="Campaigns").click()
    await page.get_by_role("link", name="New campaign").click()
    await page.get_by_label("Marketing template").select_option("promotion_code")
    await page.get_by_role("button", name="Choose").click()
    await page.get_by_label("Name", exact=True).fill("Spring sale")
    await page.get_by_label("customer name", exact=True).fill("there")
    await page.get_by_label("customer name from").select_option("name")
    await page.get_by_label("discount", exact=True).fill("20%")
    await page.get_by_label("promo code", exact=True).fill("SPRING20")
    await page.get_by_label("expiry date", exact=True).fill("30 November")
    await page.get_by_label("Contacts with all of these tags").fill("spring")
    await page.get_by_label("Messages per second").fill("fast")
    await page.get_by_role("button", name="Create campaign").click()
    await expect(page.get_by_role("alert")).to_contain_text("rate must be")  # not a number: the API's own words
    await page.get_by_label("Messages per second").fill("0.2")  # one every 5 s: the counts move while we watch
    await page.get_by_label("Once, at").check()
    await page.get_by_label("Send at").fill(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"))  # due this minute
    await page.get_by_label("Time zone").fill("UTC")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator(".preview .text")).to_contain_text("Hi Lena, thanks for shopping with us. Enjoy 20% off")
    await page.get_by_role("button", name="Create campaign").click()
    await expect(page.get_by_role("status")).to_have_text("The campaign is created and scheduled.")

    counts = page.locator(".counts")
    await expect(counts).to_contain_text(re.compile(r"\b[1-9] delivered"), timeout=20_000)  # reloads every 5 s
    await _shot(page, "campaign-detail")
    await page.get_by_role("button", name="Dry run").click()
    summary = page.locator("#dry-run-summary")
    await expect(summary).to_contain_text("would get it now")
    async with page.expect_navigation(timeout=10_000):  # the page reloads itself while the campaign runs
        pass
    await expect(summary).to_contain_text("would get it now")  # and the dry run stays on it
    await _shot(page, "campaign-dry-run")
    await page.get_by_role("button", name="Pause").click()
    await expect(page.get_by_role("status")).to_contain_text("The campaign is paused")
    await expect(page.locator("#campaign-state")).to_have_text("paused")
    await expect(counts).to_contain_text(re.compile(r"\b[1-9] paused"))
    await pages.get_by_role("link", name="Campaigns").click()
    await expect(page.get_by_role("link", name="Spring sale")).to_be_visible()
    await _shot(page, "campaign-list")

    await pages.get_by_role("link", name="Contacts").click()
    await expect(page.get_by_role("link", name=SCRIPT)).to_be_visible()
    await _shot(page, "contact-list")
    await page.get_by_role("link", name=SCRIPT).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT)
    await expect(page.locator("#consent-state")).to_have_text("opted in")
    await _shot(page, "contact")
    await pages.get_by_role("link", name="Overview").click()
    await expect(page.locator("svg.chart").first).to_be_visible()
    await _shot(page, "overview-after-campaign")
    assert dialogs == []
