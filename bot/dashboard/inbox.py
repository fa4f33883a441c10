"""The dashboard's handoff inbox: customers waiting for a person, replying to them, and giving chats back.

Inside the 24-hour customer service window a person types a reply; outside it only a template may go,
so the page offers the utility templates with a field for each of their values. The rules are
`bot.inbound.handoff`'s and `bot.notifications.service`' (the same the admin API uses); this module reads forms.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from bot import keys
from bot.api.request import valid_wa_id
from bot.dashboard.pages import templates_by_name
from bot.dashboard.render import UNREAD_TOTAL, done, form, render
from bot.dashboard.view import entries, given, given_media_ids, window
from bot.errors import BotError, OutsideServiceWindow, ValidationError
from bot.inbound import handoff
from bot.message_templates.library import TEMPLATES
from bot.notifications.service import NOTIFICATIONS
from bot.notifications.utility import NotificationRequest
from bot.outbound.sender import SENDER
from storage import media, reads
from storage.models import ContactBase
from storage.session import load_sessions
from storage.timeline import timeline

routes = web.RouteTableDef()
TRANSCRIPT_TAIL = 30  # the latest entries shown above the reply form
PARAMETER = "value_"  # form fields of a template's values: value_<variable>


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.Response:
    """The customers waiting for a person, longest-waiting first, with the state of each one's window."""
    repository = request.config_dict[keys.REPOSITORY]
    waiting = await handoff.waiting(repository)
    async with repository.engine.connect() as conn:
        unread = await reads.unread(conn)
    now = request.config_dict[keys.CLOCK]()
    rows = [(w, window(w.contact.last_inbound_at, now), unread.get(w.contact.id or 0, 0)) for w in waiting]
    return render(request, "inbox.html", title="Inbox", rows=rows)


async def unread_total(request: web.Request) -> int:
    """The messages waiting customers sent that nobody has read yet: the number beside Inbox in the navigation."""
    async with request.config_dict[keys.REPOSITORY].engine.connect() as conn:
        return sum((await reads.unread(conn)).values())


async def _contact(request: web.Request) -> ContactBase:
    return await handoff.contact(request.config_dict[keys.REPOSITORY], valid_wa_id(request.match_info["wa_id"]))


async def _chat(
    request: web.Request,
    contact: ContactBase,
    *,
    status: int = 200,
    error: str | None = None,
    chosen: str | None = None,
    typed: str = "",
) -> web.Response:
    """The chat with one customer: its latest entries, then the reply or template form, and release."""
    repository = request.config_dict[keys.REPOSITORY]
    assert contact.id is not None
    async with repository.engine.connect() as conn:
        found = await timeline(conn, contact.id, limit=TRANSCRIPT_TAIL)
        session = (await load_sessions(conn, [contact.id])).get(contact.id)
        slots = (session.slots if session is not None else None) or {}
        files = await media.by_ids(conn, given_media_ids(slots))
    waiting = {w.contact.id for w in await handoff.waiting(repository)}
    templates = templates_by_name(request.config_dict[TEMPLATES], "utility")
    chosen = chosen or request.query.get("template") or None
    if chosen is not None and chosen not in templates:
        error, chosen = error or f"There is no utility template “{chosen}”. Pick one from the list.", None
    return render(
        request,
        "chat.html",
        status=status,
        title=contact.name or contact.wa_id,
        contact=contact,
        entries=entries(found, request.config_dict[TEMPLATES])[-TRANSCRIPT_TAIL:],
        given=given(slots, files),
        window=window(contact.last_inbound_at, request.config_dict[keys.CLOCK]()),
        handed_off=contact.id in waiting,
        templates=templates,
        chosen=templates.get(chosen) if chosen else None,
        parameter=PARAMETER,
        send_key=secrets.token_urlsafe(12),  # one per form shown: a double click sends once
        error=error,
        typed=typed,
    )


@routes.get("/inbox/{wa_id}")
async def chat(request: web.Request) -> web.Response:
    """The chat, opened at its newest message; what it shows is read from now on (the unread counts drop)."""
    contact = await _contact(request)
    assert contact.id is not None
    async with request.config_dict[keys.REPOSITORY].transaction() as conn:
        await reads.mark_read(conn, contact.id, request.config_dict[keys.CLOCK]())
    request[UNREAD_TOTAL] = await unread_total(request)
    return await _chat(request, contact)


@routes.post("/inbox/{wa_id}/reply")
async def reply(request: web.Request) -> web.Response:
    """A person's free-form reply; outside the window the page says so and offers templates instead."""
    contact = await _contact(request)
    typed = (await form(request)).get("text", "")
    try:
        text = handoff.reply_text(typed)
        now = request.config_dict[keys.CLOCK]()
        await handoff.agent_reply(request.config_dict[keys.REPOSITORY], contact, text, now)
    except OutsideServiceWindow:
        why = "More than 24 hours have passed since the customer last wrote, so WhatsApp allows only a template."
        return await _chat(request, contact, status=409, error=why, typed=typed)
    except ValidationError:
        why = f"Write a message of 1 to {handoff.TEXT_MAX} characters."
        return await _chat(request, contact, status=400, error=why, typed=typed)
    request.config_dict[SENDER].wake()
    raise done(f"/inbox/{contact.wa_id}", "replied", anchor="latest")


@routes.post("/inbox/{wa_id}/template")
async def send_template(request: web.Request) -> web.Response:
    """A utility template with the values the person filled in, now."""
    contact = await _contact(request)
    fields = await form(request)
    name = fields.get("template", "")
    values = {key.removeprefix(PARAMETER): value.strip() for key, value in fields.items() if key.startswith(PARAMETER)}
    assert contact.wa_id is not None
    notification = NotificationRequest(
        wa_id=contact.wa_id,
        template=name,
        parameters={key: value for key, value in values.items() if value},
        language=fields.get("language") or None,
        idempotency_key=f"dashboard:{fields.get('send_key') or secrets.token_urlsafe(12)}",
    )
    try:
        await request.config_dict[NOTIFICATIONS].notify(notification)
    except BotError as exc:
        why = f"The template was not sent: {exc.message}."
        return await _chat(request, contact, status=400, error=why, chosen=name or None)
    raise done(f"/inbox/{contact.wa_id}", "template_sent", anchor="latest")


@routes.post("/inbox/{wa_id}/release")
async def release(request: web.Request) -> web.Response:
    """Give the chat back to the bot, which tells the customer so and starts afresh on their next message."""
    contact = await _contact(request)
    now, library = request.config_dict[keys.CLOCK](), request.config_dict[TEMPLATES]
    released = await handoff.release(request.config_dict[keys.REPOSITORY], contact, now, library)
    request.config_dict[SENDER].wake()
    raise done("/inbox", "released" if released else "not_handed_off")
