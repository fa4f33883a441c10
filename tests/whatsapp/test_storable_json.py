"""Specification of ``bot.whatsapp.storable_json``: strict JSON whose values both databases can store."""

from __future__ import annotations

import json

import pytest

from bot.whatsapp.storable_json import loads


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
