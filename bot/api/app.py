"""The admin API at /api: an aiohttp sub-application of bearer-authenticated JSON, one module per resource.

`create_api()` builds it and `mount_api(app)` mounts it. Its middleware checks the bearer token on every
request but the OpenAPI document's, before the route is looked at, so an unknown path without a token
is a 401 and the API's shape cannot be probed anonymously; too many wrong tokens from one client are a
429 (`bot.api.token`). aiohttp's own refusals (404, 405, ...) come in the API's error shape too. Settings
and services are the main application's, read through `request.config_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from aiohttp import web

from bot import keys
from bot.api import (
    campaigns,
    contacts,
    conversations,
    erasure,
    handoff,
    notifications,
    numbers,
    otp,
    schedules,
    stats,
    subscriptions,
    templates,
)
from bot.api.openapi import openapi_document
from bot.api.request import client_gone, json_response
from bot.api.token import GUESSES, address_of
from bot.errors import BotError, ValidationError, http_status
from bot.secret import same_secret
from storage.repository import DatabaseUnavailable

log = structlog.get_logger("bot.api.app")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX: Final = "/api"
PUBLIC: Final = frozenset({f"{PREFIX}/openapi.json"})


def create_api() -> web.Application:
    """The API's sub-application, to be mounted at `PREFIX`; its routes are relative to it."""
    api = web.Application(middlewares=[json_errors, require_token])
    api.router.add_get("/openapi.json", openapi)
    modules = (
        conversations, otp, contacts, erasure, notifications, handoff, schedules, templates, stats, campaigns,
        subscriptions, numbers,
    )  # fmt: skip
    for module in modules:
        api.router.add_routes(module.routes)
    return api


def mount_api(app: web.Application) -> None:
    """Mount the API at /api. The bare /api is none of its routes: the main app answers it, with a plain 404."""
    app.router.add_route("*", PREFIX, _no_route)  # before the sub-application, which would demand a token
    app.add_subapp(PREFIX, create_api())


async def _no_route(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request but the OpenAPI document's needs `Authorization: Bearer $BOT_ADMIN_TOKEN`."""
    if request.path in PUBLIC:
        return await handler(request)
    guesses, address = request.config_dict[GUESSES], address_of(request)
    wait = await guesses.wait(address)
    if wait:
        return too_many_guesses(wait)
    expected = request.config_dict[keys.SETTINGS].admin_token
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not same_secret(token.strip(), expected):
        if given:  # a token was tried; a request without one guesses nothing
            await guesses.wrong(address)
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


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (no such route, method not allowed, body too large) in the API's error shape.

    An error nobody meant (a bug) is a JSON 500 with the request id, logged here once with its traceback;
    the service's own errors go on to the main app's `handle_errors`, and a client that hung up to `observe`;
    a body checked whole (`bot.api.model`) is answered here, with every wrong field under `fields`.
    """
    try:
        return await handler(request)
    except ValidationError as exc:
        if not exc.fields:
            raise
        fields = [f.as_json() for f in exc.fields]
        return json_response({"error": {"code": exc.code, "message": exc.message, "fields": fields}}, http_status(exc))
    except (BotError, DatabaseUnavailable):
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")  # "not_found", "method_not_allowed"
        response = json_response({"error": {"code": code, "message": exc.reason}}, exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:  # the edge: whatever went wrong, the caller gets the API's shape, not a trace
        if client_gone(request, exc):
            raise
        request_id = request.get(keys.REQUEST_ID)
        log.exception("api.unexpected_error", path=request.path, error=type(exc).__name__)
        message = "the service failed unexpectedly; quote the request_id when you report it"
        return json_response({"error": {"code": "internal_error", "message": message}, "request_id": request_id}, 500)


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(str(request.url.origin())))
