"""The dashboard at /dashboard: login and session cookie, CSRF and origin checks, and each page over real data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import create_app
from bot.dashboard.render import NAV
from bot.dashboard.session import COOKIE, LIFETIME, Signer
from bot.inbound.content import CONTENT
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage import policy, session
from storage.conversation import open_conversations, record_outbound
from storage.outbox import OutboxBase
from tests.api.test_app import ClientFactory, post_webhook
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, FakeClock, status_webhook, text_webhook
from tests.otp.test_service import outbox_rows

Client = TestClient[web.Request, web.Application]
NOON = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
ANA = "31612345001"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
PAGES = [link.href for link in NAV]


@pytest.fixture
def noon() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, noon: FakeClock) -> Client:
    """The real app on the test database; no background loops, so what a test sees is what it did."""
    app = create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


async def csrf_of(client: Client, path: str) -> str:
    """The CSRF token in the forms of the page at `path`."""
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    found = CSRF.search(await resp.text())
    assert found is not None, f"no form with a CSRF token on {path}"
    return found[1]


async def log_in(client: Client, token: str = ADMIN_TOKEN) -> Any:
    """Fill in and send the login form as a browser would; returns the answer, not followed."""
    form_token = await csrf_of(client, "/dashboard/login")
    return await client.post("/dashboard/login", data={"csrf": form_token, "token": token}, allow_redirects=False)


@pytest.fixture
async def logged_in(client: Client) -> Client:
    resp = await log_in(client)
    assert resp.status == 303, await resp.text()
    return client


async def post_form(client: Client, path: str, data: dict[str, str], **headers: str) -> Any:
    """POST a form of the dashboard with this session's CSRF token (unless `data` brings its own)."""
    fields = {"csrf": await csrf_of(client, "/dashboard/inbox"), **data}
    return await client.post(path, data=fields, headers=headers, allow_redirects=False)


async def customer_writes(client: Client, text: str = "hello", name: str = SCRIPT, wa_id: str = ANA) -> int:
    """The customer writes (through the signed webhook); returns their contact id."""
    now = client.server.app[keys.CLOCK]()
    await post_webhook(client, text_webhook(wa_id, text, wamid=f"wamid.in.{text}", name=name, timestamp=now))
    contact = await client.server.app[keys.REPOSITORY].contact_by_wa_id(wa_id)
    assert contact is not None
    assert contact.id is not None
    return contact.id


async def hand_off(client: Client, contact_id: int) -> None:
    repository = client.server.app[keys.REPOSITORY]
    async with repository.transaction() as conn:
        await session.save_sessions(conn, {contact_id: {"handed_off": True}}, client.server.app[keys.CLOCK]())


# --- the session ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/dashboard/conversations/31612345001", "/dashboard/inbox/31612345001"])
async def test_without_a_session_every_page_sends_the_browser_to_log_in(client: Client, path: str) -> None:
    """No cookie: every page answers 303 to the login page, and shows nothing."""
    resp = await client.get(path, allow_redirects=False)
    assert resp.status in (302, 303)
    assert resp.headers["Location"] in ("/dashboard/login", "/dashboard/")


async def test_a_wrong_token_shows_the_form_again_with_a_plain_error(client: Client) -> None:
    """A wrong admin token gets 401 and the form saying so; no session cookie is set."""
    resp = await log_in(client, "not-the-token")
    assert resp.status == 401
    assert "That is not the admin token" in await resp.text()
    assert COOKIE not in resp.cookies
    assert (await client.get("/dashboard/inbox", allow_redirects=False)).status == 303


async def test_logging_in_sets_a_signed_httponly_strict_cookie_for_the_dashboard_only(client: Client) -> None:
    """The session cookie is HttpOnly, SameSite=Strict, Path=/dashboard and expiring; Secure over https."""
    resp = await log_in(client)
    assert (resp.status, resp.headers["Location"]) == (303, "/dashboard/")
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert cookie["max-age"] == str(int(LIFETIME.total_seconds()))
    assert not cookie["secure"]
    assert ADMIN_TOKEN not in cookie.value
    form_token = await csrf_of(client, "/dashboard/login")  # logged in: the login page sends to the overview
    assert form_token  # the overview's logout form
    client.session.cookie_jar.clear()
    resp = await client.get("/dashboard/login")
    nonce = CSRF.search(await resp.text())
    assert nonce is not None
    behind_tls = {"X-Forwarded-Proto": "https"}
    resp = await client.post(
        "/dashboard/login", data={"csrf": nonce[1], "token": ADMIN_TOKEN}, headers=behind_tls, allow_redirects=False
    )
    assert resp.cookies[COOKIE]["secure"] is True


