"""The dashboard's campaign form, read into the body `POST /api/campaigns` takes, so both are checked alike.

Pure: the form's text fields in, a JSON-like body out. Nothing is checked here beyond turning text into
the types the API expects (a whole number, a list, a time with its offset); what cannot be turned is
passed on as typed, so `bot.campaigns.campaign.read_request` says what is wrong in the API's own words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

VALUE, FIELD = "value_", "field_"  # per template variable: the text, and the contact field it is taken from
SCHEDULES = ("now", "at", "cron")


def split(text: str, separators: str = ",") -> list[str]:
    """The non-empty items of a list typed in one field."""
    return [item.strip() for item in re.split(f"[{separators}]+", text) if item.strip()]


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text  # the API's check says what is wrong with it


def _moment(text: str, zone: str) -> str:
    """A `datetime-local` value (no offset) read in the campaign's zone, as ISO 8601 with its offset."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
    except (ValueError, KeyError, OSError):
        return text
    return moment.isoformat()


def parameters(fields: Mapping[str, str], variables: Sequence[str]) -> dict[str, Any]:
    """Each variable as literal text, or as a contact field whose default is the text typed."""
    found: dict[str, Any] = {}
    for variable in variables:
        text, field = fields.get(VALUE + variable, "").strip(), fields.get(FIELD + variable, "")
        if field:
            found[variable] = {"field": field, **({"default": text} if text else {})}
        elif text:
            found[variable] = text
    return found


def campaign_body(fields: Mapping[str, str], variables: Sequence[str], default_zone: str) -> dict[str, Any]:
    """The form's fields as a `POST /api/campaigns` body; empty fields are left out, as an API caller would."""
    body: dict[str, Any] = {"name": fields.get("name", ""), "template": fields.get("template", "")}
    body["parameters"] = parameters(fields, variables)
    audience = {key: split(fields.get(key, "")) for key in ("tags", "any_tags") if split(fields.get(key, ""))}
    if audience:
        body["audience"] = audience
    optional = {
        "language": fields.get("language", "").strip(),
        "time_zone": fields.get("time_zone", "").strip(),
        "flow": fields.get("flow", "").strip(),
        "phone_number_id": fields.get("phone_number_id", "").strip(),
        "frequency_cap": _number(fields.get("frequency_cap", "").strip(), int),
        "rate": _number(fields.get("rate", "").strip(), float),
        "test_numbers": [n.removeprefix("+") for n in split(fields.get("test_numbers", ""), ",; \n")],
    }
    body.update({key: value for key, value in optional.items() if value not in ("", [])})
    schedule = fields.get("schedule", "now")
    if schedule == "at":
        body["send_at"] = _moment(fields.get("send_at", "").strip(), body.get("time_zone", default_zone))
    elif schedule == "cron":
        body["cron"] = fields.get("cron", "").strip()
    return body
