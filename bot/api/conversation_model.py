"""The answers of `GET /api/conversations` and `GET /api/messages` as Pydantic models, which the document shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pydantic
from pydantic import Field

from bot.whatsapp.category import Category, Origin


class Conversation(pydantic.BaseModel):
    """A conversation: a 24-hour window of one category with one contact, as Meta counts them."""

    id: int
    wa_id: str | None
    user_id: str | None = None
    category: Category
    origin: Origin
    opened_at: datetime
    expires_at: datetime


class Message(pydantic.BaseModel):
    """A message in or out, with what Meta said about its delivery and price."""

    id: int | None = None
    wamid: str
    wa_id: str | None = None
    direction: Literal["in", "out"]
    type: str
    text: str | None = None
    template_name: str | None = None
    category: str | None
    status: str = Field(description="received (in); accepted, sent, delivered, read, failed (out)")
    pricing: dict[str, Any] | None = Field(description="Meta's pricing object from the status webhook")
    error: dict[str, Any] | None = None
    conversation_id: int | None = None
    created_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None


class ConversationPage(pydantic.BaseModel):
    items: list[Conversation]
    next_before: int | None


class MessagePage(pydantic.BaseModel):
    items: list[Message]
    next_before: int | None
