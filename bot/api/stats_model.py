"""The answer of `GET /api/stats` as Pydantic models, which the document shows."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import pydantic
from pydantic import Field

Money = Annotated[str, Field(pattern=r"^\d+\.\d{4,}$", description="A decimal amount in the card's currency")]


class MessageCounts(pydantic.BaseModel):
    sent: int
    delivered: int
    failed: int


class CostSource(pydantic.BaseModel):
    """Charges decided by Meta's reported pricing, and by our estimate."""

    meta: int
    estimate: int


class Tally(pydantic.BaseModel):
    """What happened in a day (or the whole range), by category."""

    conversations: dict[str, int] = Field(description="Conversations opened, by category")
    messages: dict[str, MessageCounts] = Field(
        description="Outbound messages by pricing category (a template's own category, else service)"
    )
    received: int = Field(description="Inbound messages")
    billable: dict[str, int] = Field(description="Charges by category: conversations on CBP days, messages on PMP days")
    cost: dict[str, Money] | None = Field(description="null without a card")
    cost_total: Money | None
    cost_source: CostSource
    unpriced: dict[str, int] = Field(description="Charges left out of cost: unknown_country, no_rate, not_modelled")


class StatsDay(Tally):
    date: date
    pricing_model: Literal["CBP", "PMP"]


class RateCardUsed(pydantic.BaseModel):
    """The rate card the costs come from; example is true for the shipped example, whose figures are not Meta's."""

    path: str
    example: bool


class Stats(pydantic.BaseModel):
    """Counts and estimated cost by UTC day in [from, to), and their totals."""

    from_: date = Field(alias="from")
    to: date
    currency: str | None
    days: list[StatsDay]
    totals: Tally
    unpriced: dict[str, int]
    rate_card: RateCardUsed | None
    cost_note: str | None
