"""Storing Meta's lifecycle webhooks: each report kept once, what it says in force, its event told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.whatsapp.webhook_parser import parse_payload
from storage import lifecycle
from storage.events import add_subscription
from storage.inbox import Delivery
from storage.models import EVENT_DELIVERY, EventSubscriptionBase
from storage.repository import Repository

WABA = "102290129340398"


def webhook(field: str, value: dict[str, Any], time: int) -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA, "time": time, "changes": [{"field": field, "value": value}]}]}  # fmt: skip


def status(event: str, time: int, reason: str = "NONE", name: str = "order_update") -> dict[str, Any]:
    value = {"event": event, "message_template_id": 42, "message_template_name": name,
             "message_template_language": "en", "reason": reason, "message_template_category": "UTILITY"}  # fmt: skip
    return webhook("message_template_status_update", value, time)


async def store(repository: Repository, *payloads: dict[str, Any]) -> None:
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(p)) for p in payloads])


async def word(repository: Repository) -> dict[tuple[str, str], Any]:
    async with repository.engine.connect() as conn:
        return await lifecycle.meta_word(conn)


async def test_statuses_are_kept_once_and_the_newest_stands(repository: Repository) -> None:
    """Approved then rejected: rejected with Meta's reason; a redelivery and a late older report change nothing."""
    async with repository.transaction() as conn:
        hook = EventSubscriptionBase(url="https://example.com/hook", events=["template.status"], secret="s" * 32)
        await add_subscription(conn, hook)
    await store(repository, status("APPROVED", 1_750_000_000))
    await store(repository, status("REJECTED", 1_750_000_100, reason="INCORRECT_CATEGORY"))
    await store(repository, status("REJECTED", 1_750_000_100, reason="INCORRECT_CATEGORY"))  # Meta's retry
    await store(repository, status("PENDING", 1_750_000_050))  # older, delivered late
    state = (await word(repository))[("order_update", "en")]
    assert (state.status, state.reason, state.category, state.meta_id) == (
        "REJECTED", "INCORRECT_CATEGORY", "utility", "42"
    )  # fmt: skip
    assert state.status_at == datetime.fromtimestamp(1_750_000_100, UTC)
    async with repository.engine.connect() as conn:
        history = await lifecycle.history(conn)
        told = (await conn.execute(select(EVENT_DELIVERY.c.payload).order_by(EVENT_DELIVERY.c.id))).scalars().all()
    assert [(h.new_value, h.old_value) for h in history] == [("PENDING", None), ("REJECTED", "APPROVED"),
                                                             ("APPROVED", None)]  # fmt: skip
    assert [(e["data"]["status"], e["data"]["previous_status"], e["data"]["blocked"]) for e in told] == [
        ("APPROVED", None, False), ("REJECTED", "APPROVED", True)
    ]  # fmt: skip


async def test_a_category_change_is_in_force_and_a_reinstatement_approves(repository: Repository) -> None:
    """Meta's new category replaces ours; reinstated means approved again."""
    await store(repository, status("PAUSED", 1_750_000_000))
    category = {"message_template_id": 42, "message_template_name": "order_update", "message_template_language": "en",
                "previous_category": "UTILITY", "new_category": "MARKETING"}  # fmt: skip
    await store(repository, webhook("template_category_update", category, 1_750_000_100))
    await store(repository, status("REINSTATED", 1_750_000_200))
    state = (await word(repository))[("order_update", "en")]
    assert (state.status, state.category, state.previous_category) == ("APPROVED", "marketing", "utility")


async def test_a_number_is_known_by_its_display_number_until_joined(repository: Repository) -> None:
    """A limit change and a flag land on one row for the display number, read as this deployment's number."""
    number = {"display_phone_number": "15550783881"}
    await store(repository, webhook("phone_number_quality_update", number | {"event": "UPGRADE",
                "current_limit": "TIER_10K", "old_limit": "TIER_2K"}, 1_750_000_000))  # fmt: skip
    await store(repository, webhook("phone_number_quality_update", number | {"event": "FLAGGED",
                "current_limit": "TIER_10K"}, 1_750_000_100))  # fmt: skip
    async with repository.engine.connect() as conn:
        state = await lifecycle.number_state(conn, "106540352242922")
        everything = await lifecycle.numbers(conn)
    assert state is not None
    assert (state.display_number, state.messaging_limit, state.quality, state.account_id) == (
        "15550783881", "TIER_10K", "RED", WABA
    )  # fmt: skip
    assert len(everything) == 1


async def test_oversized_values_are_stored_cut_never_refused(repository: Repository) -> None:
    """Meta's values longer than their columns are cut to fit, on both databases, and the webhook is stored."""
    value = {"event": "E" * 200, "message_template_name": "n" * 600, "message_template_language": "l" * 600,
             "message_template_id": "9" * 200, "reason": "r" * 10_000}  # fmt: skip
    number = {"display_phone_number": "1" * 100, "event": "X" * 100, "current_limit": "T" * 100,
              "quality_rating": "RED"}  # fmt: skip
    for time in (1_750_000_000, 1_750_000_100):  # the second report finds the rows the first made
        await store(repository, webhook("message_template_status_update", value, time),
                    webhook("phone_number_quality_update", number, time))  # fmt: skip
    async with repository.engine.connect() as conn:
        [template] = await lifecycle.templates(conn)
        [state] = await lifecycle.numbers(conn)
    assert (len(template.name), len(template.language), template.status) == (512, 16, "E" * 32)
    assert (state.quality, len(state.display_number or "")) == ("RED", 32)
