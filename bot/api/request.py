"""What every admin API handler shares: JSON answers, and reading bodies, paging and ids with a 400 naming the field."""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.errors import BodyTimeout, BodyTooLarge, IncompleteBody, ValidationError
from bot.field import MAX_ID, check_text, read_json, row_id, whole_number

_WA_ID = re.compile(r"^[0-9]{6,15}$")  # ASCII digits: \d would take Arabic-Indic ones too
MAX_TEXT = 255


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


dumps = partial(json.dumps, default=_default)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def client_gone(request: web.Request, error: BaseException) -> bool:
    """Whether `error` is the client hanging up (its connection closed), not a fault of the service."""
    if not isinstance(error, ConnectionResetError | asyncio.CancelledError):
        return False
    return request.transport is None or request.transport.is_closing()


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, its text checked (`bot.field.read_json`), or a `ValidationError` saying why not."""
    body = read_json(await request.read())
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    return body


async def read_body(request: web.Request, *, limit: int, stall: float) -> bytearray:
    """The whole request body, read as it arrives: at most `limit` bytes, each piece within `stall` seconds.

    aiohttp's `request.content.read(n)` returns what has arrived so far, not n bytes; this reads to the
    body's real end (its Content-Length, or the last chunk of a chunked body). A body that ends early
    (the client went away) is an `IncompleteBody`, never a shorter body; one over `limit` (declared or
    sent) a `BodyTooLarge`; one that stalls a `BodyTimeout`. The app's `client_max_size` is not applied:
    it bounds only `request.read()`, `json()` and `post()`, and routes that read this way set their own.
    """
    megabytes = f"{limit / 2**20:g} MB"
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body is {request.content_length:,} bytes, over this route's limit of {megabytes}")
    body = bytearray()
    while True:
        try:
            async with asyncio.timeout(stall):
                piece = await request.content.readany()
        except TimeoutError:
            raise BodyTimeout(
                f"no part of the body arrived for {stall:g} s after {len(body):,} bytes; nothing was stored"
            ) from None
        except (OSError, HttpProcessingError) as exc:
            reason = exc.message if isinstance(exc, HttpProcessingError) else "the connection was lost"
            raise IncompleteBody(
                f"the body ended early after {len(body):,} bytes ({reason}); nothing was stored"
            ) from None
        if not piece:
            return body
        body += piece
        if len(body) > limit:
            raise BodyTooLarge(f"the body is over this route's limit of {megabytes}; nothing was stored")


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
    """`?limit=` (1 to 1000, default 100) and the `?before=` cursor (a row id), each a 400 naming it when wrong."""
    limit = whole_number(request.query.get("limit", "100"), "limit", 1, 1000)
    before = request.query.get("before")
    if before is None:
        return limit, None
    return limit, whole_number(before, "before", 1, MAX_ID)


def query_text(request: web.Request, name: str, max_length: int = MAX_TEXT) -> str | None:
    """A search text of the query string (`?q=`), None when empty; NUL, surrogates or an overlong one are a 400."""
    value = request.query.get(name) or None
    if value is not None and len(value) > max_length:
        raise ValidationError(f"{name} must be at most {max_length} characters")
    return check_text(value, name) if value is not None else None


def page_of(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


def path_id(request: web.Request, what: str) -> int:
    """The `{id}` of the path as a row id; anything else is a `ValidationError` naming what it identifies."""
    value = row_id(request.match_info["id"])
    if value is None:
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
