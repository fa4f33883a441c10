"""What Meta charges for a conversation or a message on a given day, as pure functions of the day.

Meta's pricing (https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing and
shared/reference/whatsapp.md, "Categories, windows and price"):

- Conversation-based pricing (CBP) until 30 June 2025: each conversation opened is one charge of its
  category, by the recipient's country. Free entry point conversations are free; service conversations
  are free since 1 November 2024 (before that the first 1,000 a month were free, which is not modelled:
  such conversations are reported as unpriced, never silently priced).
- Per-message pricing (PMP) from 1 July 2025: each delivered template is charged by its category and the
  recipient's country; utility templates inside an open customer service window are free until
  30 September 2026; from 1 October 2026 they are charged, and so are service (non-template) messages
  after the first 1,000 of each calendar month (UTC) per business number. Messages in a free entry point
  window stay free.

Where a status webhook carried Meta's own `pricing`, that decides over these estimates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from bot.whatsapp.category import CATEGORIES, pricing_category

PricingModel = Literal["CBP", "PMP"]
Source = Literal["meta", "estimate"]

PMP_FROM = date(2025, 7, 1)
SERVICE_BILLED_FROM = date(2026, 10, 1)
CBP_SERVICE_FREE_FROM = date(2024, 11, 1)
FREE_SERVICE_PER_MONTH = 1000
# Meta's pricing categories: ours, plus the two Meta reports for some markets and products.
RATE_CATEGORIES = (*CATEGORIES, "authentication_international", "marketing_lite")
NOT_MODELLED = "not_modelled"


def pricing_model(day: date) -> PricingModel:
    """The model Meta billed a day under: CBP up to and including 2025-06-30, PMP from 2025-07-01."""
    return "PMP" if day >= PMP_FROM else "CBP"


@dataclass(frozen=True)
class Charge:
    """Whether one conversation (CBP) or message (PMP) is charged, under which category, and who said so.

    ``unpriced`` names why the charge cannot be estimated at all (a rule not modelled); such units are
    reported, never priced.
    """

    category: str
    billable: bool
    source: Source
    unpriced: str | None = None


def message_category(is_template: bool, template_category: str | None, conversation_category: str | None) -> str:
    """The category a message is priced under: a template's own category (else the conversation's), or service.

    The message row's own category is its conversation's, which for a free-form reply may be another
    category's open conversation; the outbox row keeps the template's category, so that comes first.
    """
    return pricing_category(template_category or conversation_category, is_template=is_template)


def meta_category(value: object) -> str | None:
    """A category as Meta's pricing object spells it, normalised; None when it is not one we price."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower().replace("-", "_")
    return wanted if wanted in RATE_CATEGORIES else None


def meta_charge(pricing: Mapping[str, Any] | None, fallback_category: str) -> Charge | None:
    """The charge Meta reported in a status webhook, or None when it reported none.

    ``billable`` decides when present; newer payloads drop it and say ``type``: ``regular`` is charged,
    ``free_customer_service`` and ``free_entry_point`` are not. Meta's category wins when we know it.
    """
    if not isinstance(pricing, Mapping):
        return None
    billable = pricing.get("billable")
    kind = pricing.get("type")
    if not isinstance(billable, bool):
        if not isinstance(kind, str):
            return None
        billable = kind == "regular"
    return Charge(meta_category(pricing.get("category")) or fallback_category, billable, "meta")


def conversation_charge(category: str, origin: str | None, day: date) -> Charge:
    """Our estimate for a conversation opened on a CBP `day`: one charge of its category, with the free ones."""
    if origin == "free_entry_point":
        return Charge(category, False, "estimate")
    if category == "service":
        if day < CBP_SERVICE_FREE_FROM:
            return Charge(category, True, "estimate", unpriced=NOT_MODELLED)
        return Charge(category, False, "estimate")
    return Charge(category, True, "estimate")


def service_message_billable(day: date, nth_in_month: int) -> bool:
    """Whether the month's `nth_in_month` service message (counting from 1) is charged on `day`."""
    return day >= SERVICE_BILLED_FROM and nth_in_month > FREE_SERVICE_PER_MONTH


def message_charge(
    category: str, day: date, *, in_window: bool, free_entry_point: bool, nth_service_in_month: int
) -> Charge:
    """Our estimate for one delivered message on a PMP `day`.

    ``nth_service_in_month`` is the message's place among the month's service messages (only read for
    service messages); ``in_window`` says whether a template went inside an open customer service window.
    """
    if free_entry_point:
        return Charge(category, False, "estimate")
    if category == "service":
        return Charge(category, service_message_billable(day, nth_service_in_month), "estimate")
    if category == "utility" and in_window and day < SERVICE_BILLED_FROM:
        return Charge(category, False, "estimate")
    return Charge(category, True, "estimate")
