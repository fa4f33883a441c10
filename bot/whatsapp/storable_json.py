"""Strict JSON that both databases can store: no NaN or Infinity, no NUL or lone surrogate in any string."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import msgspec

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")  # how JSON text can spell one


def loads(text: str) -> Any:
    """Decode JSON `text` into values both databases can store; ``ValueError`` where that cannot be done.

    NaN, Infinity and numbers beyond a float are refused: not JSON by RFC 8259, and PostgreSQL's jsonb holds
    none of them. NUL and lone surrogates, which JSON escapes can spell but no text column takes, come back
    as U+FFFD; the webhook's raw body, stored as received, keeps them.
    """
    try:
        data = _FAST.decode(text)
    except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError):  # the last: a str holding a lone surrogate
        # msgspec refuses all that the standard decoder refuses (and lone surrogates, which it takes) and reads
        # what both accept into equal values; the standard decoder then reads or refuses, saying where and why.
        data = json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    return _storable(data) if _ESCAPED_UNSTORABLE.search(text) else data


def _not_a_number(name: str) -> Any:
    """Refuse NaN and Infinity: not JSON (RFC 8259), and PostgreSQL's jsonb cannot hold them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """Read a JSON number with a fraction or exponent; refuse one too large for a float (it would be Infinity)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


_FAST = msgspec.json.Decoder()  # stateless: one serves every call


def _storable(data: Any) -> Any:
    """Replace NUL and lone surrogates in every string and key, in place.

    Iterative, because the document may be nested as deeply as the JSON decoder allows.
    """
    root = [data]
    pending: list[list[Any] | dict[Any, Any]] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pairs = list(node.items())
            node.clear()
            node.update((_clean(key), _clean(value)) for key, value in pairs)
            children: Iterable[Any] = node.values()
        else:
            node[:] = [_clean(value) for value in node]
            children = node
        pending.extend(child for child in children if isinstance(child, list | dict))
    return root[0]


def _clean(value: Any) -> Any:
    """A string with NUL and lone surrogates replaced; anything else as it is."""
    return _UNSTORABLE.sub("\ufffd", value) if isinstance(value, str) else value
