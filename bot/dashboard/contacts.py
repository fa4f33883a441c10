"""The dashboard's contact pages: search by name, number and tag; one contact's tags, consent and conversations.

A person may record an opt-in or opt-out that a customer gave them (on the phone, in the shop): it is
appended to the consent ledger with source `dashboard` and the note they typed as evidence, through
`storage.consent.record`, so an opt-out cancels the marketing still queued for that contact. A person may
edit a contact's name, language, time zone and tags, each field checked as an import row's is
(`bot.api.contact_input.read_edit`), and erase a contact on their request (`bot.privacy.erasure`), after
confirming by typing the number.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bot import keys
from bot.api.contact_input import read_edit
from bot.api.contacts import contact_detail, contacts_with_consent
from bot.api.request import query_text, valid_wa_id
from bot.dashboard.render import before, done, form, render
from bot.errors import NotFound
from bot.inbound.consent_keywords import record_consent
from bot.media.store import MEDIA_STORE
from bot.privacy.erasure import erase_contact
from storage.consent import OPT_IN, OPT_OUT, ConsentChange
from storage.contacts import edit_contact

routes = web.RouteTableDef()
PAGE_SIZE = 50
NOTE_MAX = 500
CONSENT_WORDS = {OPT_IN: "opted in", OPT_OUT: "opted out", "none": "never asked"}


@routes.get("/contacts")
async def contacts(request: web.Request) -> web.Response:
    """Contacts newest first, found by part of the name or number and by tag, with their marketing consent."""
    text, tag = (query_text(request, name) or "" for name in ("q", "tag"))
    text, tag = text.strip(), tag.strip()
    repository = request.config_dict[keys.REPOSITORY]
    found, states = await contacts_with_consent(repository, text or None, tag or None, PAGE_SIZE, before(request))
    return render(
        request,
        "contacts.html",
        title="Contacts",
        rows=[(c, CONSENT_WORDS[states.get(c.id or 0, "none")]) for c in found],
        q=text,
        tag=tag,
        next_before=found[-1].id if len(found) == PAGE_SIZE else None,
    )


async def _contact_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    wa_id = valid_wa_id(request.match_info["wa_id"])
    detail = await contact_detail(request.config_dict, wa_id)
    conversations = await request.config_dict[keys.REPOSITORY].list_conversations(
        wa_id=wa_id, category=None, limit=PAGE_SIZE, before=None
    )
    state = detail["consent"]["marketing"]["state"]
    return render(
        request,
        "contact.html",
        status=status,
        title=detail["name"] or wa_id,
        contact=detail,
        state=CONSENT_WORDS.get(state, state),
        history=detail["consent"]["marketing"]["history"],
        conversations=conversations,
        words=CONSENT_WORDS,
        note_max=NOTE_MAX,
        error=error,
    )


@routes.get("/contacts/{wa_id}")
async def contact(request: web.Request) -> web.Response:
    """One contact: tags, marketing consent with the whole ledger, their conversations, and the consent form."""
    return await _contact_page(request)


async def _edit_page(
    request: web.Request, fields: dict[str, str], *, status: int = 200, problems: dict[str, str] | None = None
) -> web.Response:
    detail = await contact_detail(request.config_dict, valid_wa_id(request.match_info["wa_id"]))
    return render(
        request,
        "contact_edit.html",
        status=status,
        title=f"Edit {detail['name'] or detail['wa_id']}",
        contact=detail,
        fields=fields,
        problems=problems or {},
    )


@routes.get("/contacts/{wa_id}/edit")
async def edit_form(request: web.Request) -> web.Response:
    """The contact's name, language, time zone and tags in a form."""
    detail = await contact_detail(request.config_dict, valid_wa_id(request.match_info["wa_id"]))
    fields = {key: detail.get(key) or "" for key in ("name", "language", "time_zone")}
    return await _edit_page(request, {**fields, "tags": ", ".join(detail["tags"])})


@routes.post("/contacts/{wa_id}/edit")
async def edit(request: web.Request) -> web.Response:
    """Store the edit when every field reads as an import row's would; else the form again, each error by its field."""
    fields = await form(request)
    app = request.config_dict
    found = await app[keys.REPOSITORY].contact_by_wa_id(valid_wa_id(request.match_info["wa_id"]))
    if found is None or found.id is None or found.wa_id is None:
        raise NotFound(f"no contact with wa_id {request.match_info['wa_id']}")
    edited, problems = read_edit(fields, wa_id=found.wa_id, default_zone=app[keys.SETTINGS].business_timezone)
    if edited is None:
        return await _edit_page(request, fields, status=400, problems=problems)
    async with app[keys.REPOSITORY].transaction() as conn:
        await edit_contact(conn, found.id, **asdict(edited), now=app[keys.CLOCK]())
    raise done(f"/contacts/{found.wa_id}", "contact_edited")


@routes.post("/contacts/{wa_id}/consent")
async def take_consent(request: web.Request) -> web.Response:
    """Append an opt-in or opt-out that a person took down, with their note as the evidence."""
    fields = await form(request)
    action, note = fields.get("action", ""), fields.get("note", "").strip()
    if action not in (OPT_IN, OPT_OUT) or not note or len(note) > NOTE_MAX:
        why = f"Choose opt in or opt out, and say in 1 to {NOTE_MAX} characters how the customer told you."
        return await _contact_page(request, status=400, error=why)
    repository, now = request.config_dict[keys.REPOSITORY], request.config_dict[keys.CLOCK]()
    found = await repository.contact_by_wa_id(valid_wa_id(request.match_info["wa_id"]))
    if found is None or found.id is None:
        raise NotFound(f"no contact with wa_id {request.match_info['wa_id']}")
    change = ConsentChange(found.id, action, "dashboard", {"evidence": note, "recorded_in": "dashboard"}, now)
    async with repository.transaction() as conn:
        await record_consent(repository.consent_guard, conn, [change], now)
    raise done(f"/contacts/{found.wa_id}", "consent_recorded")


async def _erase_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    detail = await contact_detail(request.config_dict, valid_wa_id(request.match_info["wa_id"]))
    history = detail["consent"]["marketing"]["history"]
    return render(
        request, "erase.html", status=status, title="Erase a contact", contact=detail, history=len(history), error=error
    )


@routes.get("/contacts/{wa_id}/erase")
async def confirm_erase(request: web.Request) -> web.Response:
    """The confirmation step: what erasing removes and keeps, and the number to type to go ahead."""
    return await _erase_page(request)


@routes.post("/contacts/{wa_id}/erase")
async def erase(request: web.Request) -> web.Response:
    """Erase the contact once the number typed matches; back to the contact list, which no longer shows them."""
    wa_id = valid_wa_id(request.match_info["wa_id"])
    typed = (await form(request)).get("confirm", "").strip().lstrip("+").replace(" ", "")
    if typed != wa_id:
        return await _erase_page(request, status=400, error="That is not this contact's number. Nothing was erased.")
    app = request.config_dict
    await erase_contact(
        app[keys.REPOSITORY], app[keys.SETTINGS].secret_key, wa_id, app[keys.CLOCK](), media=app[MEDIA_STORE]
    )
    raise done("/contacts", "contact_erased")
