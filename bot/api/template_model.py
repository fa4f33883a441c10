"""The bodies of `/api/templates` as Pydantic models: checked and answered with them, shown by them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pydantic
from pydantic import Field

from bot.api.model import Body, said
from bot.message_templates.template_file import LANGUAGE_PATTERN
from bot.whatsapp.category import Category

_LANGUAGE = "must be a language code such as en or pt_BR"
Language = Annotated[str, Field(pattern=f"^{LANGUAGE_PATTERN.pattern}$", max_length=16), said(_LANGUAGE)]


class Unblock(Body):
    """Which language of the template to use again; without one (or with no body), every language."""

    language: Language | None = Field(None, description="Omit for every language")


class TemplateBlock(pydantic.BaseModel):
    """Meta refused the template (132000, 132001, 132015, 132016): it is not used until it is unblocked."""

    error_code: int | None
    reason: str
    blocked_at: datetime


class MetaWord(pydantic.BaseModel):
    """What Meta last said of the template (its webhooks, or `bot templates sync`)."""

    status: str | None = Field(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED ...; null if never said")
    reason: str | None = Field(description="Meta's reason for the status, in words")
    category: str | None = Field(description="Meta's category (lower case), which prices and checks its sends")
    refused: bool = Field(description="Sends of it are refused (409 template_not_approved) until Meta approves it")
    pushed_at: datetime | None = Field(description="When `bot templates push` last submitted it")


class Template(pydantic.BaseModel):
    """A template file of the library, the block Meta's refusal put on it, and Meta's word on it."""

    name: str
    language: str
    category: Category
    variables: list[str]
    blocked: TemplateBlock | None = Field(description="Set when Meta refused the template: it is not used")
    meta: MetaWord | None = Field(None, description="Null when Meta never reported on it: then it is sent")


class TemplatePage(pydantic.BaseModel):
    """Templates in name and language order; `next_after` is the `after` of the next page."""

    items: list[Template]
    next_after: str | None = Field(
        description="The page's last name.language when more follow", examples=["order_shipped.en"]
    )


class Unblocked(pydantic.BaseModel):
    name: str
    language: str | None
    unblocked: int = Field(description="How many blocks were lifted")
