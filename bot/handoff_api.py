"""A person takes over a chat: the handoff inbox, replies typed by an agent, and releasing it back to the bot.

An agent's reply is a free-form message, so it may go only inside the customer service window (24 hours
after the customer's last message); outside it the API refuses with the time the window closed and
points to templates. While a chat is handed off the bot stays silent for that contact.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from bot import keys
from bot.api import json_body, json_response, valid_wa_id
from bot.category import service_window_expires_at, service_window_open
from bot.errors import NotFound, OutsideServiceWindow, ValidationError
from bot.message import text_message
from storage import session
from storage.conversation import contacts_by_ids
from storage.models import ContactBase
from storage.outbox import NewMessage, enqueue

log = structlog.get_logger("bot.handoff_api")
TEXT_MAX = 4096


async def _contact(request: web.Request) -> ContactBase:
    wa_id = valid_wa_id(request.match_info["wa_id"])
    contact = await request.app[keys.REPOSITORY].contact_by_wa_id(wa_id)
    if contact is None or contact.id is None:
        raise NotFound(f"no contact with wa_id {wa_id}")
    return contact


async def agent_reply(request: web.Request) -> web.Response:
    """`POST /api/conversations/{wa_id}/reply {"text"}`: an agent's message, inside the service window only."""
    contact = await _contact(request)
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
        raise ValidationError(f"text must be a non-empty message of at most {TEXT_MAX} characters")
    now = request.app[keys.CLOCK]()
    if not service_window_open(contact.last_inbound_at, now):
        closed = service_window_expires_at(contact.last_inbound_at)
        when = f"closed at {closed.isoformat()}" if closed else "never opened (the customer has not written)"
        raise OutsideServiceWindow(
            f"the customer service window {when}: a free-form reply cannot be sent; "
            "send a template with POST /api/notifications instead"
        )
    assert contact.id is not None
    assert contact.wa_id is not None
    message = NewMessage("reply", contact.id, contact.wa_id, text_message(contact.wa_id, text.strip()), now)
    async with request.app[keys.REPOSITORY].transaction() as conn:
        await enqueue(conn, [message], now)
    request.app[keys.SENDER].wake()
    log.info("handoff.agent_replied", wa_id=contact.wa_id)
    return json_response({"queued": True, "window_closes_at": service_window_expires_at(contact.last_inbound_at)}, 202)


async def release(request: web.Request) -> web.Response:
    """`POST /api/conversations/{wa_id}/release`: the bot answers this contact again (from the menu)."""
    contact = await _contact(request)
    assert contact.id is not None
    now = request.app[keys.CLOCK]()
    async with request.app[keys.REPOSITORY].transaction() as conn:
        released = await session.release(conn, contact.id, now)
    log.info("handoff.released", wa_id=contact.wa_id, was_handed_off=released)
    return json_response({"wa_id": contact.wa_id, "released": released})


async def inbox(request: web.Request) -> web.Response:
    """`GET /api/handoffs`: the contacts waiting for a person, longest-waiting first."""
    repository = request.app[keys.REPOSITORY]
    async with repository.engine.connect() as conn:
        waiting = await session.handed_off(conn)
        contacts = await contacts_by_ids(conn, [cid for cid, _ in waiting])
    items: list[dict[str, Any]] = [
        {"wa_id": contacts[cid].wa_id, "name": contacts[cid].name, "since": since}
        for cid, since in waiting
        if cid in contacts
    ]
    return json_response({"items": items})


def setup_handoff_api(app: web.Application) -> None:
    app.router.add_get("/api/handoffs", inbox)
    app.router.add_post("/api/conversations/{wa_id}/reply", agent_reply)
    app.router.add_post("/api/conversations/{wa_id}/release", release)
