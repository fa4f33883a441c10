"""The bodies of `/api/schedules` as Pydantic models: the handlers check with them, the document shows them.

The model checks each field on its own, the cron expression and the time zone included, and reports every
wrong field at once; what needs the template library (the template, its category, its variables) is the
scheduler's (`bot.notifications.scheduler.Scheduler.create`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import AfterValidator, Field

from bot.api.model import Body
from bot.api.notification_model import MAX_BATCH, Parameters, Text16, Text64, Text128, Text512, WaId
from bot.api.number_model import SendingNumber
from bot.errors import ValidationError
from bot.notifications.scheduler import PREVIEW, RECENT_RUNS
from bot.recurring import cron

Value = TypeVar("Value")
_WA_IDS = f"must be a list of 1 to {MAX_BATCH} WhatsApp numbers"


def _as_field_error(check: Callable[[str], object]) -> Callable[[str], str]:
    """`check`'s `ValidationError` as the model's error for the field it is applied to."""

    def run(value: str) -> str:
        try:
            check(value)
        except ValidationError as exc:
            raise ValueError(exc.message) from None
        return value

    return run


def _distinct(wa_ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for index, wa_id in enumerate(wa_ids):
        if wa_id in seen:
            raise ValueError(f"has {wa_id} twice, at [{seen[wa_id]}] and [{index}]")
        seen[wa_id] = index
    return wa_ids


def _a_list(value: Any) -> Any:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        raise ValueError(_WA_IDS)
    return value


Cron = Annotated[
    Text128,
    AfterValidator(_as_field_error(lambda text: cron.parse(text, "UTC"))),
    Field(
        description="Five cron fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, "
        "@monthly, @yearly; read in `time_zone`, daylight-saving changes as in Debian cron",
        examples=["0 9 * * MON-FRI"],
    ),
]
TimeZone = Annotated[
    Text64,
    AfterValidator(_as_field_error(cron.zone_named)),
    Field(description="IANA time zone name", examples=["Europe/Amsterdam"]),
]
WaIds = Annotated[
    list[WaId],
    pydantic.BeforeValidator(_a_list),
    AfterValidator(_distinct),
    Field(min_length=1, max_length=MAX_BATCH, json_schema_extra={"uniqueItems": True}),
]


class ScheduleCreate(Body):
    """A recurring utility notification: a template to a list of numbers, on a cron schedule in a time zone."""

    name: Text128 = Field(description="Unique among schedules")
    cron: Cron
    time_zone: TimeZone
    template: Text512 = Field(description="A utility template's name")
    language: Text16 | None = Field(None, description="The template's language (default: the library's)")
    parameters: Parameters = Field(default_factory=dict, description="A value for every variable of the template")
    wa_ids: WaIds
    phone_number_id: SendingNumber = None


class ScheduleRun(pydantic.BaseModel):
    """One run of a schedule: an occurrence runs once, queueing one message per recipient."""

    id: int
    scheduled_for: datetime = Field(description="The occurrence this run is for")
    queued: int = Field(description="Messages queued, one per recipient")
    created_at: datetime


class Schedule(pydantic.BaseModel):
    """A schedule as stored, with a preview of its next runs."""

    id: int
    name: str
    cron: str
    time_zone: str
    template: str
    language: str | None
    parameters: dict[str, str]
    wa_ids: list[str]
    phone_number_id: str | None = Field(description="The business number it goes out from")
    active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None = Field(description="The occurrence that ran last")
    next_runs: list[datetime] = Field(max_length=PREVIEW, description=f"The next {PREVIEW} runs (none once inactive)")
    created_at: datetime
    updated_at: datetime


class ScheduleWithRuns(Schedule):
    """A schedule alone, with its latest runs."""

    runs: list[ScheduleRun] = Field(max_length=RECENT_RUNS, description=f"The latest {RECENT_RUNS}, newest first")


class SchedulePage(pydantic.BaseModel):
    items: list[Schedule]
    next_before: int | None
