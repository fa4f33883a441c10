"""A caller's values checked alike at every door: text, JSON bodies, moments and row ids, with a 400 naming the field.

Each check refuses what would otherwise fail later, deep in the database driver or the standard library, as
a 500: text with NUL (PostgreSQL's text refuses it) or a lone surrogate (it has no UTF-8 form), JSON nested
deeper than anyone writes it, times whose UTC form is outside the years a database and date arithmetic
hold, and ids beyond PostgreSQL's 32-bit integers or spelled with digits other than 0-9.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.errors import ValidationError

MAX_DEPTH = 64
MAX_ID = 2**31 - 1  # id columns are 32-bit integers on PostgreSQL
# A day's margin at both ends, so that adding a delivery window or a reminder's lead never leaves the range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1)
_UNSAFE = re.compile(r"[\x00\ud800-\udfff]")


def check_text(value: str, name: str) -> str:
    """`value` unchanged, unless it holds NUL or a lone surrogate: then a `ValidationError` naming `name`."""
    found = _UNSAFE.search(value)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate (not valid Unicode)"
        raise ValidationError(f"{name} contains {what} at position {found.start()}")
    return value


def read_json(data: bytes | str) -> Any:
    """A JSON document whose every key and string is text `check_text` accepts, nested at most `MAX_DEPTH` deep."""
    try:
        value = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except RecursionError:  # the C scanner stops at the interpreter's recursion limit, far deeper than ours
        raise ValidationError(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the body is not UTF-8 text (byte {exc.start})") from None
    except ValueError:
        raise ValidationError("the body is not valid JSON") from None
    _check_tree(value, "", 0)
    return value


def _check_tree(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValidationError(f"the body is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        check_text(value, path or "the body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a field name in {path or 'the body'}")
            _check_tree(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_tree(item, f"{path}[{index}]", depth + 1)


def in_range(moment: datetime, name: str) -> datetime:
    """An aware `moment` as UTC, if that falls between 1970 and 9998; else a `ValidationError` naming the field."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):  # 9999-12-31T23:59-14:00 is past year 9999 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValidationError(f"{name} must be a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return utc


def row_id(text: str) -> int | None:
    """`text` as a row id (ASCII digits, 1 to `MAX_ID`), or None; `str.isdigit` alone would accept "²"."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def whole_number(text: str, name: str, low: int, high: int) -> int:
    """`text` as a whole number from `low` to `high` in ASCII digits; else a `ValidationError` naming `name`."""
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
    if value is None or not low <= value <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}")
    return value
