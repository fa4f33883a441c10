"""Cron expressions evaluated in a named time zone: parsing with precise errors, and the runs they give.

Pure: every function takes the instant it counts from. Evaluation is cronsim's, which follows Debian
cron across daylight-saving changes (checked for Europe/Amsterdam in tests/recurring/test_cron.py):

- An expression with a fixed minute and hour (``30 2 * * *``, ``0 9-17 * * MON-FRI``) runs at local
  wall-clock times. A time the spring-forward gap skips runs once at the first minute after the gap
  (02:30 on 2026-03-29 in Amsterdam runs at 03:00 CEST); a time the fall-back repeats runs once, at its
  first occurrence (02:30 CEST on 2026-10-25, not again at 02:30 CET).
- An expression with ``*`` (or ``*/n``) in the minute or the hour follows elapsed time: ``0 * * * *``
  runs every real hour, so no 02:00 on the spring day and two on the autumn one; ``*/30 2 * * *`` has no
  runs on the spring day and four on the autumn one.
- Day-of-month and day-of-week combine as in cron: both restrict when either starts with ``*``,
  otherwise either matches (``0 9 1 * MON`` is the 1st *and* every Monday).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from bot.errors import ValidationError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_EXPECTED = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT (0 and 7 are Sunday), 5L for the last Friday, MON#2 for the second Monday",
}
SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Names that resolve to a file but not to a place: the server's own zone would move with the server.
_NOT_PLACES = frozenset({"localtime", "posixrules"})
# How many missed runs `latest_due` walks past before it settles for the latest it has seen: a
# per-minute schedule down for about 70 days; each step costs a few microseconds.
MAX_WALK = 100_000
# Any tz-aware moment will do to let cronsim parse; it evaluates nothing until asked for a run.
_PARSE_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Recurrence:
    """A checked cron expression and the time zone it is read in.

    ``cron`` is the expression as given (spaces normalised), ``expression`` its five fields with any
    ``@daily``-style shortcut expanded.
    """

    cron: str
    time_zone: str
    expression: str
    zone: ZoneInfo


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` (``Europe/Amsterdam``); anything else is a `ValidationError`."""
    if name in _NOT_PLACES:
        raise ValidationError(f"time zone {name!r} is the server's own setting; name a zone such as Europe/Amsterdam")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"unknown time zone {name!r}; use an IANA name such as Europe/Amsterdam") from None


def parse(cron: str, time_zone: str) -> Recurrence:
    """Check a five-field cron expression (or a shortcut such as ``@daily``) and a time zone name."""
    zone = zone_named(time_zone)
    text = " ".join(cron.split())
    expression = _expand(text)
    parts = expression.split(" ")
    if len(parts) != len(FIELDS):
        raise ValidationError(
            f"cron {text!r}: expected 5 fields (minute hour day-of-month month day-of-week) "
            f"or a shortcut such as @daily, got {len(parts) if text else 0}"
        )
    try:
        CronSim(expression, _PARSE_AT)
    except CronSimError as exc:
        raise ValidationError(_explain(text, parts, str(exc))) from None
    return Recurrence(text, time_zone, expression, zone)


def _expand(text: str) -> str:
    if not text.startswith("@"):
        return text
    if text.lower() not in SHORTCUTS:
        raise ValidationError(f"cron {text!r}: unknown shortcut; use one of {', '.join(SHORTCUTS)}")
    return SHORTCUTS[text.lower()]


def _explain(text: str, parts: list[str], error: str) -> str:
    """cronsim names the field ("Bad minute"); say which value is wrong and what the field takes."""
    field = next((name for name in FIELDS if error.lower() == f"bad {name}"), None)
    if field is None:
        return f"cron {text!r}: {error}"
    value = parts[FIELDS.index(field)]
    if field == "day-of-month" and _day_alone_is_fine(value):
        return f"cron {text!r}: day-of-month {value!r} never occurs in month {parts[3]!r}"
    return f"cron {text!r}: bad {field} {value!r}; expected {_EXPECTED[field]}, as a value, list, range or step"


def _day_alone_is_fine(value: str) -> bool:
    try:
        CronSim(f"0 0 {value} * *", _PARSE_AT)
    except CronSimError:
        return False
    return True


def occurrences(recurrence: Recurrence, after: datetime) -> Iterator[datetime]:
    """The runs strictly after `after`, as UTC instants, each later than the one before."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    runs = CronSim(recurrence.expression, after.astimezone(recurrence.zone))
    last = after
    while True:
        try:
            local = next(runs)
        except StopIteration:
            raise ValidationError(
                f"cron {recurrence.cron!r} has no run in the 50 years after {after:%Y-%m-%d}"
            ) from None
        at = local.astimezone(UTC)
        # cronsim counts in local wall-clock time; starting inside a repeated hour, its first answer can
        # be the earlier pass of that hour, which is before `after`.
        if at > last:
            last = at
            yield at


def next_run(recurrence: Recurrence, after: datetime) -> datetime:
    """The first run strictly after `after`, in UTC."""
    return next(occurrences(recurrence, after))


def next_runs(recurrence: Recurrence, after: datetime, count: int) -> list[datetime]:
    """The first `count` runs strictly after `after`, in UTC: a preview of what a schedule will do."""
    runs = occurrences(recurrence, after)
    return [next(runs) for _ in range(count)]


def latest_due(recurrence: Recurrence, first: datetime, now: datetime) -> tuple[datetime, int]:
    """The latest run at or before `now`, counting from `first` (a run that is due), and how many it replaces.

    A service that was down across several runs sends only the latest, never a burst. Past `MAX_WALK`
    missed runs the walk stops at the latest it reached, so a very long outage costs bounded time.
    """
    latest, skipped = first, 0
    for at in occurrences(recurrence, first):
        if at > now or skipped == MAX_WALK:
            break
        latest, skipped = at, skipped + 1
    return latest, skipped


@dataclass(frozen=True)
class Due:
    """What a due row does now: run `occurrence` in place of `skipped` missed runs, then wait for `following`."""

    occurrence: datetime
    skipped: int
    following: datetime


def due(recurrence: Recurrence, first: datetime, now: datetime) -> Due:
    """The run a row due since `first` makes at `now`, and when it is due again: the first run after `now`.

    The rule both recurring runners follow (the notification scheduler and the campaign runner): missed
    runs collapse to the latest (`latest_due`), and the next is counted from `now`, not from the run made,
    so a row that ran late is next due after `now` and does not fire again at once.
    """
    occurrence, skipped = latest_due(recurrence, first, now)
    return Due(occurrence, skipped, next_run(recurrence, now))