async def test_a_tampered_or_expired_cookie_is_refused(logged_in: Client, noon: FakeClock) -> None:
    """A cookie with its signature changed, or past its expiry, counts as no session."""
    cookie = next(c for c in logged_in.session.cookie_jar if c.key == COOKIE)
    good = cookie.value
    assert (await logged_in.get("/dashboard/inbox", allow_redirects=False)).status == 200
    ident, expires, signature = good.split(".")
    for forged in (f"{ident}.{int(expires) + 86400}.{signature}", f"{ident}.{expires}.{'0' * len(signature)}", "x"):
        logged_in.session.cookie_jar.clear()
        logged_in.session.cookie_jar.update_cookies({COOKIE: forged})
        assert (await logged_in.get("/dashboard/inbox", allow_redirects=False)).status == 303, forged
    logged_in.session.cookie_jar.clear()
    logged_in.session.cookie_jar.update_cookies({COOKIE: good})
    assert (await logged_in.get("/dashboard/inbox", allow_redirects=False)).status == 200
    noon.advance(seconds=LIFETIME.total_seconds() + 1)
    assert (await logged_in.get("/dashboard/inbox", allow_redirects=False)).status == 303


def test_a_session_signed_with_another_key_or_admin_token_is_not_read() -> None:
    """Changing BOT_SECRET_KEY or the admin token ends every session."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    _, cookie = Signer(SECRET_KEY, ADMIN_TOKEN).issue(now)
    assert Signer(SECRET_KEY, ADMIN_TOKEN).read(cookie, now) is not None
    assert Signer("another key", ADMIN_TOKEN).read(cookie, now) is None
    assert Signer(SECRET_KEY, "another token").read(cookie, now) is None
    assert Signer(SECRET_KEY, ADMIN_TOKEN).read(cookie, now + LIFETIME) is None


async def test_a_post_without_the_csrf_token_is_refused(logged_in: Client) -> None:
    """A logged-in POST with no token, or another session's, gets 403 and a page saying why."""
    contact_id = await customer_writes(logged_in)
    await hand_off(logged_in, contact_id)
    for data in ({"text": "hi"}, {"text": "hi", "csrf": "0" * 64}):
        resp = await logged_in.post(f"/dashboard/inbox/{ANA}/reply", data=data, allow_redirects=False)
        assert resp.status == 403
        assert "did not come from the dashboard" in await resp.text()
    assert await outbox_rows(logged_in.server.app[keys.REPOSITORY]) == []


async def test_a_cross_origin_post_is_refused_even_with_the_token(logged_in: Client) -> None:
    """A POST whose Origin (or Referer) is another site is refused before anything happens."""
    contact_id = await customer_writes(logged_in)
    await hand_off(logged_in, contact_id)
    for header in ({"Origin": "https://evil.example"}, {"Referer": "http://evil.example/page"}):
        resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/reply", {"text": "hi"}, **header)
        assert resp.status == 403
        assert "another website" in await resp.text()
    assert await outbox_rows(logged_in.server.app[keys.REPOSITORY]) == []
    same = str(logged_in.make_url("/")).rstrip("/")
    assert (await post_form(logged_in, f"/dashboard/inbox/{ANA}/reply", {"text": "hi"}, Origin=same)).status == 303


async def test_the_login_form_needs_its_own_token(client: Client) -> None:
    """Logging in with the right admin token but without the login form's token is refused."""
    resp = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert resp.status == 403
    assert COOKIE not in resp.cookies


async def test_logging_out_clears_the_session(logged_in: Client) -> None:
    """Logout (a POST with the token) clears the cookie; the pages send to the login page again."""
    resp = await post_form(logged_in, "/dashboard/logout", {})
    assert (resp.status, resp.headers["Location"]) == (303, "/dashboard/login?done=logged_out")
    assert resp.cookies[COOKIE].value == ""
    assert (await logged_in.get("/dashboard/inbox", allow_redirects=False)).status == 303
    assert "You are logged out." in await (await logged_in.get("/dashboard/login?done=logged_out")).text()


async def _page_with_cookie(client: Client, cookie: str, path: str = "/dashboard/inbox") -> int:
    """The status a separate browser holding only `cookie` gets for `path` (not following redirects)."""
    async with aiohttp.ClientSession() as browser:
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        async with browser.get(client.make_url(path), headers=headers, allow_redirects=False) as resp:
            return resp.status


