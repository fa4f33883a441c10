"""The dashboard's contact pages: search by name, number and tag; one contact's tags, consent ledger and chats."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.api.campaigns import CAMPAIGNER
from storage.conversation import open_conversations
from storage.models import OUTBOX
from tests.api.test_campaigns import call, contacts, promotion
from tests.dashboard.test_app import SCRIPT, client, conversation_row, customer_writes, logged_in, noon, post_form

Client = TestClient[web.Request, web.Application]
__all__ = ["client", "logged_in", "noon"]
ANA, OUT = "31612345001", "31612345003"


async def test_contacts_are_found_by_name_number_and_tag(logged_in: Client, auth: dict[str, str]) -> None:
    """The list shows each contact's tags and consent; search narrows it by part of a name or number, and by tag."""
    await contacts(logged_in, auth)
    await customer_writes(logged_in, wa_id="31699999999")  # named like a script
    page = await (await logged_in.get("/dashboard/contacts")).text()
    assert SCRIPT not in page
    assert '<a href="/dashboard/contacts/31699999999">&lt;script&gt;alert(1)&lt;/script&gt;</a>' in page
    assert '<a class="pill" href="/dashboard/contacts?tag=spring">spring</a>' in page
    assert page.count("<td>opted in</td>") == 5
    assert page.count("<td>opted out</td>") == 1
    page = await (await logged_in.get("/dashboard/contacts", params={"q": "script"})).text()
    assert page.count('href="/dashboard/contacts/3') == 1
    page = await (await logged_in.get("/dashboard/contacts", params={"q": "5511"})).text()
    assert '<a href="/dashboard/contacts/5511912345678">Ana</a>' in page
    assert page.count('href="/dashboard/contacts/3') == 0
    page = await (await logged_in.get("/dashboard/contacts", params={"tag": "autumn"})).text()
    assert '<a href="/dashboard/contacts/31612345005">31612345005</a>' in page
    assert "31612345001" not in page
    page = await (await logged_in.get("/dashboard/contacts", params={"tag": "winter"})).text()
    assert "No contacts match this search yet." in page


async def test_a_contact_page_shows_tags_consent_ledger_and_conversations(
    logged_in: Client, auth: dict[str, str]
) -> None:
    """Tags, the consent state and every ledger entry with source and evidence, and links to the chat."""
    await contacts(logged_in, auth)
    contact_id = await customer_writes(logged_in, wa_id=ANA)
    app = logged_in.server.app
    async with app[keys.REPOSITORY].transaction() as conn:
        await open_conversations(conn, [conversation_row(contact_id, "service", app[keys.CLOCK]())])
    page = await (await logged_in.get(f"/dashboard/contacts/{ANA}")).text()
    assert f"<h1>{SCRIPT}</h1>" not in page
    assert "<h1>Ana</h1>" in page  # the stored name: the profile name the customer wrote with fills only an empty one
    assert '<a class="pill" href="/dashboard/contacts?tag=spring">spring</a>' in page
    assert '<span id="consent-state">opted in</span>' in page
    assert "<td>opted in</td><td>api</td><td>evidence: form</td>" in page
    assert f'<a href="/dashboard/conversations/{ANA}">Whole chat</a>' in page
    assert '<span class="badge badge-service">service</span>' in page
    page = await (await logged_in.get(f"/dashboard/contacts/{OUT}")).text()
    assert '<span id="consent-state">opted out</span>' in page
    assert "No conversations yet." in page
    resp = await logged_in.get("/dashboard/contacts/31600000000")
    assert resp.status == 404
    assert "No contact with wa_id 31600000000" in await resp.text()


async def test_a_person_records_an_opt_out_which_cancels_queued_marketing(
    logged_in: Client, auth: dict[str, str]
) -> None:
    """The opt-out joins the ledger with source dashboard and the note; the contact's queued marketing is cancelled."""
    await contacts(logged_in, auth)
    await promotion(logged_in, auth, rate=0.001)
    app = logged_in.server.app
    await app[CAMPAIGNER].run_once()
    resp = await post_form(logged_in, f"/dashboard/contacts/{ANA}/consent", {"action": "opt_out", "note": ""})
    assert resp.status == 400
    assert "Choose opt in or opt out, and say in 1 to 500 characters" in await resp.text()
    note = {"action": "opt_out", "note": "Asked on the phone <today>"}
    resp = await post_form(logged_in, f"/dashboard/contacts/{ANA}/consent", note)
    assert resp.headers["Location"] == f"/dashboard/contacts/{ANA}?done=consent_recorded"
    _, detail = await call(logged_in, auth, "GET", f"/api/contacts/{ANA}")
    last = detail["consent"]["marketing"]["history"][-1]
    assert (last["action"], last["source"]) == ("opt_out", "dashboard")
    assert last["evidence"] == {"evidence": "Asked on the phone <today>", "recorded_in": "dashboard"}
    async with app[keys.REPOSITORY].engine.connect() as conn:
        rows = (await conn.execute(select(OUTBOX.c.recipient, OUTBOX.c.status, OUTBOX.c.last_error))).all()
    assert [(status, error["code"]) for wa_id, status, error in rows if wa_id == ANA] == [("cancelled", "opted_out")]
    assert all(status == "queued" for wa_id, status, _ in rows if wa_id != ANA)
    page = await (await logged_in.get(resp.headers["Location"])).text()
    assert '<span id="consent-state">opted out</span>' in page
    assert "evidence: Asked on the phone &lt;today&gt;; recorded in: dashboard" in page


async def test_a_consent_form_without_the_csrf_token_is_refused(logged_in: Client, auth: dict[str, str]) -> None:
    """A POST with no token records nothing."""
    await contacts(logged_in, auth)
    data = {"action": "opt_out", "note": "forged"}
    resp = await logged_in.post(f"/dashboard/contacts/{ANA}/consent", data=data, allow_redirects=False)
    assert resp.status == 403
    _, detail = await call(logged_in, auth, "GET", f"/api/contacts/{ANA}")
    assert detail["consent"]["marketing"]["state"] == "opt_in"
