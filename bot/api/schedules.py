"""The recurring-schedule routes of the admin API: create, list, read with recent runs, deactivate.

Bodies are read into a `ScheduleRequest` here, with a 400 naming the field for anything wrong; the
scheduler checks the cron expression, the time zone and the template. Bearer auth is the admin API's
middleware, as for every /api route.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api.notifications import MAX_BATCH
from bot.api.request import (
    json_body,
    json_response,
    page_of,
    paging,
    path_id,
    required_text,
    template_parameters,
    text_field,
    valid_wa_id,
)
from bot.errors import ValidationError
from bot.notifications.scheduler import SCHEDULER, ScheduleRequest, upcoming
from storage.models import ScheduleBase, ScheduleRunBase


def _wa_ids(body: dict[str, Any]) -> list[str]:
    value = body.get("wa_ids")
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        raise ValidationError(f"wa_ids must be a list of 1 to {MAX_BATCH} WhatsApp numbers")
    wa_ids = [valid_wa_id(item, f"wa_ids[{index}]") for index, item in enumerate(value)]
    seen: set[str] = set()
    for index, wa_id in enumerate(wa_ids):
        if wa_id in seen:
            raise ValidationError(f"wa_ids[{index}] repeats {wa_id}")
        seen.add(wa_id)
    return wa_ids


def _request(body: dict[str, Any]) -> ScheduleRequest:
    if "timezone" in body:  # the API names a time zone `time_zone` everywhere, as contacts and campaigns do
        raise ValidationError("timezone is now time_zone, as everywhere in the API")
    return ScheduleRequest(
        name=required_text(body, "name", 128),
        cron=required_text(body, "cron", 128),
        time_zone=required_text(body, "time_zone", 64),
        template=required_text(body, "template", 512),
        parameters=template_parameters(body),
        wa_ids=_wa_ids(body),
        language=text_field(body, "language", max_length=16),
    )


def _schedule(schedule: ScheduleBase) -> dict[str, Any]:
    """A schedule as the API shows it, with a preview of its next runs."""
    return {**schedule.model_dump(), "next_runs": upcoming(schedule)}


def _run(run: ScheduleRunBase) -> dict[str, Any]:
    return run.model_dump(exclude={"schedule_id"})


async def create_schedule(request: web.Request) -> web.Response:
    """Store a schedule (201); it runs first at the next matching time after now."""
    body = await json_body(request)
    stored = await request.config_dict[SCHEDULER].create(_request(body))
    return json_response(_schedule(stored), 201)


async def list_schedules(request: web.Request) -> web.Response:
    """`GET /api/schedules`: a page of schedules, newest first (`?limit=`, `?before=<id>`)."""
    limit, before = paging(request)
    schedules = await request.config_dict[SCHEDULER].schedules(limit, before)
    return json_response(page_of([_schedule(s) for s in schedules], limit))


async def get_schedule(request: web.Request) -> web.Response:
    schedule, runs = await request.config_dict[SCHEDULER].schedule(path_id(request, "schedule"))
    return json_response({**_schedule(schedule), "runs": [_run(r) for r in runs]})


async def delete_schedule(request: web.Request) -> web.Response:
    """Deactivate a schedule; it stays readable with its runs, and deleting it again answers the same."""
    stopped = await request.config_dict[SCHEDULER].deactivate(path_id(request, "schedule"))
    return json_response(_schedule(stopped))


routes = (
    web.post("/schedules", create_schedule),
    web.get("/schedules", list_schedules),
    web.get("/schedules/{id}", get_schedule),
    web.delete("/schedules/{id}", delete_schedule),
)
