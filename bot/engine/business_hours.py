"""The business's opening hours, services and booking rules (`flows/data/business.yaml`), and its free slots.

Pure: reading the file answers a `Business` or every problem in it, each at the line and column of the
value at fault (as `bot.engine.flow_file` does for flows); the slot arithmetic takes `now`, the business's time
zone and the times already booked as arguments. Opening hours are wall-clock times in that zone, while
slots are stepped in real time from each opening, so a day on which the clocks change has exactly the
slots that fit: none in the hour that does not exist, and both of the hour that happens twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine.flow import BUTTON_TITLE, ROW_TITLE
from bot.engine.flow_file import BAD, IDENTIFIER, IDENTIFIER_RULE, read_duration
from bot.errors import ConfigError
from bot.yaml_file import KeyPath, Problem, Reading, YamlLoader, read_mapping, unknown_key

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TOP_KEYS = ("hours", "holidays", "slot_minutes", "days_ahead", "minimum_notice", "services")
SERVICE_KEYS = ("id", "title", "duration_minutes", "location")
CLOSED = "closed"
OPENING = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])")
DAY_MINUTES = 24 * 60
MAX_DAYS_AHEAD = 365
DEFAULT_DAYS_AHEAD = 14
LOCATION_MAX = 255  # the appointment table's column


class BusinessLoader(YamlLoader):
    """The flows' YAML loader with dates and times left as text, so a wrong one is reported where it was written."""


_TIMESTAMP, _INT, _FLOAT = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


BusinessLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _INT, _FLOAT)]
    for first, resolvers in YamlLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 reads 13:30 as the number 810 (base 60); here numbers are plain decimals and times stay text.
BusinessLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
BusinessLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"), list("-+.0123456789")
)

Opening = tuple[int, int]  # minutes after midnight, wall clock: opens, closes (up to 24:00)
Busy = tuple[datetime, datetime]  # a booked appointment: starts, ends


@dataclass(frozen=True)
class Service:
    """What can be booked: its id in flows, the title customers read, how long it takes, and where."""

    id: str
    title: str
    duration: timedelta
    location: str


@dataclass(frozen=True)
class Business:
    """Opening hours by weekday (Monday first), closed dates, services and the booking rules."""

    hours: tuple[tuple[Opening, ...], ...]
    services: tuple[Service, ...]
    slot: timedelta
    days_ahead: int = DEFAULT_DAYS_AHEAD  # the last bookable day is this many days after today
    notice: timedelta = timedelta(0)  # nothing starting sooner than this is offered
    holidays: frozenset[date] = frozenset()

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def is_open_on(self, day: date) -> bool:
        return bool(self.hours[day.weekday()]) and day not in self.holidays


# --- days and slots ---------------------------------------------------------------------------------


def local_day(when: datetime, zone: ZoneInfo) -> date:
    return when.astimezone(zone).date()


