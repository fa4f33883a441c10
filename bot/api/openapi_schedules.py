"""The recurring-schedule part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import ID, NOT_FOUND, PAGING, created, error_answer, json_body, ok, ref
from bot.api.schedule_model import Schedule, ScheduleCreate, SchedulePage, ScheduleWithRuns

MODELS = (ScheduleCreate,)  # request bodies
ANSWERS = (Schedule, SchedulePage, ScheduleWithRuns)  # answer bodies

PATHS: dict[str, Any] = {
    "/api/schedules": {
        "post": {
            "summary": "A recurring utility notification: a template to a list of numbers, on a cron schedule",
            "description": "Each occurrence runs once, also across instances, queueing one message per number. "
            "After downtime only the latest missed occurrence is sent. A schedule whose template or values stop "
            "fitting is deactivated.",
            "requestBody": json_body(ref("ScheduleCreate")),
            "responses": {
                **created(ref("Schedule"), "The schedule, with its next 3 runs"),
                "409": error_answer("The name is taken"),
            },
        },
        "get": {
            "summary": "The schedules, newest first, a page at a time",
            "parameters": PAGING,
            "responses": ok(ref("SchedulePage"), "A page of schedules"),
        },
    },
    "/api/schedules/{id}": {
        "get": {
            "summary": "One schedule with its latest runs, newest first",
            "parameters": ID,
            "responses": {**ok(ref("ScheduleWithRuns"), "The schedule"), "404": NOT_FOUND},
        },
        "delete": {
            "summary": "Deactivate a schedule (idempotent); it stays readable with its runs",
            "description": "Messages of its latest run that are still queued are cancelled.",
            "parameters": ID,
            "responses": {**ok(ref("Schedule"), "The deactivated schedule"), "404": NOT_FOUND},
        },
    },
}
