"""The dashboard's schedules: recurring utility notifications listed with their next run, created, edited, paused.

The form is read into the body `POST /api/schedules` takes and checked by the API's own model
(`bot.api.schedule_model.ScheduleCreate`), then by the scheduler against the template library, so a
mistake reads as the API says it, shown under the field it is about. Pausing is the API's
`DELETE /api/schedules/{id}` (the schedule stops and keeps its history); deleting also removes it, after
a confirmation.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot import keys
from bot.api.model import validated
from bot.api.schedule_model import ScheduleCreate
from bot.dashboard.campaign_form import split
from bot.dashboard.pages import templates_by_name
from bot.dashboard.render import PREFIX, before, done, form, render
from bot.errors import BotError, NotFound
from bot.field import row_id
from bot.message_templates.library import TEMPLATES
from bot.notifications.scheduler import SCHEDULER, ScheduleRequest, upcoming
from storage.models import ScheduleBase

routes = web.RouteTableDef()
PAGE_SIZE = 50
FIELDS = ("name", "cron", "time_zone", "template", "language", "parameters", "wa_ids")


def schedule_body(fields: dict[str, str]) -> dict[str, Any]:
    """The form as a `POST /api/schedules` body: values one `name: value` a line, numbers split on , ; or space."""
    parameters: dict[str, str] = {}
    for line in fields.get("parameters", "").splitlines():
        name, _, value = line.partition(":")
        if name.strip():
            parameters[name.strip()] = value.strip()
    body: dict[str, Any] = {key: fields.get(key, "").strip() for key in ("name", "cron", "time_zone", "template")}
    body["parameters"] = parameters
    body["wa_ids"] = [n.removeprefix("+") for n in split(fields.get("wa_ids", ""), ",; \n")]
    if fields.get("language", "").strip():
        body["language"] = fields["language"].strip()
    return body


def problems_of(exc: BotError) -> tuple[dict[str, str], str | None]:
    """A refusal as messages by form field (the first wrong item of a list stands for it), or as one message."""
    fields = getattr(exc, "fields", None) or []
    if not fields:
        return {}, exc.message
    found: dict[str, str] = {}
    for problem in fields:
        name = re.split(r"[.\[]", problem.field)[0]
        found.setdefault(name, problem.message if name == problem.field else f"{problem.field}: {problem.message}")
    return found, None


def _schedule_id(request: web.Request) -> int:
    found = row_id(request.match_info["id"])
    if found is None:
        raise NotFound(f"no schedule {request.match_info['id'][:20]}")
    return found


def _as_fields(schedule: ScheduleBase) -> dict[str, str]:
    values = "\n".join(f"{k}: {v}" for k, v in (schedule.parameters or {}).items())
    return {
        "name": schedule.name, "cron": schedule.cron, "time_zone": schedule.time_zone, "template": schedule.template,
        "language": schedule.language or "", "parameters": values, "wa_ids": ", ".join(schedule.wa_ids or []),
    }  # fmt: skip


@routes.get("/schedules")
async def schedules(request: web.Request) -> web.Response:
    """Every schedule, newest first, with whether it runs and its next runs."""
    found = await request.config_dict[SCHEDULER].schedules(PAGE_SIZE, before(request))
    return render(
        request,
        "schedules.html",
        title="Schedules",
        rows=[(s, upcoming(s)) for s in found],
        next_before=found[-1].id if len(found) == PAGE_SIZE else None,
    )


async def _form_page(
    request: web.Request,
    fields: dict[str, str],
    *,
    schedule: ScheduleBase | None = None,
    status: int = 200,
    problems: dict[str, str] | None = None,
    error: str | None = None,
) -> web.Response:
    runs = (await request.config_dict[SCHEDULER].schedule(schedule.id))[1] if schedule and schedule.id else []
    return render(
        request,
        "schedule.html",
        status=status,
        title=schedule.name if schedule else "New schedule",
        schedule=schedule,
        next_runs=upcoming(schedule) if schedule else [],
        runs=runs,
        fields=fields,
        templates=templates_by_name(request.config_dict[TEMPLATES], "utility"),
        problems=problems or {},
        error=error,
    )


async def _save(request: web.Request, schedule: ScheduleBase | None) -> web.Response:
    """Check the form as the API checks a body, then create or update; a refusal shows the form again."""
    fields = await form(request)
    scheduler = request.config_dict[SCHEDULER]
    try:
        checked = ScheduleRequest(**validated(ScheduleCreate, schedule_body(fields)).model_dump())
        stored = await (scheduler.create(checked) if schedule is None else scheduler.update(_id(schedule), checked))
    except BotError as exc:
        problems, error = problems_of(exc)
        return await _form_page(request, fields, schedule=schedule, status=400, problems=problems, error=error)
    raise done(f"/schedules/{stored.id}", "schedule_saved")


def _id(schedule: ScheduleBase) -> int:
    assert schedule.id is not None
    return schedule.id


@routes.get("/schedules/new")
async def new_schedule(request: web.Request) -> web.Response:
    """An empty form, its time zone the business's."""
    return await _form_page(request, {"time_zone": request.config_dict[keys.SETTINGS].business_timezone})


@routes.post("/schedules/new")
async def create_schedule(request: web.Request) -> web.Response:
    return await _save(request, None)


@routes.get("/schedules/{id}")
async def schedule_page(request: web.Request) -> web.Response:
    """One schedule: its next runs and latest runs, its fields to edit, and pause, resume and delete."""
    schedule, _ = await request.config_dict[SCHEDULER].schedule(_schedule_id(request))
    return await _form_page(request, _as_fields(schedule), schedule=schedule)


@routes.post("/schedules/{id}")
async def update_schedule(request: web.Request) -> web.Response:
    schedule, _ = await request.config_dict[SCHEDULER].schedule(_schedule_id(request))
    return await _save(request, schedule)


@routes.post("/schedules/{id}/{action:pause|resume}")
async def pause_or_resume(request: web.Request) -> web.Response:
    """Pause (as the API's DELETE: it stops, its queued run is cancelled) or run again from the next occurrence."""
    schedule_id, action = _schedule_id(request), request.match_info["action"]
    scheduler = request.config_dict[SCHEDULER]
    await (scheduler.deactivate(schedule_id) if action == "pause" else scheduler.activate(schedule_id))
    raise done(f"/schedules/{schedule_id}", f"schedule_{action}d")


@routes.post("/schedules/{id}/delete")
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete once confirmed: the schedule and its runs go, its messages still queued are cancelled."""
    schedule_id = _schedule_id(request)
    schedule, runs = await request.config_dict[SCHEDULER].schedule(schedule_id)
    if (await form(request)).get("confirm") != "yes":
        return render(
            request,
            "confirm.html",
            title="Delete this schedule?",
            question=f"Delete {schedule.name!r} for good?",
            details=[
                "It sends nothing more; its messages still queued are cancelled.",
                f"Its history ({len(runs)} runs) goes with it. To stop it for a while, pause it instead.",
            ],
            action=f"{PREFIX}/schedules/{schedule_id}/delete",
            hidden={},
            button="Delete schedule",
            back=f"{PREFIX}/schedules/{schedule_id}",
            back_label="Keep it, back to the schedule",
        )
    await request.config_dict[SCHEDULER].delete(schedule_id)
    raise done("/schedules", "schedule_deleted")
