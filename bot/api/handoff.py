"""The handoff routes of the admin API: the inbox, replies typed by an agent, and releasing a chat to the bot.

The rules (the service window, queueing, release) are `bot.inbound.handoff`'s, shared with the dashboard's inbox;
this module reads requests and writes JSON. While a chat is handed off the bot stays silent for that contact.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import keys
from bot.api.handoff_model import AgentReply
from bot.api.model import validated
from bot.api.request import json_body, json_response, paging, valid_wa_id
from bot.inbound import handoff
from bot.message_templates.library import TEMPLATES
from bot.outbound.sender import SENDER
from bot.whatsapp.category import service_window_expires_at


async def agent_reply(request: web.Request) -> web.Response:
    """`POST /api/conversations/{wa_id}/reply {"text"}`: an agent's message, inside the service window only."""
    repository = request.config_dict[keys.REPOSITORY]
    contact = await handoff.contact(repository, valid_wa_id(request.match_info["wa_id"]))
    text = handoff.reply_text(validated(AgentReply, await json_body(request)).text)
    await handoff.agent_reply(repository, contact, text, request.config_dict[keys.CLOCK]())
    request.config_dict[SENDER].wake()
    return json_response({"queued": True, "window_closes_at": service_window_expires_at(contact.last_inbound_at)}, 202)


async def release(request: web.Request) -> web.Response:
    """`POST /api/conversations/{wa_id}/release`: the bot answers this contact again (from the menu), and says so."""
    repository = request.config_dict[keys.REPOSITORY]
    contact = await handoff.contact(repository, valid_wa_id(request.match_info["wa_id"]))
    now, library = request.config_dict[keys.CLOCK](), request.config_dict[TEMPLATES]
    released = await handoff.release(repository, contact, now, library)
    request.config_dict[SENDER].wake()
    return json_response({"wa_id": contact.wa_id, "released": released})


async def inbox(request: web.Request) -> web.Response:
    """`GET /api/handoffs`: the contacts waiting for a person, a page at a time, newest contact first.

    Paged by contact id (`?limit=`, `?before=<contact_id>`, answer `next_before`), as the other lists are;
    `since` says how long each has waited. The dashboard's inbox shows the longest-waiting first.
    """
    limit, before = paging(request)
    waiting, following = await handoff.waiting_page(request.config_dict[keys.REPOSITORY], limit, before)
    items: list[dict[str, Any]] = [
        {"contact_id": w.contact.id, "wa_id": w.contact.wa_id, "name": w.contact.name, "since": w.since}
        for w in waiting
    ]
    return json_response({"items": items, "next_before": following})


routes = (
    web.get("/handoffs", inbox),
    web.post("/conversations/{wa_id}/reply", agent_reply),
    web.post("/conversations/{wa_id}/release", release),
)
