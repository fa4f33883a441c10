"""The sandbox's media routes: Meta's media endpoints for the bot, and photos and documents sent by the customer.

For the bot, as graph.facebook.com answers them: ``POST /{version}/{phone-number-id}/media`` uploads a file
(multipart, ``messaging_product`` and ``file``) and answers its id; ``GET /{version}/{media-id}`` answers a
download URL valid five minutes with the file's type, SHA-256 and size; the URL answers the bytes only with
a bearer token; ``DELETE /{version}/{media-id}`` forgets the file. For the customer,
``POST /sandbox/users/{wa_id}/media`` (multipart: ``file``, optional ``caption`` and ``kind``) sends a
file as a phone would: the sandbox keeps it and posts a media message naming its id to ``/webhook``.
"""

from __future__ import annotations

import asyncio
import urllib.parse

import structlog
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader

from bot.errors import BotError, CloudAPIError, NotFound, ValidationError
from bot.sandbox.http import (
    SANDBOX_STATE,
    check_phone_number_id,
    check_token,
    error_response,
    meta_error,
    send_as_customer,
    webhook_url,
)
from bot.sandbox.media import FILENAME_MAX, SandboxFile, kind_of, media_message
from bot.sandbox.state import DEFAULT_NAME, ChatItem, check_wa_id, profile_name
from bot.sandbox.wire import graph_error, invalid_parameter, new_wamid

log = structlog.get_logger("bot.sandbox.media_routes")
VERSION = r"{version:v[0-9]+(?:\.[0-9]+)?}"
INLINE = frozenset({"image/jpeg", "image/png", "image/webp"})
SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/sandbox/users/{wa_id}/media", customer_sends_file)
    router.add_get("/sandbox/files/{media_id}", page_file)
    router.add_get("/sandbox/media-download/{media_id}", download)
    router.add_post(f"/sandbox/{VERSION}/{{phone_number_id}}/media", upload)
    router.add_get(f"/sandbox/{VERSION}/{{media_id:[0-9]+}}", media_info)
    router.add_delete(f"/sandbox/{VERSION}/{{media_id:[0-9]+}}", delete_media)


async def _form(request: web.Request) -> tuple[dict[str, str], tuple[bytes, str, str | None] | None]:
    """A multipart body's text fields, and its `file` part as (bytes, content type, file name)."""
    if not request.content_type.startswith("multipart/"):
        raise ValidationError("send the file as multipart/form-data with a 'file' part")
    fields: dict[str, str] = {}
    upload: tuple[bytes, str, str | None] | None = None
    # The intake middleware has read the body already (bot.edge.intake): parse it from those bytes.
    body = await request.read()
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), max(2**16, len(body)), loop=loop)  # never paused: it is all here
    stream.feed_data(body)
    stream.feed_eof()
    reader = MultipartReader(request.headers, stream)
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file":
                data = await part.read(decode=False)
                mime = part.headers.get("Content-Type", "application/octet-stream")
                upload = (bytes(data), mime, (part.filename or None) and part.filename[:FILENAME_MAX])
            else:
                fields[part.name] = (await part.text())[:4096]
    except ValueError as exc:
        raise ValidationError(f"the multipart body cannot be read: {exc}") from None
    return fields, upload


# --- the Graph API's media endpoints -------------------------------------------------------------------


async def upload(request: web.Request) -> web.Response:
    """``POST /sandbox/{version}/{phone_number_id}/media``: keep a file, answer its media id."""
    state = request.app[SANDBOX_STATE]
    try:
        check_token(request)
        check_phone_number_id(request, state)
        try:
            fields, found = await _form(request)
        except ValidationError as exc:
            raise invalid_parameter(exc.message) from None
        if fields.get("messaging_product") != "whatsapp":
            raise invalid_parameter("The parameter messaging_product is required.")
        if found is None or not found[0]:
            raise invalid_parameter("The parameter file is required.")
        data, mime, filename = found
        stored = state.shelf.put(data, fields.get("type") or mime, filename, state.clock())
    except CloudAPIError as exc:
        return meta_error(exc)
    log.info("sandbox.media_uploaded", media_id=stored.media_id, size=len(stored.data), mime_type=stored.mime_type)
    return web.json_response({"id": stored.media_id})


