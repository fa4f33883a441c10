"""The contact bodies of `/api/contacts` as Pydantic models: the handler checks with them, the document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pydantic
from pydantic import Field

from bot.api.contact_input import LANGUAGE, MAX_EVIDENCE, MAX_NAME
from bot.api.model import Body

Consent = Literal["opt_in", "opt_out"]
State = Literal["opt_in", "opt_out", "none"]


class ConsentInput(Body):
    """A marketing consent the business holds evidence of."""

    marketing: Consent | None = None
    evidence: str | None = Field(None, max_length=MAX_EVIDENCE, description="Where and how (required for opt_in)")
    at: str | None = Field(None, description="When it was given, ISO 8601", json_schema_extra={"format": "date-time"})


class ContactCreate(Body):
    """One contact to add or update; a field left out (or null) keeps its stored value."""

    wa_id: str | None = Field(None, description="The number, with country code (+31 6 1234 5678 or 31612345678)")
    phone: str | None = Field(None, description="Another name for wa_id")
    name: str | None = Field(None, max_length=MAX_NAME)
    language: str | None = Field(None, pattern=f"^{LANGUAGE.pattern}$")
    time_zone: str | None = Field(None, description="IANA name; default: the number's, else BOT_TIMEZONE")
    tags: list[str] | None = Field(None, description="Added to the contact's tags")
    consent: ConsentInput | None = None


class MarketingConsent(pydantic.BaseModel):
    state: State
    history: list[dict[str, Any]] = Field(description="The append-only ledger, oldest first")


class ContactConsent(pydantic.BaseModel):
    marketing: MarketingConsent


class Contact(pydantic.BaseModel):
    """A contact as the API shows it: in a list with `marketing`, alone with `consent`."""

    wa_id: str | None
    user_id: str | None = None
    name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    tags: list[str]
    last_inbound_at: datetime | None = None
    marketing: State | None = Field(None, description="Current marketing consent state (in lists)")
    consent: ContactConsent | None = Field(None, description="Per purpose: the state and the ledger (alone)")


class ContactWritten(Contact):
    """The contact a JSON `POST /api/contacts` stored, and where its time zone came from."""

    time_zone_source: Literal["given", "number", "business_default"]


class ContactPage(pydantic.BaseModel):
    items: list[Contact]
    next_before: int | None


class RejectedRow(pydantic.BaseModel):
    line: int = Field(description="The row's line in the file, the header being line 1")
    wa_id: str | None
    reason: str


class ImportReport(pydantic.BaseModel):
    """Every data row read is counted in rows, and is either stored (created or updated) or rejected."""

    rows: int = Field(description="Data rows read (blank lines are not counted)")
    created: int
    updated: int
    consent_recorded: int
    time_zone_from_business_default: int
    rejected: list[RejectedRow]


class Erasure(pydantic.BaseModel):
    """What erasing a contact removed, cancelled and kept; the number itself is not repeated."""

    erased: Literal[True]
    already_erased: bool = Field(description="The number was erased before; nothing changed now")
    pseudonym: str = Field(
        description="HMAC-SHA256 of the number under BOT_SECRET_KEY: the same number always gives the same"
    )
    cancelled: int = Field(description="Queued and paused messages cancelled")
    deleted: dict[str, int] = Field(
        description="Rows deleted: sessions, otp_challenges, orders, appointments, accounts, media (media_files: files)"
    )
    blanked: dict[str, int] = Field(
        description="Rows whose words or number went: messages, outbox, webhook_bodies, status_events, notices, "
        "schedules, campaigns"
    )
    kept: dict[str, int] = Field(description="Rows kept, pseudonymous: consent_events, conversations")
