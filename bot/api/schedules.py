"""The recurring-schedule routes of the admin API: create, list, read with recent runs, deactivate.

Bodies are checked by `bot.api.schedule_model.ScheduleCreate` (a 400 naming every wrong field), then by the
scheduler against the template library; answers are the models of the same module. Bearer auth is the
admin API's middleware, as for every /api route.
"""

from __future__ import annotations

from aiohttp import web

from bot.api.model import validated
from bot.api.request import json_body, json_response, paging, path_id
from bot.api.schedule_model import Schedule, ScheduleCreate, SchedulePage, ScheduleWithRuns
from bot.notifications.scheduler import SCHEDULER, ScheduleRequest, upcoming
from bot.numbers.number import NUMBERS, sending_number
from storage.models import ScheduleBase, ScheduleRunBase


def _schedule(schedule: ScheduleBase) -> Schedule:
    """A schedule as the API shows it, with a preview of its next runs."""
    return Schedule.model_validate({**schedule.model_dump(), "next_runs": upcoming(schedule)})


def _with_runs(schedule: ScheduleBase, runs: list[ScheduleRunBase]) -> ScheduleWithRuns:
    return ScheduleWithRuns.model_validate(
        {**schedule.model_dump(), "next_runs": upcoming(schedule), "runs": [r.model_dump() for r in runs]}
    )


def _answer(model: Schedule | SchedulePage, status: int = 200) -> web.Response:
    return json_response(model.model_dump(), status)


async def create_schedule(request: web.Request) -> web.Response:
    """Store a schedule (201); it runs first at the next matching time after now."""
    given = validated(ScheduleCreate, await json_body(request)).model_dump()
    given["phone_number_id"] = sending_number(request.config_dict[NUMBERS], given["phone_number_id"])
    stored = await request.config_dict[SCHEDULER].create(ScheduleRequest(**given))
    return _answer(_schedule(stored), 201)


async def list_schedules(request: web.Request) -> web.Response:
    """`GET /api/schedules`: a page of schedules, newest first (`?limit=`, `?before=<id>`)."""
    limit, before = paging(request)
    schedules = await request.config_dict[SCHEDULER].schedules(limit, before)
    following = schedules[-1].id if len(schedules) == limit else None
    return _answer(SchedulePage(items=[_schedule(s) for s in schedules], next_before=following))


async def get_schedule(request: web.Request) -> web.Response:
    return _answer(_with_runs(*await request.config_dict[SCHEDULER].schedule(path_id(request, "schedule"))))


async def delete_schedule(request: web.Request) -> web.Response:
    """Deactivate a schedule; it stays readable with its runs, and deleting it again answers the same."""
    stopped = await request.config_dict[SCHEDULER].deactivate(path_id(request, "schedule"))
    return _answer(_schedule(stopped))


routes = (
    web.post("/schedules", create_schedule),
    web.get("/schedules", list_schedules),
    web.get("/schedules/{id}", get_schedule),
    web.delete("/schedules/{id}", delete_schedule),
)
