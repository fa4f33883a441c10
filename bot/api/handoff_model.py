"""The body of an agent's reply (`POST /api/conversations/{wa_id}/reply`) as a Pydantic model the document shows."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.api.model import Body, said
from bot.inbound.handoff import TEXT_MAX

_TEXT = f"text must be a non-empty message of at most {TEXT_MAX} characters"


class AgentReply(Body):
    """A free-form message an agent types to a handed-off contact."""

    text: Annotated[str, Field(min_length=1, max_length=TEXT_MAX, pattern=r"\S"), said(_TEXT)] = Field(
        description="Sent as typed, without leading and trailing blanks"
    )
