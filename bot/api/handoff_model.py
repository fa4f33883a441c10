"""The handoff routes' bodies as Pydantic models the document shows: an agent's reply, the inbox, a release."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pydantic
from pydantic import Field

from bot.api.model import Body, said
from bot.inbound.handoff import TEXT_MAX

_TEXT = f"text must be a non-empty message of at most {TEXT_MAX} characters"


class AgentReply(Body):
    """A free-form message an agent types to a handed-off contact."""

    text: Annotated[str, Field(min_length=1, max_length=TEXT_MAX, pattern=r"\S"), said(_TEXT)] = Field(
        description="Sent as typed, without leading and trailing blanks"
    )


class ReplyQueued(pydantic.BaseModel):
    queued: bool
    window_closes_at: datetime = Field(description="When the customer service window closes; after it, a template")


class Released(pydantic.BaseModel):
    wa_id: str
    released: bool = Field(description="Whether the conversation was handed off")


class Waiting(pydantic.BaseModel):
    """A contact a flow handed to a person."""

    contact_id: int
    wa_id: str | None = Field(description="null once the contact was erased")
    name: str | None
    since: datetime = Field(description="Handed off since")


class WaitingPage(pydantic.BaseModel):
    """Newest contact first; `next_before` is a contact id."""

    items: list[Waiting]
    next_before: int | None
