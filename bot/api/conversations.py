"""`GET /api/conversations` and `GET /api/messages`: the records of who talked, in which category, newest first."""

from __future__ import annotations

from aiohttp import web

from bot import keys
from bot.api.request import json_response, page_of, paging, valid_wa_id
from bot.errors import ValidationError
from bot.whatsapp.category import CATEGORIES


def _wa_id(request: web.Request) -> str | None:
    """The `wa_id` filter: absent, or a WhatsApp number."""
    value = request.query.get("wa_id")
    return None if value is None else valid_wa_id(value)


async def list_conversations(request: web.Request) -> web.Response:
    category = request.query.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    limit, before = paging(request)
    items = await request.config_dict[keys.REPOSITORY].list_conversations(
        wa_id=_wa_id(request), category=category, limit=limit, before=before
    )
    return json_response(page_of(items, limit))


async def list_messages(request: web.Request) -> web.Response:
    direction = request.query.get("direction")
    if direction is not None and direction not in ("in", "out"):
        raise ValidationError(f"direction {direction!r} must be 'in' or 'out'")
    limit, before = paging(request)
    items = await request.config_dict[keys.REPOSITORY].list_messages(
        wa_id=_wa_id(request), direction=direction, limit=limit, before=before
    )
    return json_response(page_of(items, limit))


routes = (
    web.get("/conversations", list_conversations),
    web.get("/messages", list_messages),
)
