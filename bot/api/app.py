"""The admin API under /api: bearer-authenticated JSON over the conversations, messages and contacts."""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web

from bot import keys
from bot.api.openapi import openapi_document
from bot.api.token import GUESSES, address_of
from bot.errors import ValidationError
from bot.otp.service import OTP
from bot.whatsapp.category import CATEGORIES

_WA_ID = re.compile(r"^\d{6,15}$")
MAX_TEXT = 255


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
        guesses, address = request.app[GUESSES], address_of(request)
        wait = guesses.wait(address)
        if wait:
            return too_many_guesses(wait)
        expected = request.app[keys.SETTINGS].admin_token
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            if given:  # a token was tried; a request without one guesses nothing
                guesses.wrong(address)
            return json_response(
                {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <BOT_ADMIN_TOKEN>"}},
                status=401,
            )
    return await handler(request)


def too_many_guesses(wait: float) -> web.Response:
    """429 for an address that sent too many wrong admin tokens (`bot.api.token`), with when to try again."""
    seconds = math.ceil(wait)
    message = f"too many wrong admin tokens from this address; try again in {seconds} s"
    response = json_response({"error": {"code": "too_many_attempts", "message": message}}, status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a `ValidationError` saying the body must be one."""
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str | None:
    """A one-line text field of a JSON body, stripped; None when absent and not required."""
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be non-empty text")
    if len(value) > max_length or "\n" in value or "\t" in value:
        raise ValidationError(f"{name} must be one line of at most {max_length} characters")
    return value.strip()


def required_text(body: dict[str, Any], name: str, max_length: int = MAX_TEXT) -> str:
    """A one-line text field the body must have."""
    value = text_field(body, name, required=True, max_length=max_length)
    assert value is not None
    return value


def template_parameters(body: dict[str, Any]) -> dict[str, str]:
    """A template's `parameters` object: variable names to text or numbers, read as text."""
    value = body.get("parameters", {})
    if not isinstance(value, dict):
        raise ValidationError("parameters must be an object of variable names to values")
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValidationError(f"parameter {name!r} must be text or a number")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"parameter {name!r} must be a finite number")
    return {name: str(item) for name, item in value.items()}


def paging(request: web.Request) -> tuple[int, int | None]:
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


MAX_ID = 2**31 - 1  # id columns are 32-bit integers on PostgreSQL


def path_id(request: web.Request, what: str) -> int:
    """The `{id}` of the path as a row id; anything else is a `ValidationError` naming what it identifies."""
    try:
        value = int(request.match_info["id"])
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ID:
        raise ValidationError(f"the {what} id must be a whole number from 1 to {MAX_ID}")
    return value


def valid_wa_id(value: object, name: str = "wa_id") -> str:
    """A WhatsApp number given as text; anything else is a `ValidationError` naming the field."""
    if value is None:
        raise ValidationError(f"{name} is required")
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be given as a string of 6 to 15 digits")
    if not _WA_ID.match(value):
        raise ValidationError(f"{name} {value!r} is not a WhatsApp number (6 to 15 digits, no +)")
    return value


def page_of(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


async def list_conversations(request: web.Request) -> web.Response:
    category = request.query.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    limit, before = paging(request)
    items = await request.app[keys.REPOSITORY].list_conversations(
        wa_id=_wa_id(request.query.get("wa_id")), category=category, limit=limit, before=before
    )
    return json_response(page_of(items, limit))


async def list_messages(request: web.Request) -> web.Response:
    direction = request.query.get("direction")
    if direction is not None and direction not in ("in", "out"):
        raise ValidationError(f"direction {direction!r} must be 'in' or 'out'")
    limit, before = paging(request)
    items = await request.app[keys.REPOSITORY].list_messages(
        wa_id=_wa_id(request.query.get("wa_id")), direction=direction, limit=limit, before=before
    )
    return json_response(page_of(items, limit))


_CODE_MAX = 32  # far above six digits with spaces; a longer "code" is not a typing slip


async def _json_object(request: web.Request, fields: tuple[str, ...]) -> dict[str, str]:
    """The body as a JSON object whose `fields` are all present strings; anything else is a 400."""
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    bad = [name for name in fields if not isinstance(body.get(name), str)]
    if bad:
        raise ValidationError(f"{', '.join(bad)} must be given as string(s)")
    return {name: body[name] for name in fields}


async def request_otp(request: web.Request) -> web.Response:
    """Send a one-time code; the answer is the same whether or not the number was known."""
    body = await _json_object(request, ("wa_id", "purpose"))
    wa_id = _wa_id(body["wa_id"])
    assert wa_id is not None
    await request.app[OTP].request_code(wa_id, body["purpose"])
    return json_response({"status": "sent"}, 202)


async def verify_otp(request: web.Request) -> web.Response:
    """Check a one-time code: `{"verified": bool}` and nothing about why not."""
    body = await _json_object(request, ("wa_id", "purpose", "code"))
    wa_id = _wa_id(body["wa_id"])
    assert wa_id is not None
    if len(body["code"]) > _CODE_MAX:
        raise ValidationError(f"code must be at most {_CODE_MAX} characters")
    verified = await request.app[OTP].verify_code(wa_id, body["purpose"], body["code"])
    return json_response({"verified": verified})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(str(request.url.origin())))


def setup_api(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/conversations", list_conversations)
    app.router.add_get("/api/messages", list_messages)
    app.router.add_post("/api/otp", request_otp)
    app.router.add_post("/api/otp/verify", verify_otp)
