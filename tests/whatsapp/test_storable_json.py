"""Specification of ``bot.whatsapp.storable_json``: strict JSON whose values both databases can store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.whatsapp.storable_json import _ESCAPED_UNSTORABLE, _finite, _not_a_number, _storable, loads


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-2.5E+999]"])
def test_numbers_no_database_holds_are_refused(text: str) -> None:
    """NaN, Infinity and numbers a float cannot hold raise ValueError instead of becoming nan or inf."""
    with pytest.raises(ValueError, match=r"is not a JSON number|is out of range"):
        loads(text)


def test_nul_and_lone_surrogates_become_the_replacement_character_everywhere() -> None:
    """In values, keys and nested lists, NUL and lone surrogates come back as U+FFFD; pairs stay one emoji."""
    text = r'{"a\u0000": ["x\ud800y", {"k": "\udfff"}], "ok": "\ud83d\ude00", "n": 1.5}'
    assert loads(text) == {"a\ufffd": ["x\ufffdy", {"k": "\ufffd"}], "ok": "\U0001f600", "n": 1.5}


def test_a_document_nested_as_deep_as_the_decoder_allows_is_cleaned() -> None:
    """Cleaning is iterative, so nesting the JSON decoder accepted cannot make it overflow the stack."""
    depth = 900
    data = loads("[" * depth + r'"\u0000"' + "]" * depth)
    for _ in range(depth):
        data = data[0]
    assert data == "\ufffd"


def test_ordinary_json_is_returned_as_json_loads_reads_it() -> None:
    """Without anything to refuse or replace, the result is what json.loads gives."""
    text = '{"entry": [{"id": "1", "n": 12345678901234567890, "f": -0.5, "t": true, "z": null}]}'
    assert loads(text) == json.loads(text)


def _reference(text: str) -> Any:
    """What `loads` did with the standard library's decoder alone, before msgspec read the common case."""
    data = json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    return _storable(data) if _ESCAPED_UNSTORABLE.search(text) else data


def _outcome(text: str) -> tuple[str, str]:
    """The JSON a decoder's value serialises to (1 and 1.0 differ), or the error it raised and its message."""
    try:
        return "value", json.dumps(loads(text), ensure_ascii=False)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _reference_outcome(text: str) -> tuple[str, str]:
    try:
        return "value", json.dumps(_reference(text), ensure_ascii=False)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_any_json_document_reads_as_the_standard_decoder_reads_it(value: Any) -> None:
    """Whatever JSON serialises, the fast decoder gives the very values the standard one gives (ints stay ints)."""
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert _outcome(text) == _reference_outcome(text)


@given(st.text(alphabet='{}[]":,.-+eE0123456789 \\u\x00\ud800abtrufnlsNIaiy\ufeff', max_size=40))
def test_any_text_is_read_or_refused_as_the_standard_decoder_does_with_the_same_message(text: str) -> None:
    """Malformed text gets the standard decoder's own message, with its line and column; valid text its value."""
    assert _outcome(text) == _reference_outcome(text)


@pytest.mark.parametrize(
    "text",
    ['{"a": 1', "[1,]", "\ufeff{}", '{"a": "x\x01"}', "1" + "0" * 5000, "[" * 5000 + "]" * 5000, r'"\ud800"', "1e-400"],
)
def test_edge_cases_read_or_fail_exactly_as_the_standard_decoder(text: str) -> None:
    """Truncation, trailing commas, a BOM, control characters, huge ints, deep nesting, lone surrogates, underflow."""
    assert _outcome(text) == _reference_outcome(text)
