"""Hot reload in sandbox mode: a saved flow or template takes effect on the next message; a broken save does not."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from aiohttp.web import Application
from structlog.testing import capture_logs

from bot.app import create_app
from bot.inbound.actions import BUSINESS, BUSINESS_FILE
from bot.inbound.content import LiveContent, load_content
from bot.inbound.reload import RELOADER, Reloader, changed_files, snapshot
from bot.notifications.service import NOTIFICATIONS
from bot.otp.service import OTP
from bot.sandbox.app import SANDBOX_STATE, StatusDelays
from bot.settings import Settings
from tests.e2e.test_sandbox_service import poll

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CUSTOMER = "31612345678"
GREETING = "I'm the assistant of Example Store."
BROKEN_NEXT = "    next: menu\n"  # the greeting's way on, line 8 of flows/main.yaml
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclass
class Folders:
    """A private copy of the shipped flows and templates, for a test to edit."""

    flows: Path
    templates: Path

    @property
    def main(self) -> Path:
        return self.flows / "main.yaml"

    def edit(self, path: Path, old: str, new: str) -> None:
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "whatsapp_flows", tmp_path / "whatsapp_flows")  # the feedback flow's form
    return Folders(tmp_path / "flows", tmp_path / "templates")


def _break(folders: Folders) -> tuple[int, int]:
    """Point the greeting at a step that does not exist; answers the line and column of the bad target."""
    folders.edit(folders.main, BROKEN_NEXT, "    next: <b>nowhere</b>\n")
    line = folders.main.read_text(encoding="utf-8").splitlines().index("    next: <b>nowhere</b>") + 1
    return line, len("    next: ") + 1


def _fix(folders: Folders) -> None:
    folders.edit(folders.main, "    next: <b>nowhere</b>\n", BROKEN_NEXT)


# --- the reloader on its own ------------------------------------------------------------------------


@pytest.fixture
def reloader(folders: Folders) -> Reloader:
    content, errors = load_content(folders.flows, folders.templates, ZoneInfo("UTC"))
    assert content is not None, errors
    return Reloader(LiveContent(content), folders.flows, folders.templates, ZoneInfo("UTC"), clock=lambda: NOW)


def test_snapshot_sees_flows_data_and_templates_but_not_editor_files(folders: Folders) -> None:
    """The snapshot holds every flow, business file and template, and no editor swap or backup file."""
    (folders.flows / ".main.yaml.swp").write_text("x")
    (folders.templates / "utility" / "order_delayed.en.md.j2~").write_text("x")
    seen = snapshot(folders.flows, folders.templates)
    assert folders.main in seen
    assert folders.flows / "data" / "business.yaml" in seen
    assert folders.templates / "utility" / "order_delayed.en.md.j2" in seen
    assert not [p for p in seen if p.name.startswith(".") or p.name.endswith("~")]


def test_changed_files_lists_added_removed_and_written_files(folders: Folders) -> None:
    """A written, a new and a deleted file each count as changed; untouched files do not."""
    before = snapshot(folders.flows, folders.templates)
    folders.main.write_text(folders.main.read_text() + "\n")
    (folders.flows / "extra.yaml").write_text("flow: extra\n")
    (folders.flows / "balance.yaml").unlink()
    after = snapshot(folders.flows, folders.templates)
    assert changed_files(before, after) == sorted(
        str(folders.flows / name) for name in ("balance.yaml", "extra.yaml", "main.yaml")
    )


async def test_nothing_changed_means_no_reload(reloader: Reloader) -> None:
    """A look at unchanged files keeps the very same content object."""
    current = reloader.live.current
    assert await reloader.poll() is False
    assert reloader.live.current is current


async def test_a_good_save_swaps_flows_and_templates_at_once(reloader: Reloader, folders: Folders) -> None:
    """An edited flow and template become the live content, and `reload.applied` names what changed."""
    old = reloader.live.current
    folders.edit(folders.main, "Example Store", "Reloaded Store")
    template = folders.templates / "utility" / "order_delayed.en.md.j2"
    folders.edit(template, "is delayed because", "is running late because")
    with capture_logs() as logs:
        assert await reloader.poll() is True
    new = reloader.live.current
    assert new is not old
    assert "Reloaded Store" in str(new.flows["main"].steps["greet"])
    assert "running late" in reloader.live.templates.get("order_delayed").body
    assert new.engine.flows is new.flows
    applied = [entry for entry in logs if entry["event"] == "reload.applied"]
    assert len(applied) == 1
    assert applied[0]["flows_changed"] == ["main"]
    assert applied[0]["templates_changed"] == ["order_delayed.en"]
    assert sorted(applied[0]["files"]) == sorted([str(folders.main), str(template)])
    assert reloader.status.ok
    assert reloader.status.errors == ()


async def test_a_broken_save_keeps_the_last_good_content_and_says_where(reloader: Reloader, folders: Folders) -> None:
    """A bad step target keeps the old flows, logs `reload.failed`, and prints path:line:col on the console."""
    good = reloader.live.current
    console = io.StringIO()
    reloader.console = console
    line, column = _break(folders)
    with capture_logs() as logs:
        assert await reloader.poll() is True
    assert reloader.live.current is good
    expected = f"{folders.main}:{line}:{column}: error: unknown step '<b>nowhere</b>'"
    assert not reloader.status.ok
    assert [e for e in reloader.status.errors if e.startswith(expected)]
    assert reloader.status.loaded_at == NOW
    failed = [entry for entry in logs if entry["event"] == "reload.failed"]
    assert failed
    assert failed[0]["log_level"] == "warning"
    assert failed[0]["errors"] == list(reloader.status.errors)
    assert expected in console.getvalue()

    _fix(folders)
    assert await reloader.poll() is True
    assert reloader.status.ok
    assert reloader.status.errors == ()
    assert reloader.live.current is not good


async def test_a_broken_flow_json_save_is_refused_at_its_place(reloader: Reloader, folders: Folders) -> None:
    """A saved WhatsApp Flow JSON that is not JSON is seen, refused with path:line:col, and the old content kept."""
    good = reloader.live.current
    flow_json = folders.flows.parent / "whatsapp_flows" / "feedback.json"
    flow_json.write_text('{"version": "7.0",\n "screens": [,]}\n', encoding="utf-8")
    assert await reloader.poll() is True
    assert reloader.live.current is good
    assert reloader.status.errors == (f"{flow_json}:2:14: error: not JSON: Expecting value",)


async def test_a_broken_template_keeps_the_old_library(reloader: Reloader, folders: Folders) -> None:
    """A template with a Jinja syntax error is refused; flows keep sending the last good version."""
    template = folders.templates / "utility" / "order_delayed.en.md.j2"
    before = reloader.live.templates.get("order_delayed").body
    template.write_text(template.read_text(encoding="utf-8") + "{{ oops \n", encoding="utf-8")
    reloader.console = io.StringIO()
    await reloader.poll()
    assert reloader.live.templates.get("order_delayed").body == before
    assert [e for e in reloader.status.errors if e.startswith(f"{template}:") and "Jinja syntax error" in e]


async def test_a_saved_business_file_is_read_again(reloader: Reloader, folders: Folders) -> None:
    """A clean edit of flows/data/business.yaml reaches the booking actions, which read the business file lazily."""
    business = folders.flows / "data" / "business.yaml"
    folders.edit(business, "title: Beard trim,", "title: Beard tidy,")
    try:
        assert await reloader.poll() is True
        assert reloader.status.ok
        assert "Beard tidy" in [service.title for service in BUSINESS.business().services]
    finally:
        BUSINESS.use(BUSINESS_FILE)


# --- through the real app and its sandbox -----------------------------------------------------------


@pytest.fixture
async def service(make_settings: Callable[..., Settings], folders: Folders) -> AsyncIterator[tuple[str, Application]]:
    """`bot serve` in sandbox mode with hot reload over the private folders, on a free local port."""
    port = unused_port()
    settings = make_settings(access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", reload=True)
    app = create_app(settings, migrate=True, flows=folders.flows, templates=folders.templates)
    app[RELOADER].interval = 0.05
    app[RELOADER].console = io.StringIO()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    app[SANDBOX_STATE].status_delays = StatusDelays(0.01, 0.02, 0.03)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await server.close()


class Customer:
    """The sandbox's customer simulator, and the status endpoint, over HTTP."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def says(self, text: str) -> list[str]:
        """Send `text` and wait for the bot's replies to it; answers their texts."""
        before = len(await self.bot_texts())
        assert (await self.http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": text})).status == 200
        return list((await poll(self.bot_texts, lambda texts: len(texts) >= before + 2))[before:])

    async def bot_texts(self) -> list[str]:
        async with self.http.get(f"/sandbox/users/{CUSTOMER}/messages") as response:
            items = (await response.json())["items"]
        return [i["text"] or i["interactive"]["body"]["text"] for i in items if i["direction"] == "out"]

    async def status(self) -> dict[str, Any]:
        async with self.http.get("/sandbox/status") as response:
            assert response.status == 200
            return dict((await response.json())["reload"])


async def test_a_saved_flow_answers_the_next_message(service: tuple[str, Application], folders: Folders) -> None:
    """After a flow is saved, the next message gets the new text; the notification service sees a new template."""
    url, app = service
    async with aiohttp.ClientSession(url) as http:
        customer = Customer(http)
        assert GREETING in (await customer.says("hi"))[0]
        loaded = (await customer.status())["loaded_at"]
        folders.edit(folders.main, "Example Store", "Reloaded Store")
        template = folders.templates / "utility" / "order_delayed.en.md.j2"
        folders.edit(template, "is delayed because", "is running late because")
        await poll(customer.status, lambda status: status["loaded_at"] != loaded)
        assert "I'm the assistant of Reloaded Store." in (await customer.says("menu"))[0]
    assert "running late" in app[NOTIFICATIONS].library.get("order_delayed").body
    assert "running late" in app[OTP].library.get("order_delayed").body


async def test_a_broken_save_keeps_answering_until_fixed(service: tuple[str, Application], folders: Folders) -> None:
    """A broken flow shows on /sandbox/status as file:line:col while the last good one answers; a fix clears it."""
    url, _ = service
    async with aiohttp.ClientSession(url) as http:
        customer = Customer(http)
        line, column = _break(folders)
        status = await poll(customer.status, lambda status: not status["ok"])
        assert [e for e in status["errors"] if e.startswith(f"{folders.main}:{line}:{column}: error: unknown step")]
        assert GREETING in (await customer.says("hi"))[0]
        _fix(folders)
        status = await poll(customer.status, lambda status: status["ok"])
        assert status["errors"] == []


async def test_a_session_whose_step_vanished_starts_again(service: tuple[str, Application], folders: Folders) -> None:
    """A customer waiting at a step that a save renamed is told the flow changed and starts over, no crash."""
    url, _ = service
    async with aiohttp.ClientSession(url) as http:
        customer = Customer(http)
        await customer.says("hi")  # now waiting at the main menu
        loaded = (await customer.status())["loaded_at"]
        text = folders.main.read_text(encoding="utf-8")
        renamed = text.replace("- id: menu\n", "- id: main_menu\n").replace("next: menu", "next: main_menu")
        folders.main.write_text(renamed, encoding="utf-8")
        status = await poll(customer.status, lambda status: status["loaded_at"] != loaded)
        assert status["ok"], status["errors"]
        replies = await customer.says("orders")
        assert replies[0] == "This conversation was updated on our side, so let's start again."
        assert GREETING in replies[1]


async def test_status_says_null_when_reload_is_off(make_settings: Callable[..., Settings]) -> None:
    """With BOT_RELOAD off the sandbox still answers /sandbox/status, with no reload to report."""
    app = create_app(make_settings(access_token=None, api_url="http://127.0.0.1:9/sandbox"), migrate=True)
    assert RELOADER not in app
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/sandbox/status")) as response:
            assert await response.json() == {"reload": None}
    finally:
        await server.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium")
async def test_the_page_shows_a_broken_save_until_it_is_fixed(
    service: tuple[str, Application], folders: Folders
) -> None:
    """On /sandbox a broken flow shows a banner with its file:line:col error as text; a fix takes the banner away."""
    from playwright.async_api import async_playwright, expect

    from tests.browser.test_sandbox_page import CHROMIUM_ARGS

    url, _ = service
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/sandbox")
            banner = page.get_by_role("alert", name="Your last save has errors")
            await expect(banner).to_be_hidden()
            line, column = _break(folders)
            await expect(banner).to_be_visible(timeout=10_000)
            await expect(banner.get_by_role("listitem").first).to_contain_text(
                f"{folders.main}:{line}:{column}: error: unknown step '<b>nowhere</b>'"
            )
            assert await banner.locator("b").count() == 0  # the error's text is shown as text, never as markup
            _fix(folders)
            await expect(banner).to_be_hidden(timeout=10_000)
        finally:
            await browser.close()
