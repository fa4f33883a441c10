"""JSON in and out of the database (and on Meta's wire): orjson, with the standard library where it refuses.

Every outbox row, message body and Cloud API request is JSON; encoding and decoding it was a tenth of
the service's CPU per message with `json`. orjson writes the same values, compactly and in UTF-8; what
it refuses and `json` takes (integers beyond 64 bits) goes through `json`. Unlike `json`, it writes `NaN`
and the infinities as `null` (JSON has no such numbers; PostgreSQL refuses them) and datetimes as ISO text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # as `json` does: {1: "a"} is written {"1": "a"}


def dumps_bytes(value: Any) -> bytes:
    """`value` as UTF-8 JSON."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: let `json` take it, or raise its own error
        return json.dumps(value).encode()


def dumps(value: Any) -> str:
    """`value` as JSON text (what SQLAlchemy's JSON columns bind)."""
    return dumps_bytes(value).decode()


# A run of 19 digits or more may be an integer beyond 64 bits, which orjson reads as a float, silently
# losing digits (the webhook fuzzer stored 2298225012062469115028176896 and read back 2.298225012062469e+27);
# `json` reads it exactly. Runs that long inside strings only send those documents the slower way.
_LONG_NUMBER = re.compile(r"\d{19,}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{19,}")


def loads(text: str | bytes) -> Any:
    """The value of a JSON document; `json` reads what orjson refuses (`NaN`) or would round, or raises `ValueError`."""
    long_number = _LONG_NUMBER_BYTES if isinstance(text, bytes) else _LONG_NUMBER
    if long_number.search(text):  # type: ignore[arg-type]
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
