"""Erasing a contact on request: the keyed pseudonym of their number, and the erasure through storage.

The pseudonym is HMAC-SHA256 of the number under `BOT_SECRET_KEY`: the same number erased twice gets the
same pseudonym, and whoever holds the key (and the number) can match it against the evidence kept, while
the database alone cannot give the number back. What each table keeps is in `storage.erasure`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import structlog

from bot.errors import Conflict, NotFound
from bot.media.store import MediaStore
from bot.privacy.retention import delete_unused
from bot.whatsapp.rate_card import calling_code
from storage.erasure import Erasure, ErasureReport, SendInFlight
from storage.repository import Repository

log = structlog.get_logger("bot.privacy.erasure")


def pseudonym(secret_key: str, wa_id: str) -> str:
    """The keyed hash an erased number leaves behind (64 hex digits)."""
    return hmac.new(secret_key.encode(), f"erasure:wa_id:{wa_id}".encode(), hashlib.sha256).hexdigest()


async def erase_contact(
    repository: Repository, secret_key: str, wa_id: str, now: datetime, *, media: MediaStore | None = None
) -> ErasureReport:
    """Erase the contact with this number; a number already erased answers again, changing nothing.

    Their media files are deleted from `media` once the erasure is committed (a file another customer's
    message also holds stays: the store keeps one copy per content).

    Raises `NotFound` for a number never known, and `Conflict` while a message to them is being sent.
    """
    erasure = Erasure(wa_id, pseudonym(secret_key, wa_id), calling_code(wa_id), now)
    try:
        report = await repository.erase_contact(erasure)
    except SendInFlight:
        raise Conflict("a message to this contact is being sent right now; erase again in a minute") from None
    if report is None:
        raise NotFound(f"no contact with wa_id {wa_id}")
    if media is not None and not report.already_erased:
        report.deleted["media_files"] = await delete_unused(repository, media, report.files)
    log.info(
        "contact.erased", pseudonym=report.pseudonym[:12], already_erased=report.already_erased,
        cancelled=report.cancelled, **{f"deleted_{k}": v for k, v in report.deleted.items()},
    )  # fmt: skip
    return report