def wall_time(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of a wall-clock time on `day`; a time the clocks skip counts as the one after the gap."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first and the first after the last instant of `day` in `zone`, as UTC (23 or 25 hours apart on DST days)."""
    return wall_time(day, 0, zone), wall_time(day + timedelta(days=1), 0, zone)


def bookable_days(business: Business, now: datetime, zone: ZoneInfo) -> list[date]:
    """The open days from today up to `days_ahead` days ahead, in the business's time zone."""
    today = local_day(now, zone)
    days = (today + timedelta(days=n) for n in range(business.days_ahead + 1))
    return [day for day in days if business.is_open_on(day)]


def slot_starts(business: Business, day: date, duration: timedelta, zone: ZoneInfo) -> list[datetime]:
    """Every start on `day`, a slot apart from each opening, at which `duration` ends by that opening's close."""
    if not business.is_open_on(day):
        return []
    starts: list[datetime] = []
    for opens, closes in business.hours[day.weekday()]:
        at, end = wall_time(day, opens, zone), wall_time(day, closes, zone)
        while at + duration <= end:  # UTC arithmetic: real minutes, whatever the clocks do that night
            starts.append(at)
            at += business.slot
    return starts


def free_slots(
    business: Business, day: date, duration: timedelta, *, now: datetime, zone: ZoneInfo, busy: Iterable[Busy]
) -> list[datetime]:
    """The starts on `day` that are bookable now: within the horizon, after the notice, clear of every busy time."""
    today = local_day(now, zone)
    if not today <= day <= today + timedelta(days=business.days_ahead):
        return []
    earliest = now + business.notice
    taken = list(busy)
    return [
        start
        for start in slot_starts(business, day, duration, zone)
        if start >= earliest and not any(start < ends and begins < start + duration for begins, ends in taken)
    ]


def is_free(
    business: Business, start: datetime, duration: timedelta, *, now: datetime, zone: ZoneInfo, busy: Iterable[Busy]
) -> bool:
    """Whether `start` is one of the free slots of its day: what a booking checks again before it is made."""
    return start in free_slots(business, local_day(start, zone), duration, now=now, zone=zone, busy=busy)


def show_day(day: date) -> str:
    """A day as a short choice title: ``Mon 13 Apr``."""
    return f"{day:%a} {day.day} {day:%b}"


def show_slot(start: datetime, zone: ZoneInfo) -> str:
    """A start as the customer reads it, ``09:30``; in the hour that happens twice, with the zone's abbreviation."""
    local = start.astimezone(zone)
    other = local.replace(fold=1 - local.fold)
    ambiguous = other.utcoffset() != local.utcoffset()
    return f"{local:%H:%M} {local:%Z}" if ambiguous else f"{local:%H:%M}"


def day_choice(day: date) -> dict[str, str]:
    return {"id": day.isoformat(), "title": show_day(day)}


def slot_choice(start: datetime, zone: ZoneInfo) -> dict[str, str]:
    """A slot as a choice: its start with the local offset as the id (unambiguous), the time as the title."""
    return {"id": start.astimezone(zone).isoformat(), "title": show_slot(start, zone)}


# --- the file ---------------------------------------------------------------------------------------


def load_business(path: Path) -> Business:
    """The business file, or a `ConfigError` listing every problem in it as `path:line:col: error: message`."""
    business, problems = read_business(path)
    if business is None:
        raise ConfigError("the business file has errors:\n" + "\n".join(str(p) for p in problems))
    return business


def read_business(path: Path) -> tuple[Business | None, list[Problem]]:
    """Read one business file: the business if it is sound (None otherwise), and every problem found in it."""
    reading = Reading(path)
    what = "a business file is a mapping with 'hours', 'slot_minutes' and 'services'"
    read = read_mapping(reading, loader=BusinessLoader, what=what, at_top=True)
    business = _read(read[1], reading) if read is not None else None
    return (business if reading.ok else None), reading.sorted_problems()


def _read(data: dict[Any, Any], reading: Reading) -> Business | None:
    reading.check_top_keys(data, TOP_KEYS, ("hours", "slot_minutes", "services"))
    hours = _hours(reading, data["hours"]) if "hours" in data else BAD
    slot = _minutes(reading, data["slot_minutes"], ("slot_minutes",)) if "slot_minutes" in data else BAD
    ahead = _whole(reading, data.get("days_ahead", DEFAULT_DAYS_AHEAD), ("days_ahead",), 0, MAX_DAYS_AHEAD)
    notice = read_duration(reading, data["minimum_notice"], ("minimum_notice",)) if "minimum_notice" in data else None
    holidays = _holidays(reading, data.get("holidays", []))
    services = _services(reading, data["services"], hours) if "services" in data else BAD
    if not reading.ok:
        return None
    return Business(hours, services, slot, ahead, notice or timedelta(0), holidays)


def _hours(reading: Reading, value: Any) -> Any:
    if not isinstance(value, dict):
        reading.error(reading.at("hours"), f"'hours' maps each weekday ({', '.join(WEEKDAYS)}) to its opening hours")
        return BAD
    for key in value:
        if key not in WEEKDAYS:
            reading.error(reading.key_at("hours", str(key)), f"unknown weekday {key!r}; use {', '.join(WEEKDAYS)}")
    week: list[tuple[Opening, ...]] = []
    for day in WEEKDAYS:
        if day not in value:
            reading.error(reading.key_at("hours"), f"'hours' has no {day!r}; write `{day}: {CLOSED}` for a closed day")
            continue
        week.append(_day_hours(reading, value[day], ("hours", day)))
    return tuple(week) if len(week) == len(WEEKDAYS) else BAD


def _day_hours(reading: Reading, value: Any, path: KeyPath) -> tuple[Opening, ...]:
    if value == CLOSED:
        return ()
    if not isinstance(value, list) or not value:
        message = f'{path[-1]!r} must be {CLOSED} or a list of opening hours like ["09:00-12:30", "13:30-17:30"]'
        reading.error(reading.at(*path), message)
        return ()
    openings: list[Opening] = []
    for index, item in enumerate(value):
        where = reading.at(*path, index)
        match = OPENING.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            reading.error(where, f'opening hours {item!r} must be HH:MM-HH:MM, like "09:00-12:30"; quote them')
            continue
        opens, closes = int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])
        if closes > DAY_MINUTES or closes <= opens:
            reading.error(where, f"opening hours {item!r} must close after they open, at 24:00 at the latest")
        elif openings and opens < openings[-1][1]:
            reading.error(where, f"opening hours {item!r} overlap or come before the ones listed before them")
        else:
            openings.append((opens, closes))
    return tuple(openings)


