"""Specification of `bot.whatsapp.lifecycle`: Meta's lifecycle webhooks, from the samples in Meta's reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.whatsapp.webhook_parser import parse_payload
from storage.lifecycle import Report

PAYLOADS = Path(__file__).parents[1] / "payloads"
WABA = "102290129340398"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def change(field: str, value: Any, time: Any = 1739321024) -> dict[str, Any]:
    """Meta's business-account envelope around one change."""
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA, "time": time, "changes": [{"field": field, "value": value}]}]}  # fmt: skip


def only(payload: dict[str, Any]) -> Report:
    parsed = parse_payload(payload)
    assert parsed.notices == []
    [found] = parsed.lifecycle
    return found


def test_an_approval_names_the_template_and_its_language() -> None:
    """Meta's sample approval reads as the template's status, with no reason for NONE."""
    found = only(load("message_template_status_update.json"))
    assert (found.kind, found.subject, found.new_value, found.reason) == (
        "template_status",
        "order_ready:en_US",
        "APPROVED",
        None,
    )
    assert (found.template_id, found.account_id, found.at) == ("594425479261596", WABA, datetime.fromtimestamp(
        1750000500, UTC))  # fmt: skip


def test_a_rejection_keeps_metas_reason_and_recommendation() -> None:
    """An INVALID_FORMAT rejection carries the reason code and what Meta found and advises, in words."""
    value = {
        "event": "REJECTED", "message_template_id": 1689556908129835, "message_template_name": "abandoned_cart",
        "message_template_language": "en", "reason": "INVALID_FORMAT", "message_template_category": "MARKETING",
        "rejection_info": {"reason": "Variable parameters are not allowed at the start", "recommendation":
                           "Move the variable"},
    }  # fmt: skip
    found = only(change("message_template_status_update", value))
    assert found.new_value == "REJECTED"
    assert found.reason == "INVALID_FORMAT: Variable parameters are not allowed at the start: Move the variable"


def test_a_pause_says_its_title() -> None:
    """A paused template's `other_info` title and description are the reason."""
    value = {"event": "PAUSED", "message_template_id": 1, "message_template_name": "summer_sale",
             "message_template_language": "en", "reason": "NONE",
             "other_info": {"title": "FIRST_PAUSE", "description": "Low quality"}}  # fmt: skip
    assert only(change("message_template_status_update", value)).reason == "FIRST_PAUSE: Low quality"


def test_a_category_change_reads_old_and_new() -> None:
    """A completed change reads previous → new, lower case left to storage."""
    found = only(load("template_category_update.json"))
    assert (found.kind, found.subject, found.old_value, found.new_value) == (
        "template_category",
        "order_confirmation:en_US",
        "UTILITY",
        "MARKETING",
    )


def test_an_announced_category_change_is_a_notice_of_what_will_come() -> None:
    """Meta's impending change (`correct_category`) is read as announced, not done."""
    value = {"message_template_id": 1, "message_template_name": "order_confirmation",
             "message_template_language": "en_US", "correct_category": "MARKETING", "new_category": "UTILITY",
             "category_update_timestamp": 1751247548}  # fmt: skip
    found = only(change("template_category_update", value))
    assert (found.kind, found.old_value, found.new_value) == ("template_category_notice", "UTILITY", "MARKETING")
    assert found.reason == "Meta will change the category to MARKETING on 2025-06-30"


def test_a_throughput_upgrade_reads_the_limit() -> None:
    """Meta's sample: the number by its display number, the event and its new limit; no quality said."""
    found = only(load("phone_number_quality_update.json"))
    assert (found.kind, found.subject, found.event, found.new_value, found.quality) == (
        "number_quality",
        "15550783881",
        "THROUGHPUT_UPGRADE",
        "TIER_UNLIMITED",
        None,
    )


@pytest.mark.parametrize(
    ("value", "quality"),
    [
        ({"event": "FLAGGED", "current_limit": "TIER_2K"}, "RED"),
        ({"event": "UNFLAGGED", "current_limit": "TIER_2K"}, "GREEN"),
        (
            {"event": "DOWNGRADE", "old_limit": "TIER_10K", "current_limit": "TIER_2K", "quality_rating": "yellow"},
            "YELLOW",
        ),
        ({"event": "UPGRADE", "max_daily_conversations_per_business": "TIER_10K", "current_limit": "TIER_2K"}, None),
    ],
)
def test_the_quality_follows_the_event_or_the_rating(value: dict[str, Any], quality: str | None) -> None:
    """Flagged is red, unflagged green; a rating given wins; the newer limit field is preferred."""
    found = only(change("phone_number_quality_update", {"display_phone_number": "15550783881", **value}))
    assert found.quality == quality
    if "max_daily_conversations_per_business" in value:
        assert found.new_value == "TIER_10K"


def test_an_account_update_says_its_violation() -> None:
    """A violation's type becomes the reason; the account is the subject."""
    value = {"phone_number": "15550783881", "event": "ACCOUNT_VIOLATION",
             "violation_info": {"violation_type": "ADULT"}}  # fmt: skip
    found = only(change("account_update", value))
    assert (found.kind, found.subject, found.new_value, found.reason) == ("account", WABA, "ACCOUNT_VIOLATION",
                                                                          "violation: ADULT")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("message_template_status_update", {"event": "APPROVED"}, "missing 'message_template_name'"),
        (
            "message_template_status_update",
            {"event": 7, "message_template_name": "a", "message_template_language": "en"},
            "'event' must be",
        ),
        (
            "template_category_update",
            {"message_template_name": "a", "message_template_language": ["en"]},
            "'message_template_language' must be a non-empty string, got list",
        ),
        ("phone_number_quality_update", {"event": "FLAGGED"}, "missing 'display_phone_number'"),
        ("account_update", {"event": None}, "'event' must be a non-empty string, got null"),
    ],
)
def test_a_value_that_cannot_be_read_is_kept_as_a_notice(field: str, value: Any, why: str) -> None:
    """What a lifecycle value lacks is said in an "unparsed" notice with its path; nothing is lost or raised."""
    parsed = parse_payload(change(field, value, time="soon"))
    assert parsed.lifecycle == []
    [notice] = parsed.notices
    assert (notice.field, notice.kind, notice.raw) == (field, "unparsed", value)
    assert notice.reason is not None
    assert notice.reason.startswith("entry[0].changes[0].value: ")
    assert why in notice.reason


def test_hostile_values_are_cut_and_never_raise() -> None:
    """Huge strings, huge ids and nested junk are bounded or ignored; unknown keys stay in `raw`."""
    value = {"event": "x" * 100_000, "message_template_name": "n" * 10_000, "message_template_language": "\u0000",
             "message_template_id": 10**40, "reason": {"deep": [[[]]]}, "surprise": True}  # fmt: skip
    found = only(change("message_template_status_update", value, time=10**20))
    assert len(found.new_value or "") == 64
    assert len(found.subject) <= 600
    assert (found.template_id, found.reason, found.at, found.raw) == (None, None, None, value)
