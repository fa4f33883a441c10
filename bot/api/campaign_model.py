"""The campaign bodies of `/api/campaigns` as Pydantic models: the handler checks with them, the document shows them.

The model checks shape and range and reports every wrong field at once; what needs the app (the template
and its variables, the flows, cron and time zone, numbers) is `bot.campaigns.campaign.read_request`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field

from bot.api.model import Body, said
from bot.api.stats_model import RateCardUsed
from bot.campaigns.campaign import CONTACT_FIELDS, MAX_FREQUENCY_CAP, MAX_LANGUAGE

State = Literal["scheduled", "running", "paused", "completed", "cancelled"]
RecipientStatus = Literal["queued", "sending", "sent", "failed", "cancelled", "paused", "unknown"]
ContactField = Literal["name", "wa_id", "language", "time_zone"]
_PARAMETER = f'must be text or {{"field": one of {", ".join(CONTACT_FIELDS)}, "default": "text"}}'
_CAP = f"frequency_cap must be a whole number of messages per 7 days, 1 to {MAX_FREQUENCY_CAP}"
_RATE = "rate must be messages per second, more than 0 and at most 1000"


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value.strip()


def _literal(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError(_PARAMETER)
    return value


class ParameterField(Body):
    """A template variable taken from the contact, with the text used for a contact that lacks it."""

    field: ContactField
    default: str | None = None


Parameter = Annotated[
    str | ParameterField,
    said(_PARAMETER),
    AfterValidator(_literal),
    Field(description='Literal text, or {"field": "name", "default": "…"}'),
]
Items = list[Annotated[str, Field(min_length=1)]] | None


class Audience(Body):
    """Who the campaign is for: every filter given must hold."""

    tags: Items = Field(None, description="Contacts with all of these tags")
    any_tags: Items = Field(None, description="Contacts with at least one of these tags")
    languages: Items = None
    country_codes: list[Annotated[str, Field(pattern=r"^\d{1,3}$")]] | None = Field(
        None, description="Calling codes such as 31 or 55"
    )
    wa_ids: Items = None


class CampaignCreate(Body):
    """A marketing campaign: a template, an audience, each variable's value, a schedule and limits."""

    name: Annotated[str, Field(max_length=128), AfterValidator(_required)]
    template: Annotated[str, Field(max_length=512), AfterValidator(_required)] = Field(
        description="A marketing template; any other category is refused"
    )
    language: str | None = Field(None, min_length=1, max_length=MAX_LANGUAGE, description="Such as en or pt_BR")
    parameters: dict[str, Parameter] | None = Field(None, description="A value for each of the template's variables")
    audience: Audience | None = None
    send_at: str | None = Field(
        None, description="Once, at this time (with its offset)", json_schema_extra={"format": "date-time"}
    )
    cron: str | None = Field(None, description="Recurring, in time_zone; not with send_at")
    time_zone: str | None = Field(None, description="IANA name; default BOT_TIMEZONE")
    frequency_cap: Annotated[Annotated[int, Field(ge=1, le=MAX_FREQUENCY_CAP)] | None, said(_CAP)] = Field(
        None, description="Marketing per contact per 7 days (default 2)"
    )
    rate: Annotated[Annotated[float, Field(gt=0, le=1000)] | None, said(_RATE)] = Field(
        None, description="Messages per second for this campaign"
    )
    flow: str | None = Field(None, min_length=1, description="The flow a tap on its quick reply enters")
    test_numbers: list[str] | None = Field(None, description="The numbers POST /api/campaigns/{id}/test may send to")


class TestSend(Body):
    """Numbers to send the campaign to now; each must be on its test_numbers."""

    wa_ids: list[str] | None = Field(None, description="WhatsApp numbers on the campaign's test_numbers")


class CampaignRun(pydantic.BaseModel):
    id: int | None
    scheduled_for: datetime
    state: str
    cursor: int
    queued: int
    created_at: datetime
    finished_at: datetime | None


class Campaign(pydantic.BaseModel):
    """A campaign as stored; with its progress (messages by state) in lists and alone, with its runs alone."""

    id: int
    name: str
    template: str
    language: str | None
    parameters: dict[str, Any] | None
    audience: dict[str, list[str]] | None
    send_at: datetime | None
    cron: str | None
    time_zone: str
    next_run_at: datetime | None
    frequency_cap: int
    rate: float | None
    flow: str | None
    test_numbers: list[str] | None
    state: State
    created_at: datetime
    updated_at: datetime
    progress: dict[str, int] | None = Field(None, description="Messages by state")
    runs: list[CampaignRun] | None = None


class CampaignPage(pydantic.BaseModel):
    items: list[Campaign]
    next_before: int | None


class CountryCost(pydantic.BaseModel):
    country_calling_code: str
    category: Literal["marketing"]
    recipients: int
    estimated_cost: str | None = Field(description="Decimal, in currency; null without a price")
    unpriced: int


class QuietHold(pydantic.BaseModel):
    """Recipients quiet hours would hold, by the time zone whose clock they wait for."""

    until_local: str = Field(description="When their quiet hours end, on their own clock (HH:MM)")
    time_zone: str
    recipients: int
    until: datetime = Field(description="The same moment with its offset (UTC)")


class DryRunReport(pydantic.BaseModel):
    """Who would get the campaign now, who would not and why, and what it would cost by country."""

    audience: int
    would_send: int = Field(description="Every recipient it would go to: now plus held_by_quiet_hours")
    now: int = Field(description="Those it would go to at once")
    held_by_quiet_hours: int = Field(description="Those quiet hours would hold (BOT_QUIET_HOURS) until `held` says")
    held: list[QuietHold]
    summary: str = Field(
        description='E.g. "5 would get it: 1 now, 4 held by quiet hours until 08:00 in their time zone"'
    )
    suppressed: dict[str, int] = Field(description="Contacts left out, by reason")
    by_country: list[CountryCost]
    estimated_cost: str
    currency: str | None
    rate_card: RateCardUsed | None = None
    cost_note: str | None = None


class Recipient(pydantic.BaseModel):
    """One recipient's message of the campaign: its outcome, Meta's status, a reply, an opt-out."""

    id: int = Field(description="The message's id; the cursor of the next page")
    wa_id: str
    name: str | None = Field(description="The contact's name, when known")
    status: RecipientStatus
    meta_status: str | None = Field(description="sent, delivered, read or failed, as Meta's webhooks said")
    reason: str | None = Field(description="Why it failed or was held, as a code")
    detail: str | None
    replied: bool = Field(description="The contact wrote after this message")
    opted_out: bool = Field(description="The contact opted out of marketing since it was queued")
    updated_at: datetime
    due_at: datetime = Field(description="When it goes (or went): a message held by quiet hours goes then")


class RecipientPage(pydantic.BaseModel):
    items: list[Recipient]
    next_before: int | None


class Queued(pydantic.BaseModel):
    queued: int


class TestQueued(Queued):
    note: str = Field(description="Tests go at once: quiet hours don't hold them")


class Requeued(pydantic.BaseModel):
    requeued: int