def _whole(reading: Reading, value: Any, path: KeyPath, low: int, high: int) -> Any:
    if type(value) is not int or not low <= value <= high:
        reading.error(reading.at(*path), f"{path[-1]!r} must be a whole number from {low} to {high}")
        return BAD
    return value


def _minutes(reading: Reading, value: Any, path: KeyPath) -> Any:
    minutes = _whole(reading, value, path, 1, DAY_MINUTES)
    return minutes if minutes is BAD else timedelta(minutes=minutes)


def _holidays(reading: Reading, value: Any) -> frozenset[date]:
    if not isinstance(value, list):
        reading.error(reading.at("holidays"), "'holidays' must be a list of dates like 2026-12-25")
        return frozenset()
    days: set[date] = set()
    for index, item in enumerate(value):
        day = _iso_date(item)
        if day is None:
            reading.error(reading.at("holidays", index), f"holiday {item!r} must be a date like 2026-12-25")
        else:
            days.add(day)
    return frozenset(days)


def _iso_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _services(reading: Reading, value: Any, hours: Any) -> Any:
    if not isinstance(value, list) or not value:
        reading.error(reading.at("services"), f"'services' must be a list of one or more {{{', '.join(SERVICE_KEYS)}}}")
        return BAD
    # Three choices or fewer are reply buttons, whose titles WhatsApp keeps shorter than list rows'.
    title_max = BUTTON_TITLE if len(value) <= 3 else ROW_TITLE
    longest = max((closes - opens for day in hours for opens, closes in day), default=0) if hours is not BAD else None
    services: list[Service] = []
    seen: dict[tuple[str, Any], int] = {}
    for index, item in enumerate(value):
        path = ("services", index)
        service = _service(reading, item, path, title_max)
        for key in ("id", "title"):
            mine = item.get(key) if isinstance(item, dict) else None
            if isinstance(mine, str) and (key, mine) in seen:
                message = f"service {key} {mine!r} is already service {seen[key, mine] + 1}'s"
                reading.error(reading.at(*path, key), message)
            elif isinstance(mine, str):
                seen[key, mine] = index
        if service is None:
            continue
        minutes = service.duration // timedelta(minutes=1)
        if longest is not None and minutes > longest:
            message = f"service {service.id!r} takes {minutes} minutes, longer than any opening: it can never be booked"
            reading.error(reading.at(*path, "duration_minutes"), message)
        services.append(service)
    return tuple(services)


def _service(reading: Reading, item: Any, path: KeyPath, title_max: int) -> Service | None:
    number = int(path[-1]) + 1
    if not isinstance(item, dict):
        reading.error(reading.at(*path), f"service {number} must be a mapping with {', '.join(SERVICE_KEYS)}")
        return None
    errors = len(reading.problems)
    for key in item:
        if key not in SERVICE_KEYS:
            message = unknown_key(key, SERVICE_KEYS, " in a service")
            reading.error(reading.key_at(*path, str(key)), message)
    for key in SERVICE_KEYS:
        if key not in item:
            reading.error(reading.at(*path), f"service {number} has no {key!r}")
    service_id: Any = item.get("id")
    if "id" in item and (not isinstance(service_id, str) or not IDENTIFIER.fullmatch(service_id)):
        reading.error(reading.at(*path, "id"), f"service id {service_id!r} {IDENTIFIER_RULE}")
    title = _text(reading, item["title"], (*path, "title"), title_max) if "title" in item else BAD
    location = _text(reading, item["location"], (*path, "location"), LOCATION_MAX) if "location" in item else BAD
    minutes = item.get("duration_minutes")
    duration = _minutes(reading, minutes, (*path, "duration_minutes")) if "duration_minutes" in item else BAD
    if len(reading.problems) > errors:
        return None
    return Service(service_id, title, duration, location)


def _text(reading: Reading, value: Any, path: KeyPath, limit: int) -> Any:
    if not isinstance(value, str) or not value.strip():
        reading.error(reading.at(*path), f"{path[-1]!r} must be a text; quote it")
        return BAD
    if len(value) > limit:
        why = "; three services or fewer are reply buttons" if limit == BUTTON_TITLE else ""
        reading.error(reading.at(*path), f"{path[-1]} {value!r} is {len(value)} characters; at most {limit}{why}")
        return BAD
    return value
