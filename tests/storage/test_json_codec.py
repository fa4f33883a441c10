"""JSON columns read back what was written, through orjson, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage import json_codec
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_payload_reads_back_as_the_standard_library_would_read_it(repository: Repository) -> None:
    """Accents, emoji, a line separator, a 70-bit integer, integer keys and nesting survive an outbox row."""
    payload: dict[str, Any] = {
        "type": "text",
        "text": {"body": "Olá, Zoë 👋 \u2028 done", "preview_url": False},
        "big": 2**70 + 1,  # not a power of two: a float would not equal it
        "keys": {1: "one", 2: ["a", 2.5, None, True]},
        "deep": [[[{"x": -1}]]],
    }
    async with repository.transaction() as conn:
        contact = await ensure_contact(conn, "31612345678", NOW)
    await repository.enqueue([NewMessage("utility", contact, "31612345678", payload, NOW)], NOW)
    [row] = await repository.claim_due(owner="test", now=NOW, lease=timedelta(seconds=60), limit=10)
    assert row.payload == json.loads(json.dumps(payload))
    assert row.payload["keys"] == {"1": "one", "2": ["a", 2.5, None, True]}


def test_text_is_compact_utf8_and_reads_back_equal() -> None:
    """The codec writes compact UTF-8 (not `\\u` escapes) that both it and `json` read to the same value."""
    value = {"name": "Zoë", "n": [1, 2]}
    assert json_codec.dumps(value) == '{"name":"Zoë","n":[1,2]}'
    assert json_codec.loads(json_codec.dumps(value)) == json.loads(json_codec.dumps(value)) == value


def test_what_neither_can_write_is_a_type_error() -> None:
    """A value JSON cannot hold is refused with TypeError, as the standard library refuses it."""
    with pytest.raises(TypeError):
        json_codec.dumps({"x": object()})


def test_reading_takes_what_the_standard_library_takes() -> None:
    """`NaN`, `1e400` and lone surrogates, which msgspec refuses, read as in `json`; broken text is a ValueError."""
    assert math.isnan(json_codec.loads('{"x": NaN}')["x"])
    assert json_codec.loads(b"[1e400, -0.0, 1.5e-7]") == [math.inf, -0.0, 1.5e-7]
    assert json_codec.loads('["\\ud800", {"a": 1, "a": 2}]') == json.loads('["\\ud800", {"a": 1, "a": 2}]')
    assert json_codec.loads(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(json.JSONDecodeError, match="property name"):
        json_codec.loads("{broken")


@pytest.mark.parametrize("number", [2298225012062469115028176896, -(2**64) - 3, 2**63 + 1])
def test_an_integer_beyond_64_bits_reads_back_exactly(number: int) -> None:
    """orjson reads such an integer as a float, losing digits; the codec reads it exactly, as `json` does."""
    text = json_codec.dumps({"value": number, "text": "x"})
    read = json_codec.loads(text)["value"]
    assert (type(read), read) == (int, number)
    assert json_codec.loads(text.encode())["value"] == number


def test_long_runs_of_digits_in_strings_and_numbers_read_as_json_reads_them() -> None:
    """Phone numbers, ids and a 400-digit integer beside them read back as `json` reads the same text."""
    text = json.dumps({"to": "3161" * 10, "id": 10**400 + 7, "n": [12345678901234567890, 0.1, 1e300]})
    assert json_codec.loads(text) == json.loads(text)
    assert json_codec.loads(text.encode()) == json.loads(text)
