"""Meta's webhook: the verification handshake and signed notifications, stored before they are acknowledged.

A signed body whose envelope reads (a JSON object with a list of entries) is stored and answered 200 even
when some of its entries, changes or items cannot be read: those are stored as notices beside the good
ones, since a 400 would lose the good ones and Meta would retry the same bad body for days.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import structlog
from aiohttp import web

from bot import keys
from bot.errors import MalformedPayload, StorageUnavailable
from bot.inbound.ingest import INGESTOR
from bot.numbers.number import NUMBERS
from bot.secret import same_secret
from bot.whatsapp.signature import HEADER, verify
from bot.whatsapp.webhook_parser import InboundMessage, parse_payload, unreadable_paths
from storage.inbox import Delivery
from storage.repository import DatabaseUnavailable

log = structlog.get_logger("bot.inbound.webhook")

# Meta sends up to 3 MB per POST; leave room above it so a full batch is never refused.
MAX_BODY = 8 * 1024 * 1024


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def verify_subscription(request: web.Request) -> web.Response:
    """GET /webhook: answer Meta's handshake with the challenge when the verify token matches."""
    settings = request.app[keys.SETTINGS]
    mode = request.query.get("hub.mode")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge", "")
    if mode == "subscribe" and same_secret(token, settings.verify_token):
        log.info("webhook.verified")
        return web.Response(text=challenge)
    log.warning("webhook.verification_refused", mode=mode)
    return web.Response(status=403, text="verification failed")


async def receive(request: web.Request) -> web.Response:
    """POST /webhook: check the signature on the raw bytes, parse, store durably, then answer 200."""
    app = request.app
    metrics = app[keys.METRICS]
    started = time.perf_counter()
    body = await request.read()
    if not verify(app[keys.SETTINGS].app_secret, body, request.headers.get(HEADER)):
        metrics.webhook_outcome["bad_signature"].inc()
        return error_response(401, "invalid_signature", f"missing or wrong {HEADER} header")
    try:
        text = body.decode("utf-8")  # Meta sends UTF-8; parse exactly the text that is stored
        parsed = parse_payload(text)
    except MalformedPayload as exc:
        metrics.webhook_outcome["malformed"].inc()
        return error_response(400, exc.code, exc.message)
    except UnicodeDecodeError as exc:
        metrics.webhook_outcome["malformed"].inc()
        return error_response(400, "malformed_payload", f"body is not UTF-8: {exc.reason} at byte {exc.start}")
    served, foreign = _served(app, parsed.messages)
    if foreign:  # a number added in another process since this one last read the table (a web-only process)?
        with contextlib.suppress(DatabaseUnavailable):
            await app[NUMBERS].refresh(app[keys.REPOSITORY])
        served, foreign = _served(app, parsed.messages)
    if foreign:  # stored (nothing is lost) and acknowledged, but never answered: see storage.inbox.NOT_SERVED
        log.warning("webhook.number_not_served", phone_number_ids=foreign[:10])
    try:
        stored = await app[INGESTOR].store(Delivery(body=text, parsed=parsed, served=served))
    except StorageUnavailable as exc:
        metrics.webhook_outcome["unavailable"].inc()
        return error_response(503, exc.code, "the webhook could not be stored; retry later")
    metrics.webhook_outcome["stored"].inc()
    metrics.inbound.inc(stored.new_messages)
    metrics.webhook_seconds.observe(time.perf_counter() - started)
    unreadable = unreadable_paths(parsed)
    if unreadable:
        metrics.webhook_unreadable.inc(len(unreadable))
        # Paths only: the reasons, stored with the notices, may quote what the customer sent.
        log.warning(
            "webhook.unreadable", event_id=stored.webhook_event_id, count=len(unreadable), paths=unreadable[:20]
        )
    ack = f'{{"ok": true, "event_id": {stored.webhook_event_id}, "unreadable": {len(unreadable)}}}'  # no serialiser
    return web.Response(text=ack, content_type="application/json")


def _served(app: web.Application, messages: Sequence[InboundMessage]) -> tuple[frozenset[str], list[str]]:
    """The numbers this deployment serves, and those of `messages` that are not among them."""
    served = app[NUMBERS].ids
    return served, sorted({n for m in messages if (n := m.phone_number_id) is not None and n not in served})


def setup_webhook(app: web.Application) -> None:
    app.router.add_get("/webhook", verify_subscription)
    app.router.add_post("/webhook", receive)
