"""Answer validators for `ask` steps: read what a customer typed into a normalised, JSON-ready slot value.

`check` never raises for anything a customer can type: an answer it cannot accept is `Invalid` with a short
reason that doubles as a re-prompt hint. It raises `ConfigError` only for a flow that `bot check` should have
refused (an unknown custom validator, a broken pattern, a choice without choices), and `ValueError` for a
naive `now`. Dates and times are read in the business's time zone relative to `now`, which is passed in.

Dates are read by a small parser for exactly the forms flows/README.md promises (today, tomorrow, weekday
names, 17/04, 17/04/2026, 2026-04-17, 17 April, April 17) rather than `dateparser`: that library takes
~65 ms to import and ~110 ms for its first parse, pulls in `regex`, `pytz` and `tzlocal`, reads any bare
number such as "12" as a date, and takes "friday" on a Friday as next week, where a booking wants today.
A choice is also taken with accents and punctuation left out, or misspelt closely (`bot.engine.match`).
Phone numbers use Google's `phonenumbers`; e-mail addresses use `email-validator` (syntax, internationalised
domains and length limits per RFC 5321/5322/6531, without DNS), which no regular expression gets right.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, get_args
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from bot.engine.flow import Option, Validator, ValidatorKind
from bot.engine.match import exact, guess
from bot.errors import ConfigError
from bot.whatsapp.phone import read_phone

VALIDATOR_KINDS: tuple[str, ...] = get_args(ValidatorKind)
# The built-in Python validators flows name with `{custom: NAME}` (none yet). A business adds its own as a
# plug-in, through the `whatsapp_bot.validators` entry point group (`bot.inbound.plugin`, docs/plugins.md).
# Each takes the trimmed answer and returns the value to keep (JSON-serialisable) or raises ValueError.
VALIDATORS: Mapping[str, Callable[[str], Any]] = {}
MAX_TEXT = 1024
MAX_CHOICES_LISTED = 10

NOT_TEXT = "Please type an answer."
TOO_LONG = f"That's too long. Please keep it under {MAX_TEXT:,} characters."
NOT_PATTERN = "That isn't in the format we need. Please try again."
NOT_NUMBER = "That doesn't look like a number. Try 12 or 12.5."
AMBIGUOUS_NUMBER = "Please type the number without a thousands separator, like 1000 or 12.5."
NOT_DATE = "That doesn't look like a date. Try 17/04 or tomorrow."
NO_SUCH_DATE = "That date doesn't exist. Try 17/04 or tomorrow."
NOT_TIME = "That doesn't look like a time. Try 14:30 or 2pm."
NOT_DATETIME = "Please give a date and a time, like tomorrow 14:30 or 17/04 2pm."
PASSED = "That time has already passed. Please pick a later time."
NOT_PHONE = "That doesn't look like a phone number. Please include the country code, like +31 6 12345678."
NOT_EMAIL = "That doesn't look like an email address. Try name@example.com."
NOT_CUSTOM = "That answer isn't valid. Please try again."


@dataclass(frozen=True)
class Valid:
    """An accepted answer and the normalised value to keep in the slot."""

    value: Any


@dataclass(frozen=True)
class Invalid:
    """A refused answer and a short reason for the customer, usable as a re-prompt hint."""

    reason: str


def check(
    validator: Validator,
    answer: str,
    *,
    now: datetime,
    zone: ZoneInfo,
    custom: Mapping[str, Callable[[str], Any]] = VALIDATORS,
    region: str | None = None,
) -> Valid | Invalid:
    """Check `answer` with `validator`; `region` (e.g. "NL") lets phone numbers omit the country code."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got naive {now.isoformat()}")
    text = answer.strip()
    match validator.kind:
        case "text":
            return _text(text)
        case "pattern":
            return _pattern(validator, text)
        case "number":
            return _number(validator, text)
        case "date":
            return _date(validator, text, now.astimezone(zone).date())
        case "time":
            found = _read_time(_fold(text))
            return Invalid(NOT_TIME) if found is None else Valid(found.strftime("%H:%M"))
        case "datetime":
            return _datetime(validator, text, now, zone)
        case "choice":
            return _choice(validator, text)
        case "phone":
            return _phone(text, region)
        case "email":
            return _email(text)
        case "custom":
            return _custom(validator, text, custom)
        case "image" | "document" | "location":  # sent, not typed: `bot.engine.core` takes them
            raise ConfigError(f"a {validator.kind} answer is sent, not typed; there is no text to check")
    raise ConfigError(f"unknown validator kind {validator.kind!r}; expected one of {', '.join(VALIDATOR_KINDS)}")


# --- text-like ------------------------------------------------------------------------------------------


def _text(text: str) -> Valid | Invalid:
    if not text:
        return Invalid(NOT_TEXT)
    return Invalid(TOO_LONG) if len(text) > MAX_TEXT else Valid(text)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"validator pattern {pattern!r} is not a regular expression: {exc}") from None


