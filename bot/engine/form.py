"""WhatsApp Flow answers checked against a `form` step's declared fields, and the token tying them to a send.

Pure: the engine calls these with what the runner read from `response_json` (`bot.whatsapp.flow_reply`).
Only declared fields reach the slots; anything else the answer carries is left out.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from bot.engine.flow import Form, FormField

TEXT_MAX = 4096
CHOICE_MAX = 200  # an option id, as a list row's
LIST_MAX = 100
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NOT_GIVEN = object()


def form_token(step: Form, wa_id: str | None, flow: str | None, now: datetime) -> str:
    """The `flow_token` of one send of `step`: its form's name, then a digest of who, where and when.

    A new visit to the step gets a new token, so an answer to an earlier send is told apart (and ignored).
    The form's name leads, as Meta suggests, so an answer says which Flow it is from.
    """
    seed = f"{wa_id}|{flow}|{step.id}|{now.isoformat()}".encode()
    return f"{step.flow_json}.{hashlib.sha256(seed).hexdigest()[:20]}"


def check_answers(fields: Mapping[str, FormField], answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The declared fields' values, read by kind; None when one is missing though required, or of the wrong kind."""
    values: dict[str, Any] = {}
    for name, declared in fields.items():
        value = _read(declared, answers.get(name))
        if value is None:
            return None
        if value is _NOT_GIVEN:
            if declared.required:
                return None
            continue
        values[name] = value
    return values


def _read(declared: FormField, value: Any) -> Any:
    """One answer as its kind's value, `_NOT_GIVEN` when empty, None when it cannot be that kind."""
    if value is None or value == "" or value == []:
        return _NOT_GIVEN
    kind = declared.kind
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "number":
        return _number(value)
    if kind == "date":
        return _date(value)
    if kind == "list":
        fine = isinstance(value, list) and len(value) <= LIST_MAX
        return value if fine and all(isinstance(v, str) and 0 < len(v) <= CHOICE_MAX for v in value) else None
    if isinstance(value, int | float) and kind == "text":
        value = str(value)
    if not isinstance(value, str):
        return None
    limit = CHOICE_MAX if kind == "choice" else TEXT_MAX
    text = value.strip()
    return (text or _NOT_GIVEN) if len(text) <= limit else None


def _number(value: Any) -> int | float | None:
    if isinstance(value, str) and 0 < len(value) <= 40:
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def _date(value: Any) -> str | None:
    """``YYYY-MM-DD`` as a DatePicker sends it (older Flow versions: Unix milliseconds), as ISO text."""
    if isinstance(value, int) and 0 <= value < 10**14:
        return datetime.fromtimestamp(value / 1000, UTC).date().isoformat()
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None
