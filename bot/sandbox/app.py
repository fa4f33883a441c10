"""The built-in sandbox that plays Meta: a fake Graph API, a customer simulator and a chat page at /sandbox.

The bot's real Cloud API client sends to ``/sandbox/{version}/{phone_number_id}/messages`` exactly as it
would to graph.facebook.com; the sandbox answers as Meta does, enforces the customer service window and
the rate limits, and posts signed status webhooks back to the service's own ``/webhook``. The simulator
(``/sandbox/users/{wa_id}/messages``) plays the customer. Webhooks go to ``/webhook`` on the address the
request's connection was accepted on (the service's own socket), never to one the request names (its
``Host`` header): an address taken from the request would let anyone make the service post elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import structlog
from aiohttp import web

from bot import keys
from bot.engine.flow_json import flows_folder_of
from bot.errors import BotError, CloudAPIError, NotFound, ValidationError
from bot.message_templates.library import Templates
from bot.numbers.number import Number
from bot.sandbox import flow_form, media_routes, template_routes
from bot.sandbox.http import (
    SANDBOX_IO,
    SANDBOX_STATE,
    SandboxIO,
    check_phone_number_id,
    check_token,
    error_response,
    json_object,
    json_or_none,
    meta_error,
    send_as_customer,
    webhook_url,
)
from bot.sandbox.review import SANDBOX_REVIEWS, Reviews
from bot.sandbox.state import (
    DEFAULT_NAME,
    ChatItem,
    SandboxState,
    SandboxUser,
    StatusDelays,
    check_wa_id,
    customer_message,
    profile_name,
)
from bot.sandbox.wire import (
    ReadReceipt,
    SendRequest,
    encode,
    new_wamid,
    parse_send,
    status_webhook,
)
from bot.settings import Settings
from storage.contacts import find_contacts

__all__ = ["SANDBOX_IO", "SANDBOX_STATE", "SandboxIO", "SandboxState", "StatusDelays", "setup_sandbox"]

STATIC_DIR: Final = Path(__file__).parent / "static"
NAME_MAX = 256
KNOWN_CONTACTS = 50  # the newest contacts the chat list offers to chat as
log = structlog.get_logger("bot.sandbox.app")


def setup_sandbox(
    app: web.Application,
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    template_category: Callable[[str], str | None] | None = None,
    templates: Templates | None = None,
    numbers: Callable[[], Iterable[Number]] | None = None,
    flows: Path | Mapping[str, object] | None = None,
) -> None:
    """Add the sandbox's routes, its state and its ``cleanup_ctx`` to `app` (sandbox mode only).

    `template_category` tells the sandbox each template's category, as Meta knows it from the approval;
    `templates` are the approved templates themselves, so the chat shows each send filled in. The chat page
    draws the WhatsApp Flows the bot sends from the Flow JSON folder beside the `flows` folder (flows handed in
    loaded, or none: the project's).
    """
    background = SandboxIO()
    state = SandboxState(settings, clock or _utc_now, templates=templates, numbers=numbers)
    if template_category is not None:
        state.template_category = template_category
    elif templates is not None:
        state.template_category = lambda name: next((t.category for t in templates if t.name == name), None)
    reviews = Reviews()
    filed = state.template_category
    state.template_category = lambda name: reviews.category(name) or filed(name)  # Meta's review decides, once done
    app[SANDBOX_REVIEWS] = reviews
    app[SANDBOX_STATE] = state
    app[SANDBOX_IO] = background
    app.cleanup_ctx.append(background.context)
    router = app.router
    router.add_get("/sandbox", chat_page)
    router.add_get("/sandbox/", _to_chat_page)
    router.add_static("/sandbox/static", STATIC_DIR)
    # The customer routes come first: "users" would also match the Graph API's {version}.
    router.add_get("/sandbox/users", list_users)
    router.add_get("/sandbox/numbers", list_numbers)
    router.add_post("/sandbox/users/{wa_id}/messages", customer_sends)
    router.add_get("/sandbox/users/{wa_id}/messages", chat_history)
    router.add_post(r"/sandbox/{version:v[0-9]+(?:\.[0-9]+)?}/{phone_number_id}/messages", graph_send)
    template_routes.add_routes(router)
    media_routes.add_routes(router)
    folder = flows if isinstance(flows, Path) else settings.project_path("flows")
    flow_form.add_routes(app, flows_folder_of(folder))


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- the fake Graph API -----------------------------------------------------------------------------


async def graph_send(request: web.Request) -> web.Response:
    """``POST /sandbox/{version}/{phone_number_id}/messages``: accept or refuse a send as Meta would."""
    state, background = request.app[SANDBOX_STATE], request.app[SANDBOX_IO]
    try:
        check_token(request)
        number = check_phone_number_id(request, state)
        parsed = parse_send(await json_or_none(request))
        now = state.clock()
        if isinstance(parsed, ReadReceipt):
            state.mark_read(parsed.message_id, typing=parsed.typing, now=now)
            return web.json_response({"success": True})
        user, item = state.accept(parsed, new_wamid(inbound=False), now, number)
    except CloudAPIError as exc:
        log.info("sandbox.send_refused", code=exc.error_code, http_status=exc.http_status)
        return meta_error(exc)
    background.spawn(_report_statuses(state, background, webhook_url(request), user, item, parsed))
    log.debug("sandbox.send_accepted", wamid=item.wamid, type=item.type)
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": parsed.to_input, "wa_id": parsed.wa_id}],
            "messages": [{"id": item.wamid}],
        }
    )


async def _report_statuses(
    state: SandboxState,
    background: SandboxIO,
    url: str,
    user: SandboxUser,
    item: ChatItem,
    request: SendRequest,
) -> None:
    """Report sent, delivered and read in order at the configured delays; pricing rides on sent and delivered."""
    loop = asyncio.get_running_loop()
    start, delays = loop.time(), state.status_delays
    for status, after in (("sent", delays.sent), ("delivered", delays.delivered), ("read", delays.read)):
        await asyncio.sleep(max(0.0, start + after - loop.time()))
        item.advance(status)
        payload = status_webhook(
            item.phone_number_id or state.default_number,
            wamid=item.wamid,
            status=status,
            timestamp=int(state.clock().timestamp()),
            recipient_id=user.wa_id,
            pricing=item.pricing if status != "read" else None,
            callback_data=request.callback_data,
        )
        await background.deliver(url, encode(payload), state)


# --- the customer simulator -------------------------------------------------------------------------


async def customer_sends(request: web.Request) -> web.Response:
    """``POST /sandbox/users/{wa_id}/messages``: the customer sends; the bot's webhook must take it."""
    state = request.app[SANDBOX_STATE]
    try:
        wa_id = check_wa_id(request.match_info["wa_id"])
        body = await json_object(request)
        name = profile_name(body.get("name", DEFAULT_NAME))
        to = business_number(state, body.get("to"))
        now = state.clock()
        chat = known.chat if (known := state.users.get(wa_id)) else []
        if "flow" in body:  # a WhatsApp Flow submitted: Meta's nfm_reply
            message, item = flow_form.flow_answer(wa_id, chat, body["flow"], new_wamid(inbound=True), now)
        else:
            message, item = customer_message(wa_id, chat, body, new_wamid(inbound=True), now)
    except BotError as exc:
        return error_response(exc)
    return await send_as_customer(request, wa_id, name, message, item, to)


def business_number(state: SandboxState, to: object) -> str | None:
    """The business number a customer writes to (`"to"`: a hosted number's id); None: the default one."""
    if to is None:
        return None
    if not isinstance(to, str) or not state.hosts(to):
        hosted = ", ".join(n.id for n in state.hosted())
        raise ValidationError(f"to must be the id of a business number the sandbox hosts: {hosted}")
    return to


async def chat_history(request: web.Request) -> web.Response:
    """``GET /sandbox/users/{wa_id}/messages[?after=<wamid>]``: the chat, oldest first."""
    state = request.app[SANDBOX_STATE]
    try:
        wa_id = check_wa_id(request.match_info["wa_id"])
        after = request.query.get("after") or None
        user = state.users.get(wa_id)
        if user is None and after is not None:
            raise NotFound(f"no message {after!r} in the chat with {wa_id}")
        items = user.items_after(after) if user else []
    except BotError as exc:
        return error_response(exc)
    typing = user is not None and user.typing_until is not None and state.clock() < user.typing_until
    return web.json_response({"items": [item.as_json() for item in items], "typing": typing})


async def list_users(request: web.Request) -> web.Response:
    """``GET /sandbox/users``: every customer the sandbox has seen, latest chat first, then the service's contacts.

    The contacts (`bot demo`'s, imported ones: the newest 50 with a number) are customers to chat as; each
    shows its stored name and ``"known": true``.
    """
    users = sorted(
        request.app[SANDBOX_STATE].users.values(),
        key=lambda u: u.last_message_at or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    contacts = await _known_contacts(request.app)
    items = [
        {"wa_id": u.wa_id, "name": contacts.get(u.wa_id) or u.name, "last_message_at": _iso(u.last_message_at),
         "known": u.wa_id in contacts}
        for u in users
    ]  # fmt: skip
    seen = {u.wa_id for u in users}
    items += [
        {"wa_id": wa_id, "name": name, "last_message_at": None, "known": True}
        for wa_id, name in contacts.items() if wa_id not in seen
    ]  # fmt: skip
    return web.json_response({"items": items})


async def _known_contacts(app: web.Application) -> dict[str, str | None]:
    """The newest contacts with a number, by wa_id, with their stored names (none without a database)."""
    repository = app.get(keys.REPOSITORY)
    if repository is None:
        return {}
    async with repository.engine.connect() as conn:
        found = await find_contacts(conn, text=None, tag=None, limit=KNOWN_CONTACTS, before=None)
    return {c.wa_id: c.name for c in found if c.wa_id}


# --- the chat page ----------------------------------------------------------------------------------


async def list_numbers(request: web.Request) -> web.Response:
    """``GET /sandbox/numbers``: the business numbers customers may write to (`"to"`), the default first."""
    hosted = request.app[SANDBOX_STATE].hosted()
    return web.json_response({"items": [{"id": n.id, "display_number": n.display_number} for n in hosted]})


async def chat_page(request: web.Request) -> web.FileResponse:
    """``GET /sandbox``: the WhatsApp-like chat page."""
    return web.FileResponse(STATIC_DIR / "sandbox.html", headers={"Cache-Control": "no-cache"})


async def _to_chat_page(request: web.Request) -> web.Response:
    raise web.HTTPFound("/sandbox")


# --- helpers ----------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