def _pattern(validator: Validator, text: str) -> Valid | Invalid:
    if validator.pattern is None:
        raise ConfigError("a pattern validator needs a pattern")
    regex = _compiled(validator.pattern)
    if len(text) > MAX_TEXT:  # a long answer could make a careless pattern backtrack for ages
        return Invalid(TOO_LONG)
    return Valid(text) if regex.fullmatch(text) else Invalid(NOT_PATTERN)


def _choice(validator: Validator, text: str) -> Valid | Invalid:
    if not validator.choices:
        raise ConfigError("a choice validator needs choices")
    wanted = _fold(text)
    for choice in validator.choices:
        if _fold(choice) == wanted:
            return Valid(choice)
    options = tuple(Option(choice, choice) for choice in validator.choices)
    found = exact(options, text) or guess(options, text)  # "cafe!", or a close misspelling ("Lagre")
    if found is not None and (isinstance(found, Option) or found.sure):
        return Valid(found.id if isinstance(found, Option) else found.option.id)
    if len(validator.choices) > MAX_CHOICES_LISTED:
        return Invalid("Please pick one of the options.")
    return Invalid(f"Please answer with one of: {', '.join(validator.choices)}.")


def _fold(text: str) -> str:
    """Text compared the way a person reads it: composed, case-folded, single-spaced, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _custom(validator: Validator, text: str, custom: Mapping[str, Callable[[str], Any]]) -> Valid | Invalid:
    function = custom.get(validator.name or "")
    if function is None:
        raise ConfigError(f"no custom validator named {validator.name!r}; install a plug-in that registers it")
    try:
        return Valid(function(text))
    except ValueError as exc:
        return Invalid(str(exc) or NOT_CUSTOM)


# --- numbers ---------------------------------------------------------------------------------------------

# One optional decimal separator, point or comma; Unicode digits (e.g. Arabic-Indic) read as digits.
_NUMBER = re.compile(r"(?P<sign>[-+\u2212]?)(?P<whole>\d{1,15})?(?:(?P<sep>[.,])(?P<part>\d{1,15}))?")


def _number(validator: Validator, text: str) -> Valid | Invalid:
    match = _NUMBER.fullmatch(text)
    if match is None or not (match["whole"] or match["part"]):
        return Invalid(NOT_NUMBER)
    whole, part = match["whole"] or "0", match["part"] or ""
    # "1,000" and "1.500" are a thousand and fifteen hundred in some countries and one and a half in others.
    if len(part) == 3 and match["whole"] and whole[0] != "0" and len(whole) <= 3:
        return Invalid(AMBIGUOUS_NUMBER)
    value = Decimal(("-" if match["sign"] in ("-", "\u2212") else "") + whole + "." + (part or "0"))
    low, high = validator.minimum, validator.maximum
    if (low is not None and value < _bound(low)) or (high is not None and value > _bound(high)):
        return Invalid(_number_range(low, high))
    return Valid(int(value) if value == value.to_integral_value() else float(value))


def _bound(bound: float) -> Decimal:
    """A bound as the developer wrote it: min 0.1 means the decimal 0.1, not the float just above it."""
    if bound != bound:
        raise ConfigError("a number validator's min and max must be numbers, not NaN")
    return Decimal(str(bound))


def _number_range(low: float | None, high: float | None) -> str:
    def say(bound: float) -> str:
        return str(int(bound)) if bound == int(bound) else str(bound)

    if low is not None and high is not None:
        return f"Please pick a number from {say(low)} to {say(high)}."
    if low is not None:
        return f"Please pick a number of at least {say(low)}."
    return f"Please pick a number of at most {say(high or 0)}."


# --- dates and times -------------------------------------------------------------------------------------

_WEEKDAYS = {
    name: day
    for day, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_MONTHS = {
    name: month
    for month, full in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
    for name in (full, full[:3], "sept" if month == 9 else full)
}
_NUMERIC_DATE = re.compile(r"(?P<day>\d{1,2})(?P<sep>[/.-])(?P<month>\d{1,2})(?:(?P=sep)(?P<year>\d{4}|\d{2}))?")
_ISO_DATE = re.compile(r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})")
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,? (?P<year>\d{4}))?"
_DAY_MONTH = re.compile(rf"{_DAY}(?: of)? (?P<name>[^\W\d]+)\.?{_YEAR}")
_MONTH_DAY = re.compile(rf"(?P<name>[^\W\d]+)\.? {_DAY}{_YEAR}")
_CLOCK = re.compile(r"(?P<hour>\d{1,2})(?:[:.h](?P<minute>\d{2}))? ?(?:(?P<half>[ap])\.? ?m\.?|h|hrs|uhr)?")
_NAMED_TIMES = {"noon": time(12), "midday": time(12), "midnight": time(0)}


@dataclass(frozen=True)
class _Window:
    """The days a date may fall on, from `min_days` and `max_days` ahead of today; None is open."""

    today: date
    first: date | None
    last: date | None

    @classmethod
    def of(cls, validator: Validator, today: date) -> _Window:
        def ahead(days: int | None) -> date | None:
            return None if days is None else today + timedelta(days=days)

        return cls(today, ahead(validator.min_days), ahead(validator.max_days))

    def holds(self, day: date) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)

    def refusal(self) -> str:
        def say(day: date) -> str:
            return {0: "today", 1: "tomorrow"}.get((day - self.today).days, day.strftime("%d/%m/%Y"))

        if self.first is not None and self.last is not None:
            return f"Please pick a date from {say(self.first)} to {say(self.last)}."
        if self.first is not None:
            return f"Please pick a date on or after {say(self.first)}."
        return f"Please pick a date on or before {say(self.last or self.today)}."


def _date(validator: Validator, text: str, today: date) -> Valid | Invalid:
    window = _Window.of(validator, today)
    found = _read_date(_fold(text).rstrip(".!"), window)
    if not isinstance(found, date):
        return Invalid(found or NOT_DATE)
    return Valid(found.isoformat()) if window.holds(found) else Invalid(window.refusal())


def _read_date(text: str, window: _Window) -> date | str | None:
    """The date `text` names; a reason when it names an impossible one; None when it is not a date."""
    today = window.today
    if text in ("today", "tomorrow"):
        return today + timedelta(days=text == "tomorrow")
    if text in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS[text] - today.weekday()) % 7)
    match = _NUMERIC_DATE.fullmatch(text) or _ISO_DATE.fullmatch(text)
    if match is None:
        match = _DAY_MONTH.fullmatch(text) or _MONTH_DAY.fullmatch(text)
        if match is None or match["name"] not in _MONTHS:
            return None
        month = _MONTHS[match["name"]]
    else:
        month = int(match["month"])
    day, year = int(match["day"]), match["year"]
    if year is None:
        return _nearest(day, month, window) or NO_SUCH_DATE
    try:
        return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    except ValueError:
        return NO_SUCH_DATE


def _nearest(day: int, month: int, window: _Window) -> date | None:
    """A day and month without a year: the first on or after today inside the window, else the latest before.

    Last year to four years on are tried, so that 29/02 finds the next leap year even when this year's has
    just gone by (on 1 March 2004 it is 29 February 2008); December's "05/01" becomes next January.
    """
    candidates = []
    for year in range(window.today.year - 1, window.today.year + 5):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    pool = [candidate for candidate in candidates if window.holds(candidate)] or candidates
    upcoming = [candidate for candidate in pool if candidate >= window.today]
    return min(upcoming) if upcoming else max(pool, default=None)


def _read_time(text: str) -> time | None:
    if text in _NAMED_TIMES:
        return _NAMED_TIMES[text]
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute, half = int(match["hour"]), int(match["minute"] or 0), match["half"]
    if half is not None:  # 12am is midnight, 12pm noon
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    elif match["minute"] is None and not text.endswith(("h", "hrs", "uhr")):
        return None  # a bare "14" is a number, not a time
    return time(hour, minute) if hour < 24 and minute < 60 else None


def _datetime(validator: Validator, text: str, now: datetime, zone: ZoneInfo) -> Valid | Invalid:
    local_now = now.astimezone(zone)
    window = _Window.of(validator, local_now.date())
    found = _split_datetime(_fold(text).rstrip("!"), window)
    if not isinstance(found, tuple):
        return Invalid(found or NOT_DATETIME)
    day, clock = found
    if not window.holds(day):
        return Invalid(window.refusal())
    moment = datetime.combine(day, clock, tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return Invalid(
            f"On {day:%d/%m/%Y} the clocks go forward, so {clock:%H:%M} doesn't exist. Please pick another time."
        )
    if validator.min_days is not None and validator.min_days >= 0 and moment < now:
        return Invalid(PASSED)
    return Valid(moment.isoformat(timespec="minutes"))


def _split_datetime(text: str, window: _Window) -> tuple[date, time] | str | None:
    """A date and a time in either order ("tomorrow 2pm", "14:30 on friday", "2026-04-17T14:30")."""
    text = re.sub(r"(\d)t(\d)", r"\1 \2", text.replace(",", " "))
    words = [word for word in text.split() if word not in ("at", "@", "on")]
    reason: str | None = None
    for cut in range(1, len(words)):
        left, right = " ".join(words[:cut]), " ".join(words[cut:])
        for date_text, time_text in ((left, right), (right, left)):
            clock = _read_time(time_text)
            day = _read_date(date_text.rstrip("."), window) if clock is not None else None
            if isinstance(day, date) and clock is not None:
                return day, clock
            if isinstance(day, str):
                reason = reason or day
    return reason


# --- phone numbers and e-mail addresses ------------------------------------------------------------------


def _phone(text: str, region: str | None) -> Valid | Invalid:
    """A valid number as WhatsApp's wa_id: E.164 digits without the "+"."""
    phone = read_phone(text, region)
    return Invalid(NOT_PHONE) if phone is None else Valid(phone.wa_id)


def _email(text: str) -> Valid | Invalid:
    try:
        return Valid(validate_email(text, check_deliverability=False).normalized)
    except (EmailNotValidError, ValueError):  # ValueError: idna's UnicodeError on odd code points
        return Invalid(NOT_EMAIL)
