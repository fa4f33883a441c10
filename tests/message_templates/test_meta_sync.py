"""`bot templates sync`: what Meta lists is recorded as its webhooks would be, and only what changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.message_templates.meta_sync import content_hash, sync
from storage import lifecycle
from storage.repository import Repository

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class ListedByMeta:
    """Meta's answers to sync's two reads, as the Graph API gives them."""

    def __init__(self, templates: list[dict[str, Any]], number: dict[str, Any]) -> None:
        self._templates, self._number = templates, number

    async def templates(self) -> list[dict[str, Any]]:
        return self._templates

    async def number(self) -> dict[str, Any]:
        return self._number


async def test_sync_records_what_meta_lists_and_then_nothing_more(repository: Repository) -> None:
    """New templates get Meta's status and category, the number its quality and tier; a second sync adds nothing."""
    listed = [
        {"id": "11", "name": "order_update", "language": "en", "status": "APPROVED", "category": "UTILITY"},
        {"id": "12", "name": "spring_sale", "language": "en", "status": "REJECTED", "category": "MARKETING",
         "rejected_reason": "PROMOTIONAL"},
    ]  # fmt: skip
    number = {"id": "106540352242922", "display_phone_number": "+1 555-078-3881", "quality_rating": "YELLOW",
              "messaging_limit_tier": "TIER_2K"}  # fmt: skip
    meta: Any = ListedByMeta(listed, number)
    first = await sync(meta, repository, lambda: NOW)
    assert [(r.kind, r.subject, r.new_value) for r in first] == [
        ("template_status", "order_update:en", "APPROVED"), ("template_status", "spring_sale:en", "REJECTED"),
        ("number_quality", "15550783881", "TIER_2K"),
    ]  # fmt: skip
    async with repository.engine.connect() as conn:
        word = await lifecycle.meta_word(conn)
        state = await lifecycle.number_state(conn, "106540352242922")
    assert (word["order_update", "en"].category, word["spring_sale", "en"].reason) == ("utility", "PROMOTIONAL")
    assert lifecycle.refusal(word["spring_sale", "en"]) == "template spring_sale (en) is REJECTED at Meta: PROMOTIONAL"
    assert state is not None
    assert (state.display_number, state.quality, state.messaging_limit) == ("15550783881", "YELLOW", "TIER_2K")
    assert await sync(meta, repository, lambda: NOW) == []


def test_the_content_hash_ignores_key_order() -> None:
    """Push compares documents, not their spelling: the same template in another key order is unchanged."""
    assert content_hash({"name": "a", "components": [{"type": "BODY", "text": "x"}]}) == content_hash(
        {"components": [{"text": "x", "type": "BODY"}], "name": "a"}
    )
