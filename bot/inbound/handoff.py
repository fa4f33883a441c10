"""A person takes over a chat: who waits for one, an agent's reply inside the service window, and release.

The admin API (`bot.api.handoff`) and the dashboard's inbox both act through these functions, so the
window rule and the queueing live in one place. An agent's reply is a free-form message, so it may go
only inside the customer service window (24 hours after the customer's last message); outside it the
customer can be reached only with a template.

Releasing a chat tells the customer that the bot answers again, in their language, with the service
template `bot_back` (`templates/service/bot_back.<language>.md.j2`, which the business may reword). It is
queued in the release's own transaction, as any reply; outside the service window it is not sent, since
WhatsApp allows only templates of Meta's categories there, and the bot greets them on their next message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from bot.errors import NotFound, OutsideServiceWindow, ValidationError
from bot.message_templates.library import Templates, to_cloud_api
from bot.whatsapp.category import service_window_expires_at, service_window_open
from bot.whatsapp.message_body import text_message
from storage import session
from storage.conversation import contacts_by_ids
from storage.models import ContactBase
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.inbound.handoff")
TEXT_MAX = 4096
BOT_BACK = "bot_back"  # the service template that tells a released customer the bot answers again


@dataclass(frozen=True)
class Waiting:
    """A contact in the handoff inbox, and since when they wait for a person."""

    contact: ContactBase
    since: datetime


async def waiting(repository: Repository, limit: int = 100) -> list[Waiting]:
    """The contacts waiting for a person, longest-waiting first."""
    async with repository.engine.connect() as conn:
        handed = await session.handed_off(conn, limit)
        contacts = await contacts_by_ids(conn, [cid for cid, _ in handed])
    return [Waiting(contacts[cid], since) for cid, since in handed if cid in contacts]


async def waiting_page(repository: Repository, limit: int, before: int | None) -> tuple[list[Waiting], int | None]:
    """A page of the handoff inbox, newest contact first (contact ids below `before`), and the next page's cursor.

    The cursor is the page's last contact id when the page is full, else None; it is taken from the stored
    rows, so a contact gone since (erased) does not end the walk early.
    """
    async with repository.engine.connect() as conn:
        handed = await session.handed_off_page(conn, limit=limit, before=before)
        contacts = await contacts_by_ids(conn, [cid for cid, _ in handed])
    following = handed[-1][0] if len(handed) == limit else None
    return [Waiting(contacts[cid], since) for cid, since in handed if cid in contacts], following


async def contact(repository: Repository, wa_id: str) -> ContactBase:
    """The stored contact with this number; `NotFound` when the service has never heard of it."""
    found = await repository.contact_by_wa_id(wa_id)
    if found is None or found.id is None:
        raise NotFound(f"no contact with wa_id {wa_id}")
    return found


def reply_text(text: object) -> str:
    """An agent's message as typed, stripped; empty or too long is a `ValidationError`."""
    if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
        raise ValidationError(f"text must be a non-empty message of at most {TEXT_MAX} characters")
    return text.strip()


async def agent_reply(repository: Repository, customer: ContactBase, text: str, now: datetime) -> datetime:
    """Queue an agent's free-form message; returns when the window closes, or raises `OutsideServiceWindow`."""
    closes = service_window_expires_at(customer.last_inbound_at)
    if closes is None or not service_window_open(customer.last_inbound_at, now):
        when = f"closed at {closes.isoformat()}" if closes else "never opened (the customer has not written)"
        raise OutsideServiceWindow(
            f"the customer service window {when}: a free-form reply cannot be sent; "
            "send a template with POST /api/notifications instead"
        )
    assert customer.id is not None
    assert customer.wa_id is not None
    message = NewMessage("reply", customer.id, customer.wa_id, text_message(customer.wa_id, reply_text(text)), now)
    async with repository.transaction() as conn:
        await enqueue(conn, [message], now)
    log.info("handoff.agent_replied", wa_id=customer.wa_id)
    return closes


async def release(repository: Repository, customer: ContactBase, now: datetime, library: Templates) -> bool:
    """The bot answers this contact again (from the menu), and the customer is told so while the window is open;
    False when the chat was not handed off (nothing is sent then)."""
    assert customer.id is not None
    back = _bot_back(customer, now, library)
    async with repository.transaction() as conn:
        released = await session.release(conn, customer.id, now)
        if released and back is not None:
            await enqueue(conn, [back], now)
    log.info("handoff.released", wa_id=customer.wa_id, was_handed_off=released, told=released and back is not None)
    return released


def _bot_back(customer: ContactBase, now: datetime, library: Templates) -> NewMessage | None:
    """The `bot_back` message in the customer's language, or None outside the window or without the template."""
    if customer.id is None or customer.wa_id is None or not service_window_open(customer.last_inbound_at, now):
        return None
    try:
        template = library.get(BOT_BACK, customer.language)
    except NotFound:
        log.warning("handoff.bot_back_missing", template=BOT_BACK)
        return None
    body = to_cloud_api(template, customer.wa_id, {})
    return NewMessage("reply", customer.id, customer.wa_id, body, now)
