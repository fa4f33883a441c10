"""Meta's pricing rules by day: the model, conversation and message charges, the free tier, Meta's own report."""

from __future__ import annotations

from datetime import date

import pytest

from bot.whatsapp.pricing import (
    FREE_SERVICE_PER_MONTH,
    NOT_MODELLED,
    Charge,
    conversation_charge,
    message_category,
    message_charge,
    meta_category,
    meta_charge,
    pricing_model,
    service_message_billable,
)

LAST_CBP_DAY = date(2025, 6, 30)
FIRST_PMP_DAY = date(2025, 7, 1)
LAST_FREE_SERVICE_DAY = date(2026, 9, 30)
FIRST_BILLED_SERVICE_DAY = date(2026, 10, 1)


def test_pricing_model_changes_on_1_july_2025() -> None:
    """30 June 2025 is the last conversation-priced day; 1 July 2025 the first message-priced one."""
    assert pricing_model(LAST_CBP_DAY) == "CBP"
    assert pricing_model(FIRST_PMP_DAY) == "PMP"
    assert pricing_model(date(2020, 1, 1)) == "CBP"


@pytest.mark.parametrize("category", ["utility", "authentication", "marketing"])
def test_cbp_business_conversation_is_one_charge(category: str) -> None:
    """A business-initiated conversation under CBP is charged once, under its category."""
    assert conversation_charge(category, "business_initiated", LAST_CBP_DAY) == Charge(category, True, "estimate")


def test_cbp_service_conversation_free_since_november_2024() -> None:
    """Service conversations are free from 1 November 2024; earlier ones are reported as not modelled."""
    assert conversation_charge("service", "user_initiated", date(2024, 11, 1)).billable is False
    before = conversation_charge("service", "user_initiated", date(2024, 10, 31))
    assert before.billable is True
    assert before.unpriced == NOT_MODELLED


def test_cbp_free_entry_point_conversation_is_free() -> None:
    """A free entry point conversation costs nothing, whatever its category."""
    assert conversation_charge("service", "free_entry_point", LAST_CBP_DAY).billable is False


@pytest.mark.parametrize(
    ("nth", "day", "billable"),
    [
        (FREE_SERVICE_PER_MONTH, FIRST_BILLED_SERVICE_DAY, False),
        (FREE_SERVICE_PER_MONTH + 1, FIRST_BILLED_SERVICE_DAY, True),
        (FREE_SERVICE_PER_MONTH + 1, LAST_FREE_SERVICE_DAY, False),
        (1, FIRST_BILLED_SERVICE_DAY, False),
    ],
)
def test_service_messages_billed_after_1000_a_month_from_october_2026(nth: int, day: date, billable: bool) -> None:
    """The 1,000th service message of a month is free, the 1,001st charged, and none before 1 October 2026."""
    assert service_message_billable(day, nth) is billable
    charge = message_charge("service", day, in_window=True, free_entry_point=False, nth_service_in_month=nth)
    assert charge.billable is billable


def test_in_window_utility_template_free_until_october_2026() -> None:
    """A utility template inside the service window is free until 30 September 2026 and charged from 1 October."""
    free = message_charge(
        "utility", LAST_FREE_SERVICE_DAY, in_window=True, free_entry_point=False, nth_service_in_month=0
    )
    charged = message_charge(
        "utility", FIRST_BILLED_SERVICE_DAY, in_window=True, free_entry_point=False, nth_service_in_month=0
    )
    outside = message_charge("utility", FIRST_PMP_DAY, in_window=False, free_entry_point=False, nth_service_in_month=0)
    assert (free.billable, charged.billable, outside.billable) == (False, True, True)


@pytest.mark.parametrize("category", ["authentication", "marketing"])
def test_pmp_templates_always_charged_in_window_or_not(category: str) -> None:
    """Authentication and marketing templates are charged per delivered message, in the window too."""
    for in_window in (True, False):
        charge = message_charge(
            category, FIRST_PMP_DAY, in_window=in_window, free_entry_point=False, nth_service_in_month=0
        )
        assert charge == Charge(category, True, "estimate")


def test_pmp_free_entry_point_messages_are_free() -> None:
    """Messages in a free entry point window are free, marketing and service alike."""
    for category in ("marketing", "service"):
        charge = message_charge(
            category, FIRST_BILLED_SERVICE_DAY, in_window=False, free_entry_point=True, nth_service_in_month=5000
        )
        assert charge.billable is False


def test_meta_pricing_decides_billable_and_category() -> None:
    """Meta's billable flag and category win; without the flag, type regular means charged."""
    assert meta_charge({"billable": False, "category": "marketing", "pricing_model": "PMP"}, "utility") == Charge(
        "marketing", False, "meta"
    )
    assert meta_charge({"type": "regular", "category": "AUTHENTICATION-INTERNATIONAL"}, "authentication") == Charge(
        "authentication_international", True, "meta"
    )
    assert meta_charge({"type": "free_customer_service", "category": "service"}, "service") == Charge(
        "service", False, "meta"
    )
    assert meta_charge({"billable": True, "category": "referral_conversion"}, "utility") == Charge(
        "utility", True, "meta"
    )


def test_meta_pricing_absent_or_unreadable_leaves_the_estimate() -> None:
    """No pricing object, or one with neither billable nor type, gives no Meta charge."""
    assert meta_charge(None, "utility") is None
    assert meta_charge({"category": "utility"}, "utility") is None
    assert meta_category(7) is None


def test_message_category_prefers_the_template_category() -> None:
    """A template is priced by its own category, a free-form message as service, an unknown template as marketing."""
    assert message_category(True, "utility", "marketing") == "utility"
    assert message_category(True, None, "authentication") == "authentication"
    assert message_category(True, None, None) == "marketing"
    assert message_category(False, None, "utility") == "service"