async def test_a_cookie_copied_before_logout_is_refused_after(logged_in: Client) -> None:
    """Logout ends the session on the server: a copy of its cookie, sent from another browser, no longer works."""
    captured = logged_in.session.cookie_jar.filter_cookies(logged_in.make_url("/dashboard/"))[COOKIE].value
    assert await _page_with_cookie(logged_in, captured) == 200
    assert (await post_form(logged_in, "/dashboard/logout", {})).status == 303
    assert await _page_with_cookie(logged_in, captured) == 303
    async with aiohttp.ClientSession() as browser:
        replay = await browser.post(
            logged_in.make_url("/dashboard/inbox/1/release"),
            data={"csrf": "anything"},
            headers={"Cookie": f"{COOKIE}={captured}"},
            allow_redirects=False,
        )
        assert replay.status == 403
        assert "Your session has ended" in await replay.text()


async def test_logging_out_ends_only_that_session_and_on_every_instance(
    aiohttp_client: ClientFactory, settings: Settings, noon: FakeClock
) -> None:
    """Two logins are two sessions; logging one out at one instance ends it at the other, and not the second."""
    first, second = [
        await aiohttp_client(
            create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
        )
        for _ in range(2)
    ]
    for instance in (first, second):
        assert (await log_in(instance)).status == 303
    jar = first.session.cookie_jar.filter_cookies(first.make_url("/dashboard/"))
    mine, other = jar[COOKIE].value, second.session.cookie_jar.filter_cookies(second.make_url("/dashboard/"))[COOKIE]
    assert await _page_with_cookie(second, mine) == 200  # a session started at one instance is good at the other
    assert (await post_form(first, "/dashboard/logout", {})).status == 303
    assert await _page_with_cookie(second, mine) == 303
    assert await _page_with_cookie(first, other.value) == 200


# --- the pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("link", NAV, ids=lambda link: link.title)
async def test_every_page_of_the_navigation_renders(logged_in: Client, link: Any) -> None:
    """Each navigation entry answers 200 with its title, marked as the current page, and no caching."""
    resp = await logged_in.get(link.href)
    assert resp.status == 200
    body = await resp.text()
    assert f"<h1>{link.title}</h1>" in body
    assert f'<a href="{link.href}" aria-current="page">' in body
    assert resp.headers["Cache-Control"] == "no-store"
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy  # the dashboard's own live.js
    assert "unsafe" not in policy  # nothing inline


async def test_a_transcript_shows_badges_statuses_and_reasons_and_escapes_the_customer(logged_in: Client) -> None:
    """Messages in and out with their category, status and failure reason; a script for a name is text."""
    contact_id = await customer_writes(logged_in, text="<b>where</b> is my order?")
    app = logged_in.server.app
    now = app[keys.CLOCK]()
    async with app[keys.REPOSITORY].transaction() as conn:
        [cid] = await open_conversations(conn, [conversation_row(contact_id, "service", now)])
        await record_outbound(conn, [sent_row("wamid.out.1", contact_id, cid, now, "service")])
        [uid] = await open_conversations(conn, [conversation_row(contact_id, "utility", now)])
        template = {"type": "template", "template": {"name": "order_delivered", "language": {"code": "en"}}}
        await record_outbound(conn, [sent_row("wamid.out.2", contact_id, uid, now, "utility", template)])
    await post_webhook(logged_in, status_webhook("wamid.out.1", "read", recipient=ANA))
    error = {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}
    await post_webhook(logged_in, status_webhook("wamid.out.2", "failed", recipient=ANA, errors=[error]))

    body = await (await logged_in.get(f"/dashboard/conversations/{ANA}")).text()
    assert SCRIPT not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;where&lt;/b&gt; is my order?" in body
    assert '<span class="badge badge-service">service</span>' in body
    assert '<span class="badge badge-utility">utility</span>' in body
    assert "Service conversation opened, started by the customer" in body
    assert '<p class="status status-read">read</p>' in body
    assert "failed: error 131026: Message undeliverable" in body
    assert "Template order_delivered (en)" in body


def conversation_row(contact_id: int, category: str, now: datetime) -> dict[str, Any]:
    """A conversation's columns, opened `now` for 24 hours."""
    origin = "user_initiated" if category == "service" else "business_initiated"
    return {
        "contact_id": contact_id, "category": category, "origin": origin, "opened_at": now,
        "expires_at": now + timedelta(hours=24), "opening_wamid": None,
    }  # fmt: skip


