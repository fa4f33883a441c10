"""Storing webhook deliveries: contacts found or made by wa_id and by business-scoped user id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.whatsapp.webhook_parser import parse_payload
from storage.inbox import Delivery
from storage.models import CONTACT
from storage.repository import Repository
from tests.conftest import text_webhook


def _with_user(payload: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The webhook with the business-scoped user id on its contacts."""
    for change in payload["entry"][0]["changes"]:
        for contact in change["value"]["contacts"]:
            contact["user_id"] = user_id
    return payload


async def test_one_user_id_brought_by_two_numbers_in_one_batch_goes_to_one_contact(repository: Repository) -> None:
    """Two known numbers that arrive in one batch with the same user id are stored; only one of them takes it."""
    first = [text_webhook(wa_id=wa, wamid=f"wamid.first.{wa}") for wa in ("31611111111", "31622222222")]
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(p)) for p in first])
    again = [
        _with_user(text_webhook(wa_id=wa, wamid=f"wamid.again.{wa}"), "NL.1234567890")
        for wa in ("31611111111", "31622222222")
    ]
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(p)) for p in again])
    async with repository.transaction() as conn:
        rows = (await conn.execute(select(CONTACT.c.wa_id, CONTACT.c.user_id).order_by(CONTACT.c.wa_id))).all()
    assert [tuple(r) for r in rows] == [("31611111111", "NL.1234567890"), ("31622222222", None)]
