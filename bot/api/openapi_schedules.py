"""The recurring-schedule part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import NOT_FOUND, OPT_TIME, PAGING, TIME, WA_ID, created, json_body, ok, page, ref

_SCHEDULE_FIELDS = {
    "name": {"type": "string", "maxLength": 128, "description": "Unique among schedules"},
    "cron": {
        "type": "string",
        "maxLength": 128,
        "description": "Five cron fields (minute hour day-of-month month day-of-week) or @hourly, @daily, "
        "@weekly, @monthly, @yearly; read in `time_zone`, daylight-saving changes as in Debian cron",
        "examples": ["0 9 * * MON-FRI"],
    },
    "time_zone": {"type": "string", "maxLength": 64, "description": "IANA time zone", "examples": ["Europe/Amsterdam"]},
    "template": {"type": "string", "description": "A utility template's name"},
    "language": {"type": ["string", "null"], "description": "The template's language (default: the library's)"},
    "parameters": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number"]},
        "description": "A value for every variable of the template",
    },
    "wa_ids": {"type": "array", "items": WA_ID, "minItems": 1, "maxItems": 1000, "uniqueItems": True},
}
_SCHEDULE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        **_SCHEDULE_FIELDS,
        "active": {"type": "boolean"},
        "next_run_at": OPT_TIME,
        "last_run_at": {**OPT_TIME, "description": "The occurrence that ran last"},
        "next_runs": {"type": "array", "items": TIME, "description": "The next 3 runs (none once inactive)"},
        "created_at": TIME,
        "updated_at": TIME,
    },
}
_SCHEDULE_RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "scheduled_for": {**TIME, "description": "The occurrence this run is for; each runs once"},
        "queued": {"type": "integer", "description": "Messages queued, one per recipient"},
        "created_at": TIME,
    },
}
_SCHEDULE_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
SCHEDULE_PATHS: dict[str, Any] = {
    "/api/schedules": {
        "post": {
            "summary": "A recurring utility notification: a template to a list of numbers, on a cron schedule",
            "description": "Each occurrence runs once, also across instances, queueing one message per number. "
            "After downtime only the latest missed occurrence is sent. A schedule whose template or values stop "
            "fitting is deactivated.",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["name", "cron", "time_zone", "template", "wa_ids"],
                    "properties": _SCHEDULE_FIELDS,
                }
            ),
            "responses": {
                **created(_SCHEDULE, "The schedule, with its next 3 runs"),
                "409": {"description": "The name is taken", "content": {"application/json": {"schema": ref("Error")}}},
            },
        },
        "get": {
            "summary": "The schedules, newest first, a page at a time",
            "parameters": PAGING,
            "responses": ok(page(_SCHEDULE), "A page of schedules"),
        },
    },
    "/api/schedules/{id}": {
        "get": {
            "summary": "One schedule with its latest runs, newest first",
            "parameters": _SCHEDULE_ID,
            "responses": {
                **ok(
                    {
                        "allOf": [
                            _SCHEDULE,
                            {"properties": {"runs": {"type": "array", "items": _SCHEDULE_RUN, "maxItems": 20}}},
                        ]
                    },
                    "The schedule",
                ),
                "404": NOT_FOUND,
            },
        },
        "delete": {
            "summary": "Deactivate a schedule (idempotent); it stays readable with its runs",
            "description": "Messages of its latest run that are still queued are cancelled.",
            "parameters": _SCHEDULE_ID,
            "responses": {**ok(_SCHEDULE, "The deactivated schedule"), "404": NOT_FOUND},
        },
    },
}
