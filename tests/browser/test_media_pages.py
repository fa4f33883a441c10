"""Media in headless Chromium: a customer sends a photo and a location from the sandbox chat page and sees the
bot's image and document; the business sees the photo inline in the dashboard, behind its login.

Screenshots are kept in test-artifacts/media/ for people to look at.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect
from sqlalchemy import select

from bot import keys
from bot.app import create_app
from bot.settings import Settings
from storage.models import MEDIA
from tests.browser import test_sandbox_page
from tests.browser.test_sandbox_page import CHROMIUM
from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_media_flow import chat, replies, sends, to_delivered_order
from tests.media.pictures import png
from tests.media.test_fetcher import send_file

REQUIRED = os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="Chromium is not installed at /usr/bin/chromium"),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "media"
CUSTOMER = "31612345678"
GRAPH = {"Authorization": "Bearer sandbox-access-token"}

page = test_sandbox_page.page  # the same headless Chromium page fixture


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the media paths run on PostgreSQL in tests/media; here the pages are tested."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def service(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    """The whole service in sandbox mode on a real port, its files under tmp_path/media."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", media_dir=tmp_path / "m")
    app = create_app(settings, migrate=True)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await server.close()


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _bot_sends_files(url: str, settings: Settings) -> None:
    """What a bot does to send files: upload each to the Graph API, then send it by id (here to the sandbox)."""
    base = f"{url}/sandbox/{settings.api_version}/{settings.phone_number_id}"
    async with aiohttp.ClientSession() as http:
        ids = []
        for data, mime, name in (
            (png(120, 80, seed=7), "image/png", "label.png"),
            (b"%PDF-1.4 invoice", "application/pdf", "invoice.pdf"),
        ):
            form = aiohttp.FormData()
            form.add_field("messaging_product", "whatsapp")
            form.add_field("file", io.BytesIO(data), content_type=mime, filename=name)
            async with http.post(f"{base}/media", data=form, headers=GRAPH) as resp:
                assert resp.status == 200, await resp.text()
                ids.append((await resp.json())["id"])
        sends: list[dict[str, Any]] = [
            {"type": "image", "image": {"id": ids[0], "caption": "Your return label"}},
            {"type": "document", "document": {"id": ids[1], "filename": "invoice-10482.pdf"}},
        ]
        for send in sends:
            body = {"messaging_product": "whatsapp", "to": CUSTOMER, **send}
            async with http.post(f"{base}/messages", json=body, headers=GRAPH) as resp:
                assert resp.status == 200, await resp.text()


async def test_a_customer_sends_a_photo_and_a_location_and_the_business_sees_them(
    service: tuple[str, web.Application], page: Page, tmp_path: Path
) -> None:
    """Attach a photo and share a preset location on /sandbox; see the bot's files; see the photo in the dashboard."""
    url, app = service
    photo = png(160, 100, seed=5)
    (tmp_path / "crushed-box.png").write_bytes(photo)
    await page.goto(f"{url}/sandbox")
    await page.get_by_label("Customer number").fill(CUSTOMER)
    await page.get_by_role("button", name="Open chat").click()
    await page.get_by_label("Message").fill("The box arrived crushed")
    await page.set_input_files("#attach", str(tmp_path / "crushed-box.png"))
    customer_photo = page.locator(".from-customer .bubble-media img")
    await expect(customer_photo).to_be_visible()
    await expect(page.locator(".from-customer .bubble-text").first).to_have_text("The box arrived crushed")

    await page.get_by_role("button", name="Share a location").click()
    await page.get_by_label("Preset").select_option(label="Amsterdam Centraal")
    await page.get_by_role("button", name="Send location").click()
    await expect(page.locator(".from-customer .bubble-location")).to_contain_text("Amsterdam Centraal")

    await _bot_sends_files(url, app[keys.SETTINGS])
    await expect(page.locator(".from-bot .bubble-media img")).to_be_visible()
    await expect(page.locator(".from-bot .file-link")).to_have_text("invoice-10482.pdf")
    await expect(page.locator(".from-bot .bubble-text").filter(has_text="Your return label")).to_be_visible()
    await _shot(page, "sandbox-chat")

    async with asyncio.timeout(15):  # the fetcher stores the photo in the background
        while True:
            async with app[keys.REPOSITORY].engine.connect() as conn:
                stored = (
                    await conn.execute(select(MEDIA.c.id, MEDIA.c.sha256).where(MEDIA.c.status == "stored"))
                ).all()
            if stored:
                break
            await asyncio.sleep(0.05)
    [(media_id, digest)] = stored
    assert digest == hashlib.sha256(photo).hexdigest()

    await page.goto(f"{url}/dashboard/media/{media_id}")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the file only behind the login
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(f"{url}/dashboard/conversations/{CUSTOMER}")
    inline = page.locator(f'img[src="/dashboard/media/{media_id}"]')
    await expect(inline).to_be_visible()
    assert await inline.evaluate("img => img.complete && img.naturalWidth") == 160
    await expect(page.locator("figcaption")).to_have_text("The box arrived crushed")
    await expect(page.locator(".location")).to_contain_text("Amsterdam Centraal")
    await _shot(page, "dashboard-conversation")


