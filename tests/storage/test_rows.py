"""Rows read whole are taken as their Base models as they are; anything less is validated as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from storage.models import ContactBase, ConversationBase
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository
from storage.rows import model_of

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_claimed_row_equals_the_validated_model_of_the_same_row(repository: Repository) -> None:
    """The sender's rows hold the same values, types and fields set as `model_validate` gives them."""
    async with repository.transaction() as conn:
        contact = await ensure_contact(conn, "31612345678", NOW)
    message = NewMessage("utility", contact, "31612345678", {"type": "text", "text": {"body": "hi"}}, NOW, urgent=True)
    await repository.enqueue([message], NOW)
    [row] = await repository.claim_due(owner="test", now=NOW, lease=timedelta(seconds=60), limit=10)
    again = type(row).model_validate(row.model_dump())
    assert row == again
    assert row.model_fields_set == again.model_fields_set
    assert row.urgent is True
    assert row.lease_until == NOW + timedelta(seconds=60)
    assert row.lease_until.tzinfo
    assert row.model_copy(update={"status": "sent"}).status == "sent"


def test_a_complete_row_is_taken_as_it_is() -> None:
    """Every field present: the values are kept, not copied or coerced."""
    tags = ["vip"]
    row = {name: None for name in ContactBase.model_fields} | {"id": 4, "wa_id": "31612345678", "tags": tags}
    row |= {"created_at": NOW, "updated_at": NOW}
    contact = model_of(ContactBase, row)
    assert isinstance(contact, ContactBase)
    assert contact.id == 4
    assert contact.tags is tags
    assert contact == ContactBase.model_validate(row)


def test_a_partial_row_is_validated() -> None:
    """A row missing fields goes through `model_validate`: defaults filled in, bad values refused."""
    contact = model_of(ContactBase, {"wa_id": "31612345678"})
    assert contact.id is None
    assert contact.created_at.tzinfo is not None
    with pytest.raises(ValidationError, match="contact_id"):
        model_of(ConversationBase, {"category": "service"})
