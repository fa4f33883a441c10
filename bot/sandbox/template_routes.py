"""The sandbox's template routes: Meta's template API for `bot templates push` and `sync`, and the number's record.

`POST /sandbox/{version}/{waba_id}/message_templates` takes a template for review (answered PENDING);
`POST /sandbox/{version}/{template_id}` takes an edit; `GET …/message_templates` lists them;
`GET /sandbox/{version}/{phone_number_id}` reads the number's quality and tier. The verdict
(`bot.sandbox.review`) comes later, as Meta's does, in signed webhooks to the service's own `/webhook`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from bot.errors import CloudAPIError
from bot.sandbox import media_routes
from bot.sandbox.http import SANDBOX_IO, SANDBOX_STATE, check_token, json_or_none, meta_error, webhook_url
from bot.sandbox.review import SANDBOX_REVIEWS, HeldTemplate, problem, verdict_webhooks
from bot.sandbox.wire import encode, graph_error

log = structlog.get_logger("bot.sandbox.template_routes")
VERSION = r"{version:v[0-9]+(?:\.[0-9]+)?}"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(f"/sandbox/{VERSION}/{{account_id}}/message_templates", submit)
    router.add_get(f"/sandbox/{VERSION}/{{account_id}}/message_templates", list_templates)
    router.add_post(f"/sandbox/{VERSION}/{{object_id:[0-9]+}}", edit)
    # Before the media routes: a number or a template id is answered here, any other id is a media file's.
    router.add_get(f"/sandbox/{VERSION}/{{media_id:[0-9]+}}", read_object)


def _unknown(object_id: str) -> CloudAPIError:
    return graph_error(
        100, f"Unsupported request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation", error_type="GraphMethodException", subcode=33,
    )  # fmt: skip


def _check_account(request: web.Request) -> None:
    check_token(request)
    account_id = request.match_info["account_id"]
    if account_id != request.app[SANDBOX_STATE].settings.business_account_id:
        raise _unknown(account_id)


async def submit(request: web.Request) -> web.Response:
    """Take a new template for review, as Meta does: answered PENDING with its id; the verdict comes by webhook."""
    reviews = request.app[SANDBOX_REVIEWS]
    try:
        _check_account(request)
        document = await json_or_none(request)
        if (why := problem(document)) is not None:
            raise graph_error(100, f"Invalid parameter: {why}")
        if reviews.find(document["name"], document["language"]) is not None:
            message = f'Message template "{document["name"]}" already exists in {document["language"]}'
            raise graph_error(100, message, subcode=2388024)
    except CloudAPIError as exc:
        return meta_error(exc)
    held = reviews.submit(document)
    _review_later(request, held)
    return web.json_response({"id": held.id, "status": held.status, "category": held.category})


async def edit(request: web.Request) -> web.Response:
    """Take a changed template (components, category) for review again."""
    reviews = request.app[SANDBOX_REVIEWS]
    try:
        check_token(request)
        held = reviews.by_id.get(request.match_info["object_id"])
        if held is None:
            raise _unknown(request.match_info["object_id"])
        document = await json_or_none(request)
        merged: dict[str, Any] = {"name": held.name, "language": held.language, "category": held.category, "components":
                  held.components} | (document if isinstance(document, dict) else {"components": None})  # fmt: skip
        if (why := problem(merged)) is not None:
            raise graph_error(100, f"Invalid parameter: {why}")
    except CloudAPIError as exc:
        return meta_error(exc)
    held.components, held.category, held.status = list(merged["components"]), str(merged["category"]).upper(), "PENDING"
    _review_later(request, held)
    return web.json_response({"success": True, "id": held.id})


async def list_templates(request: web.Request) -> web.Response:
    """Every held template with its status and category, on one page."""
    try:
        _check_account(request)
    except CloudAPIError as exc:
        return meta_error(exc)
    data = [t.as_json() for t in request.app[SANDBOX_REVIEWS].by_id.values()]
    return web.json_response({"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}})


async def read_object(request: web.Request) -> web.Response:
    """The number's record (quality and tier), a held template, or else a media file's record, by id."""
    state = request.app[SANDBOX_STATE]
    object_id = request.match_info["media_id"]
    try:
        check_token(request)
        if object_id == state.settings.phone_number_id:
            return web.json_response({
                "id": object_id, "display_phone_number": "+1 555-078-3881", "quality_rating": state.quality_rating,
                "messaging_limit_tier": state.messaging_limit_tier,
            })  # fmt: skip
    except CloudAPIError as exc:
        return meta_error(exc)
    held = request.app[SANDBOX_REVIEWS].by_id.get(object_id)
    return web.json_response(held.as_json()) if held is not None else await media_routes.media_info(request)


def _review_later(request: web.Request, held: HeldTemplate) -> None:
    """After the review's delay, decide and tell the service through its webhook, retried as Meta retries."""
    app, url = request.app, webhook_url(request)

    async def decide() -> None:
        state, reviews, background = app[SANDBOX_STATE], app[SANDBOX_REVIEWS], app[SANDBOX_IO]
        await asyncio.sleep(reviews.delay)
        verdict = reviews.decide(held)
        log.info("sandbox.template_reviewed", name=held.name, status=verdict.status, category=verdict.category)
        account_id = state.settings.business_account_id or ""
        for payload in verdict_webhooks(account_id, held, verdict, int(state.clock().timestamp())):
            await background.deliver(url, encode(payload), state)

    app[SANDBOX_IO].spawn(decide())