def sent_row(
    wamid: str, contact_id: int, conversation_id: int, now: datetime, category: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An outbound message's columns as the sender records one Meta accepted."""
    payload = body or {"type": "text", "text": {"body": "It ships today."}}
    return {
        "wamid": wamid, "contact_id": contact_id, "type": payload["type"], "text": None, "body": payload,
        "conversation_id": conversation_id, "category": category, "created_at": now,
    }  # fmt: skip


async def test_conversations_are_listed_and_filtered_by_number_and_category(logged_in: Client) -> None:
    """The list shows each conversation with the customer's name; filters narrow it; a bad number is explained."""
    contact_id = await customer_writes(logged_in, name="Ana")
    app = logged_in.server.app
    now = app[keys.CLOCK]()
    async with app[keys.REPOSITORY].transaction() as conn:
        await open_conversations(conn, [conversation_row(contact_id, "utility", now)])
    body = await (await logged_in.get("/dashboard/conversations")).text()
    assert f'<a href="/dashboard/conversations/{ANA}">Ana</a>' in body
    body = await (await logged_in.get("/dashboard/conversations", params={"category": "marketing"})).text()
    assert "No conversations match these filters yet." in body
    body = await (await logged_in.get("/dashboard/conversations", params={"wa_id": f"+{ANA}"})).text()
    assert 'badge-utility">utility' in body
    body = await (await logged_in.get("/dashboard/conversations", params={"wa_id": "12ab"})).text()
    assert "“12ab” is not a WhatsApp number" in body
    resp = await logged_in.get("/dashboard/conversations/31600000000")
    assert resp.status == 404
    assert "No customer with the number 31600000000" in await resp.text()


async def test_the_inbox_lists_the_waiting_and_a_person_replies_then_releases(logged_in: Client) -> None:
    """A handed-off customer is in the inbox, unread until opened; a reply is queued; release tells them, empties it."""
    contact_id = await customer_writes(logged_in)
    await customer_writes(logged_in, "anyone?")
    await hand_off(logged_in, contact_id)
    body = await (await logged_in.get("/dashboard/inbox")).text()
    assert f'<a href="/dashboard/inbox/{ANA}#latest">&lt;script&gt;alert(1)&lt;/script&gt;</a>' in body
    assert "open until 11 Apr 2026, 12:00 UTC" in body
    assert 'aria-label="2 unread"' in body
    assert 'class="unread" title="unread messages from customers waiting for a person">2</span>' in body
    opened = await (await logged_in.get(f"/dashboard/inbox/{ANA}")).text()
    assert '<li class="bubble bubble-in" id="latest">' in opened  # the page opens at the newest message
    assert 'title="unread messages from customers waiting for a person" hidden></span>' in opened
    assert "unread" not in (await (await logged_in.get("/dashboard/inbox")).text()).split("<main>")[1]

    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/reply", {"text": "Hi, Tom here <3"})
    assert (resp.status, resp.headers["Location"]) == (303, f"/dashboard/inbox/{ANA}?done=replied#latest")
    rows: list[OutboxBase] = await outbox_rows(logged_in.server.app[keys.REPOSITORY])
    assert [(r.kind, r.payload["text"]["body"]) for r in rows] == [("reply", "Hi, Tom here <3")]
    page = await (await logged_in.get(resp.headers["Location"])).text()
    assert "Your reply is queued" in page
    assert "Hi, Tom here &lt;3" in page
    assert "waiting to be sent" in page

    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/reply", {"text": "   "})
    assert resp.status == 400
    assert "Write a message of 1 to 4096 characters." in await resp.text()

    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/release", {})
    assert resp.headers["Location"] == "/dashboard/inbox?done=released"
    body = await (await logged_in.get(resp.headers["Location"])).text()
    assert "Nobody is waiting for a person." in body
    assert "The bot answers this customer again, and tells them so if they wrote in the last 24 hours." in body
    rows = await outbox_rows(logged_in.server.app[keys.REPOSITORY])
    assert rows[-1].payload["text"]["body"] == "You're chatting with our assistant again. Type menu to see the options."
    page = await (await logged_in.get(f"/dashboard/inbox/{ANA}")).text()
    assert "the bot is answering" in page
    assert "Give the chat back to the bot" not in page


async def test_outside_the_window_the_inbox_offers_utility_templates(logged_in: Client, noon: FakeClock) -> None:
    """A day after the customer wrote, a typed reply is refused in plain words; a template with its values goes."""
    contact_id = await customer_writes(logged_in)
    await hand_off(logged_in, contact_id)
    noon.advance(hours=25)
    assert (await log_in(logged_in)).status == 303  # the session ended meanwhile
    page = await (await logged_in.get(f"/dashboard/inbox/{ANA}")).text()
    assert "The 24-hour window closed at 11 Apr 2026, 12:00 UTC" in page
    assert 'name="text"' not in page
    assert '<option value="payment_received">payment_received</option>' in page
    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/reply", {"text": "Still there?"})
    assert resp.status == 409
    assert "WhatsApp allows only a template" in await resp.text()

    page = await (await logged_in.get(f"/dashboard/inbox/{ANA}", params={"template": "payment_received"})).text()
    assert 'name="value_invoice_number"' in page
    values = {"value_customer_name": "Ana", "value_amount": "€12.00", "value_invoice_number": "INV-1"}
    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/template", {"template": "payment_received", **values})
    assert resp.status == 400
    assert "parameters lack payment_date" in await resp.text()
    values["value_payment_date"] = "10 April"
    fields = {"template": "payment_received", "send_key": "k1", **values}
    resp = await post_form(logged_in, f"/dashboard/inbox/{ANA}/template", fields)
    assert resp.headers["Location"] == f"/dashboard/inbox/{ANA}?done=template_sent#latest"  # at the newest
    assert (await post_form(logged_in, f"/dashboard/inbox/{ANA}/template", fields)).status == 303  # a double click
    rows = await outbox_rows(logged_in.server.app[keys.REPOSITORY])
    assert [(r.kind, r.template_name) for r in rows] == [("utility", "payment_received")]


async def test_templates_show_category_languages_preview_and_block(logged_in: Client) -> None:
    """Each template with its languages and a preview from its examples; a refused one can be re-enabled."""
    repository = logged_in.server.app[keys.REPOSITORY]
    async with repository.transaction() as conn:
        await policy.block_template(
            conn, name="order_delivered", language="en", error_code=132015, reason="Template paused", now=NOON
        )
    body = await (await logged_in.get("/dashboard/templates")).text()
    assert '<h2>appointment_reminder <span class="badge badge-utility">utility</span></h2>' in body
    assert "Languages: en, pt_BR" in body
    assert "Hi Aisha, order 10482 was delivered on Friday 17 April." in body
    assert "Meta refused it (error 132015): Template paused" in body
    resp = await post_form(logged_in, "/dashboard/templates/order_delivered/unblock", {"language": "en"})
    assert resp.headers["Location"] == "/dashboard/templates?done=unblocked"
    assert await repository.template_blocks() == []
    resp = await post_form(logged_in, "/dashboard/templates/no_such/unblock", {"language": "en"})
    assert resp.status == 404
    assert "No template named &#39;no_such&#39;" in await resp.text()


async def test_each_flow_is_drawn_as_a_diagram(logged_in: Client) -> None:
    """The flows page has one SVG per flow, with a node for every step, and the Mermaid text beside it."""
    flows = logged_in.server.app[CONTENT].current.flows
    body = await (await logged_in.get("/dashboard/flows")).text()
    assert body.count("<svg ") == len(flows) > 0
    for flow in flows.values():
        for step in flow.steps:
            assert f'data-node="s_{step}"' in body, step
    assert "flowchart TD" in body


async def test_the_dashboard_path_without_a_slash_goes_to_the_overview(logged_in: Client) -> None:
    """/dashboard redirects to /dashboard/, the overview."""
    resp = await logged_in.get("/dashboard")
    assert resp.status == 200
    assert "<h1>Overview</h1>" in await resp.text()


async def test_the_stylesheet_and_the_script_are_served_whole_with_their_types(logged_in: Client) -> None:
    """Read whole per request (not aiohttp's FileResponse, which left a file open when a browser left mid-request)."""
    from bot.dashboard.app import PAGES

    for path, name, kind in (("/dashboard/dashboard.css", "dashboard.css", "text/css"),
                             ("/dashboard/live.js", "live.js", "text/javascript")):  # fmt: skip
        response = await logged_in.get(path)
        assert response.status == 200
        assert response.content_type == kind
        assert response.headers["Cache-Control"] == "no-cache"
        assert await response.read() == (PAGES / name).read_bytes()
