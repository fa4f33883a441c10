"""What the sandbox's routes share: state and I/O, Meta's bearer check and error bodies, the way back to /webhook.

Webhooks go to ``/webhook`` on the address the request's connection was accepted on (the service's own
socket), never to one the request names (its ``Host`` header): an address taken from the request would let
anyone make the service post elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Final

import aiohttp
import structlog
from aiohttp import web

from bot.errors import BotError, CloudAPIError, ValidationError, http_status
from bot.sandbox.state import ChatItem, SandboxState
from bot.sandbox.wire import encode, graph_error, inbound_webhook
from bot.whatsapp.signature import HEADER, sign

log = structlog.get_logger("bot.sandbox.http")


class SandboxIO:
    """The sandbox's I/O resources: one client session, and the status tasks it spawned (kept until done)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """The ``cleanup_ctx`` generator: open the session; on shutdown cancel and await every task, then close."""
        async with aiohttp.ClientSession() as session:
            self._session = session
            try:
                yield
            finally:
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
                self._session = None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("sandbox.task_failed", error=repr(error), exc_info=error)

    async def post(self, url: str, body: bytes, state: SandboxState) -> tuple[int, str]:
        """POST a webhook body signed as Meta signs it; returns the status and the answer's text."""
        if self._session is None:
            raise RuntimeError("the sandbox's client session is not open; is the app running?")
        headers = {"Content-Type": "application/json", HEADER: sign(state.settings.app_secret, body)}
        client_timeout = aiohttp.ClientTimeout(total=state.webhook_timeout)
        async with self._session.post(url, data=body, headers=headers, timeout=client_timeout) as response:
            return response.status, await response.text()

    async def deliver(self, url: str, body: bytes, state: SandboxState) -> None:
        """POST a status webhook, retrying with backoff as Meta does; log the failure, never raise it."""
        delays = (0.0, *state.webhook_retry_delays)
        outcome = ""
        for attempt, delay in enumerate(delays, start=1):
            await asyncio.sleep(delay)
            try:
                status, _ = await self.post(url, body, state)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
            else:
                if status == 200:
                    return
                outcome = f"HTTP {status}"
            log.debug("sandbox.webhook_retry", url=url, attempt=attempt, outcome=outcome)
        log.warning("sandbox.webhook_failed", url=url, attempts=len(delays), outcome=outcome)


SANDBOX_STATE: Final = web.AppKey("sandbox_state", SandboxState)
SANDBOX_IO: Final = web.AppKey("sandbox_io", SandboxIO)


def check_token(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise graph_error(190, "Invalid OAuth access token - Cannot parse access token", http_status=401)


def check_phone_number_id(request: web.Request, state: SandboxState) -> str:
    """The path's business number, when the sandbox hosts it; else Meta's error for an unknown object."""
    phone_number_id = request.match_info["phone_number_id"]
    if not state.hosts(phone_number_id):
        raise graph_error(
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation. Please read the Graph API documentation at "
            "https://developers.facebook.com/docs/graph-api",
            error_type="GraphMethodException",
            subcode=33,
        )
    return phone_number_id


def meta_error(exc: CloudAPIError) -> web.Response:
    headers = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{exc.message}"'
    return web.json_response(exc.raw, status=exc.http_status or 400, headers=headers)


def webhook_url(request: web.Request) -> str:
    """``/webhook`` on the local address of the connection the request came in on: this service itself."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        raise web.HTTPServiceUnavailable(text="the connection closed before the sandbox could answer")
    host, port = sockname[0], sockname[1]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/webhook"


async def json_or_none(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await json_or_none(request)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    return body


def error_response(exc: BotError) -> web.Response:
    return json_error(http_status(exc), exc.code, exc.message)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def send_as_customer(
    request: web.Request, wa_id: str, name: str, message: dict[str, Any], item: ChatItem, to: str | None = None
) -> web.Response:
    """Record the customer's message to business number `to` (None: the default), post it to ``/webhook``
    signed as Meta would, and answer its wamid."""
    state, background = request.app[SANDBOX_STATE], request.app[SANDBOX_IO]
    now = state.clock()
    user = state.user(wa_id, now)
    user.name = name
    number = to or state.default_number
    # Recorded before the webhook is posted: the bot may answer (and the answer be recorded) before it returns.
    state.receive(user, item, now, number)
    payload = inbound_webhook(number, name=name, wa_id=wa_id, message=message)
    url = webhook_url(request)
    try:
        status, text = await background.post(url, encode(payload), state)
    except (aiohttp.ClientError, TimeoutError) as exc:
        item.advance("failed")
        return json_error(502, "webhook_failed", f"the webhook at {url} could not be reached ({type(exc).__name__})")
    if status != 200:
        item.advance("failed")
        return json_error(502, "webhook_failed", f"the webhook answered HTTP {status}: {text[:500]}")
    item.advance("delivered")
    log.info("sandbox.customer_sent", wamid=item.wamid, type=item.type)
    return web.json_response({"wamid": item.wamid})
