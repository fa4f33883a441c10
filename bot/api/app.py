"""The admin API under /api: bearer-authenticated JSON over the conversations, messages and contacts."""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import keys
from bot.api.openapi import openapi_document
from bot.api.request import json_response
from bot.api.token import GUESSES, address_of


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


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(str(request.url.origin())))


def setup_api(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