async def media_info(request: web.Request) -> web.Response:
    """``GET /sandbox/{version}/{media_id}``: where to download the file for five minutes, and what it is."""
    state = request.app[SANDBOX_STATE]
    try:
        check_token(request)
        found = _known(request, state.clock())
    except CloudAPIError as exc:
        return meta_error(exc)
    url = webhook_url(request).removesuffix("/webhook")
    link = f"{url}/sandbox/media-download/{found.media_id}?{urllib.parse.urlencode({'key': found.link_key})}"
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "url": link,
            "mime_type": found.mime_type,
            "sha256": found.sha256_hex,
            "file_size": str(len(found.data)),
            "id": found.media_id,
        }
    )


def _known(request: web.Request, now: object) -> SandboxFile:
    state = request.app[SANDBOX_STATE]
    media_id = request.match_info["media_id"]
    try:
        return state.shelf.link(media_id, state.clock())
    except NotFound:
        raise graph_error(
            100,
            f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            error_type="GraphMethodException",
            subcode=33,
        ) from None


async def download(request: web.Request) -> web.Response:
    """The download URL: the bytes, only with a bearer token and a link that has not expired."""
    state = request.app[SANDBOX_STATE]
    try:
        check_token(request)
        found = state.shelf.by_link(request.match_info["media_id"], request.query.get("key", ""), state.clock())
    except CloudAPIError as exc:
        return meta_error(exc)
    except NotFound as exc:
        return web.json_response({"error": {"message": exc.message, "code": 100}}, status=404)
    return web.Response(body=found.data, content_type=found.mime_type, headers=SAFE)


async def delete_media(request: web.Request) -> web.Response:
    """``DELETE /sandbox/{version}/{media_id}``: forget the file."""
    state = request.app[SANDBOX_STATE]
    try:
        check_token(request)
        _known(request, state.clock())
        state.shelf.delete(request.match_info["media_id"])
    except CloudAPIError as exc:
        return meta_error(exc)
    return web.json_response({"success": True})


# --- the customer and the chat page --------------------------------------------------------------------


async def customer_sends_file(request: web.Request) -> web.Response:
    """``POST /sandbox/users/{wa_id}/media``: the customer sends a photo, a document (or any file) with a caption."""
    state = request.app[SANDBOX_STATE]
    try:
        wa_id = check_wa_id(request.match_info["wa_id"])
        fields, found = await _form(request)
        if found is None or not found[0]:
            raise ValidationError("the 'file' part is missing or empty")
        name = profile_name(fields.get("name") or DEFAULT_NAME)
        data, mime, filename = found
        now = state.clock()
        stored = state.shelf.put(data, mime, filename, now)
        kind = fields.get("kind") or kind_of(stored.mime_type)
        body = media_message(kind, stored, fields.get("caption") or None)
    except BotError as exc:
        return error_response(exc)
    wamid = new_wamid(inbound=True)
    message = {"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())), "type": kind, kind: body}
    shown = {
        "kind": kind, "id": stored.media_id, "url": f"/sandbox/files/{stored.media_id}", "mime_type": stored.mime_type,
        "filename": stored.filename, "caption": body.get("caption"),
    }  # fmt: skip
    item = ChatItem("in", wamid, now, kind, body.get("caption"), "sent", media=shown)
    return await send_as_customer(request, wa_id, name, message, item)


async def page_file(request: web.Request) -> web.Response:
    """``GET /sandbox/files/{media_id}``: a file in the chat, for the chat page to show."""
    try:
        found = request.app[SANDBOX_STATE].shelf.get(request.match_info["media_id"])
    except NotFound as exc:
        return error_response(exc)
    # The dashboard shares this origin: no file may run script here (an SVG would), and only photos show inline.
    headers = {**SAFE, "Cache-Control": "private, max-age=3600"}
    if found.mime_type not in INLINE:
        name = urllib.parse.quote(found.filename or "file")
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return web.Response(body=found.data, content_type=found.mime_type, headers=headers)
