"""JSON in and out of the database (and on Meta's wire): orjson writes, msgspec reads, `json` takes what they refuse.

Every outbox row, message body and Cloud API request is JSON; encoding and decoding it was a tenth of
the service's CPU per message with `json`. orjson writes the same values, compactly and in UTF-8; what
it refuses and `json` takes (integers beyond 64 bits) goes through `json`. Unlike `json`, it writes `NaN`
and the infinities as `null` (JSON has no such numbers; PostgreSQL refuses them) and datetimes as ISO text.
msgspec reads; what it refuses and `json` takes (`NaN`, numbers beyond a float) goes through `json`.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
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


# Read with msgspec: it reads integers beyond 64 bits exactly (orjson reads them as floats, silently losing
# digits: the webhook fuzzer stored 2298225012062469115028176896 and read back 2.298225012062469e+27), and
# it needs no scan of the text first. The scan that guarded orjson (a regular expression for a run of 19
# digits) cost three times the decoding: 18 of 20 us for an outbox row's payload, read for every send.
_DECODER = msgspec.json.Decoder()  # stateless: one serves every call


def loads(text: str | bytes) -> Any:
    """The value of a JSON document; `json` reads what msgspec refuses (`NaN`, `1e400`), or raises `ValueError`."""
    try:
        return _DECODER.decode(text)
    except (msgspec.MsgspecError, RecursionError):
        return json.loads(text)