RETURNS_FORM = Path("flows/media/returns-form.pdf").read_bytes()  # the shipped document, read once
FILES_FLOW = """flow: main
start: label
steps:
  - id: label
    say: {image: media/label.png, caption: Your return label}
    next: invoice
  - id: invoice
    say: {document: media/invoice.pdf, filename: invoice-10482.pdf, caption: Your invoice}
    next: terms
  - id: terms
    say: {document: "https://shop.example/terms/{{ contact.wa_id }}.pdf", filename: terms.pdf}
    next: jingle
  - id: jingle
    say: {audio: media/jingle.ogg}
    next: clip
  - id: clip
    say: {video: media/unboxing.mp4, caption: How to unpack it}
"""


async def test_the_chat_page_shows_what_a_flow_sends(
    make_settings: Callable[..., Settings], tmp_path: Path, page: Page
) -> None:
    """A flow's `say` files reach /sandbox: the image inline, documents (uploaded or linked) as links, players."""
    flows = tmp_path / "flows"
    (flows / "media").mkdir(parents=True)
    (flows / "main.yaml").write_text(FILES_FLOW)
    label = png(200, 120, seed=9)
    (flows / "media" / "label.png").write_bytes(label)
    (flows / "media" / "invoice.pdf").write_bytes(RETURNS_FORM)
    (flows / "media" / "jingle.ogg").write_bytes(b"OggS" + bytes(60))
    (flows / "media" / "unboxing.mp4").write_bytes(bytes(64))
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", media_dir=tmp_path / "m")
    app = create_app(settings, migrate=True, flows=flows, templates=Path("templates"))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await page.goto(f"http://127.0.0.1:{port}/sandbox")
        await page.get_by_label("Customer number").fill(CUSTOMER)
        await page.get_by_role("button", name="Open chat").click()
        await page.get_by_label("Message").fill("hi")
        await page.get_by_role("button", name="Send").click()
        image = page.locator(".from-bot .bubble-media img")
        await expect(image).to_be_visible()
        assert await image.evaluate("img => img.complete && img.naturalWidth") == 200
        links = page.locator(".from-bot .file-link")
        await expect(links).to_have_text(["invoice-10482.pdf", "terms.pdf"])
        assert await links.nth(1).get_attribute("href") == f"https://shop.example/terms/{CUSTOMER}.pdf"
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}{await links.nth(0).get_attribute('href')}") as resp,
        ):
            assert await resp.read() == (flows / "media" / "invoice.pdf").read_bytes()
        await expect(page.locator(".from-bot .bubble-media audio")).to_have_count(1)
        await expect(page.locator(".from-bot .bubble-media video")).to_have_count(1)
        for caption in ("Your return label", "Your invoice", "How to unpack it"):
            await expect(page.locator(".from-bot .bubble-text").filter(has_text=caption)).to_be_visible()
        await _shot(page, "sandbox-flow-files")
    finally:
        await server.close()


async def test_the_handoff_shows_the_photo_a_flow_asked_for(service: tuple[str, web.Application], page: Page) -> None:
    """The orders flow's damage photo is shown inline in the inbox's handoff view, above the chat, after login."""
    url, _ = service
    photo = png(180, 110, seed=11)
    async with aiohttp.ClientSession(url) as http:
        await to_delivered_order(http, CUSTOMER)
        await sends(http, CUSTOMER, {"button": "damaged"}, "Please send a photo of the damage")
        before = len(await chat(http, CUSTOMER))
        await send_file(http, CUSTOMER, photo, "image/png", "dent.png", caption="The corner is dented")
        await replies(http, CUSTOMER, before, "A person from our team will look at it")
    await page.goto(f"{url}/dashboard/inbox/{CUSTOMER}")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.goto(f"{url}/dashboard/inbox/{CUSTOMER}")
    given = page.locator(".given")
    await expect(given.get_by_role("heading", name="What the customer sent the bot")).to_be_visible()
    await expect(given).to_contain_text("Damage photo")
    image = given.locator("img")
    async with asyncio.timeout(15):  # fetched in the background: the page shows it once it is stored
        while not await image.count():
            await asyncio.sleep(0.1)
            await page.reload()
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 180
    await expect(given.locator("figcaption")).to_have_text("The corner is dented")
    await _shot(page, "dashboard-handoff")
