"""The admin API under /api: bearer-authenticated JSON over the conversations, messages and contacts."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web

from bot import keys
from bot.category import CATEGORIES
from bot.errors import NotFound, ValidationError
from bot.openapi import openapi_document

_WA_ID = re.compile(r"^\d{6,15}$")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


dumps = partial(json.dumps, default=_default)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


@web.middleware
async def require_token(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every /api route but the OpenAPI document needs `Authorization: Bearer $BOT_ADMIN_TOKEN`."""
    if request.path.startswith("/api/") and request.path != "/api/openapi.json":
        expected = request.app[keys.SETTINGS].admin_token
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            return json_response(
                {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <BOT_ADMIN_TOKEN>"}},
                status=401,
            )
    return await handler(request)


def _limit(request: web.Request) -> tuple[int, int | None]:
    try:
        limit = int(request.query.get("limit", "100"))
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        raise ValidationError("limit and before must be whole numbers") from None
    if not 1 <= limit <= 1000:
        raise ValidationError("limit must be between 1 and 1000")
    return limit, before


def _wa_id(value: str | None) -> str | None:
    if value is not None and not _WA_ID.match(value):
        raise ValidationError(f"wa_id {value!r} is not a WhatsApp number (6 to 15 digits, no +)")
    return value


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


async def list_conversations(request: web.Request) -> web.Response:
    category = request.query.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    limit, before = _limit(request)
    items = await request.app[keys.REPOSITORY].list_conversations(
        wa_id=_wa_id(request.query.get("wa_id")), category=category, limit=limit, before=before
    )
    return json_response(_page(items, limit))


async def list_messages(request: web.Request) -> web.Response:
    direction = request.query.get("direction")
    if direction is not None and direction not in ("in", "out"):
        raise ValidationError(f"direction {direction!r} must be 'in' or 'out'")
    limit, before = _limit(request)
    items = await request.app[keys.REPOSITORY].list_messages(
        wa_id=_wa_id(request.query.get("wa_id")), direction=direction, limit=limit, before=before
    )
    return json_response(_page(items, limit))


async def get_contact(request: web.Request) -> web.Response:
    wa_id = _wa_id(request.match_info["wa_id"])
    assert wa_id is not None
    contact = await request.app[keys.REPOSITORY].contact_by_wa_id(wa_id)
    if contact is None:
        raise NotFound(f"no contact with wa_id {wa_id}")
    data = contact.model_dump(exclude={"id"})
    data["tags"] = data.get("tags") or []
    data["consent"] = {"marketing": {"state": "unknown", "history": []}}
    return json_response(data)


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(str(request.url.origin())))


def setup_api(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/conversations", list_conversations)
    app.router.add_get("/api/messages", list_messages)
    app.router.add_get("/api/contacts/{wa_id}", get_contact)
