"""Answer validators: accepted answers and their slot values, refusals and their reasons, boundaries, fuzzing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.engine.answer import (
    AMBIGUOUS_NUMBER,
    NO_SUCH_DATE,
    NOT_CUSTOM,
    NOT_DATE,
    NOT_DATETIME,
    NOT_EMAIL,
    NOT_NUMBER,
    NOT_PATTERN,
    NOT_PHONE,
    NOT_TEXT,
    NOT_TIME,
    PASSED,
    TOO_LONG,
    VALIDATOR_KINDS,
    VALIDATORS,
    Invalid,
    Valid,
    check,
)
from bot.engine.flow import Validator, ValidatorKind
from bot.errors import ConfigError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEDNESDAY = datetime(2026, 4, 15, 10, 0, tzinfo=UTC)  # 12:00 CEST, Wednesday 15 April 2026
DECEMBER = datetime(2025, 12, 30, 12, 0, tzinfo=UTC)  # 13:00 CET, Tuesday 30 December 2025
LEAP_DAY = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
SPRING_NIGHT = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 CET on the day clocks go 02:00 → 03:00
AUTUMN_NIGHT = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 CEST on the day clocks go 03:00 → 02:00

TEXT = Validator()
NUMBER = Validator("number")
DATE = Validator("date")
TIME = Validator("time")
DATETIME = Validator("datetime")
PHONE = Validator("phone")
EMAIL = Validator("email")


def run(validator: Validator, answer: str, now: datetime = WEDNESDAY, zone: ZoneInfo = AMSTERDAM, **extra: Any) -> Any:
    """The outcome of checking `answer` in Amsterdam (by default) on Wednesday 15 April 2026 at noon."""
    return check(validator, answer, now=now, zone=zone, **extra)


def accepted(cases: list[tuple[str, Any]]) -> Any:
    """Parametrize a test over (answer, value) pairs, each shown by its answer."""
    return pytest.mark.parametrize(("answer", "value"), cases, ids=[repr(answer)[:40] for answer, _ in cases])


def refused(cases: list[tuple[str, str]]) -> Any:
    """Parametrize a test over (answer, reason) pairs, each shown by its answer."""
    return pytest.mark.parametrize(("answer", "reason"), cases, ids=[repr(answer)[:40] for answer, _ in cases])


# --- text, pattern, choice -----------------------------------------------------------------------------


@accepted([("hello", "hello"), ("  hi there \n", "hi there"), ("x" * 1024, "x" * 1024), ("a  b", "a  b")])
def test_text_keeps_the_trimmed_answer(answer: str, value: str) -> None:
    """Any non-empty text up to 1,024 characters is kept, trimmed."""
    assert run(TEXT, answer) == Valid(value)


@refused([("", NOT_TEXT), ("  \n\t", NOT_TEXT), ("x" * 1025, TOO_LONG)])
def test_text_refuses_empty_and_overlong_answers(answer: str, reason: str) -> None:
    """Blank answers and answers over 1,024 characters are refused with a reason."""
    assert run(TEXT, answer) == Invalid(reason)


ORDER_NUMBER = Validator("pattern", pattern="^[0-9]{4,8}$")


@pytest.mark.parametrize(
    ("validator", "answer", "outcome"),
    [
        (ORDER_NUMBER, "10482", Valid("10482")),
        (ORDER_NUMBER, " 10482 ", Valid("10482")),
        (ORDER_NUMBER, "123", Invalid(NOT_PATTERN)),
        (ORDER_NUMBER, "10482a", Invalid(NOT_PATTERN)),
        (Validator("pattern", pattern="[0-9]+"), "12a", Invalid(NOT_PATTERN)),
        (Validator("pattern", pattern="[0-9]+"), "a12", Invalid(NOT_PATTERN)),
        (Validator("pattern", pattern="(?i)nl[0-9]{2}"), "NL42", Valid("NL42")),
        (Validator("pattern", pattern="(a+)+$"), "a" * 1025, Invalid(TOO_LONG)),
    ],
)
def test_a_pattern_must_match_the_whole_trimmed_answer(validator: Validator, answer: str, outcome: Any) -> None:
    """The developer's pattern is matched against the whole trimmed answer, never a part of it."""
    assert run(validator, answer) == outcome


@pytest.mark.parametrize(
    ("validator", "message"),
    [
        (Validator("pattern", pattern="("), "validator pattern '(' is not a regular expression"),
        (Validator("pattern"), "a pattern validator needs a pattern"),
        (Validator("choice"), "a choice validator needs choices"),
        (
            Validator("custom", name="vat"),
            "no custom validator named 'vat'; install a plug-in that registers it",
        ),
        (Validator("bogus"), "unknown validator kind 'bogus'"),  # type: ignore[arg-type]
    ],
)
def test_a_broken_validator_is_a_config_error(validator: Validator, message: str) -> None:
    """Mistakes `bot check` should have caught raise ConfigError instead of blaming the customer."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        run(validator, "anything")


SIZES = Validator("choice", choices=("Small", "Large", "Extra large", "Café"))


@accepted(
    [
        (" small ", "Small"), ("LARGE", "Large"), ("extra   LARGE", "Extra large"), ("CAFE\u0301", "Café"),
        ("cafe!", "Café"), ("Extra-large", "Extra large"), ("extra lagre", "Extra large"),
    ]
)  # fmt: skip
def test_a_choice_is_matched_loosely_and_kept_in_its_canonical_spelling(answer: str, value: str) -> None:
    """Case, accents, punctuation, spacing and close misspellings do not matter; the slot gets the choice."""
    assert run(SIZES, answer) == Valid(value)


def test_a_wrong_choice_lists_the_choices_or_not_when_there_are_many() -> None:
    """A refusal names up to ten choices; with more it just asks for one of the options."""
    assert run(SIZES, "medium") == Invalid("Please answer with one of: Small, Large, Extra large, Café.")
    many = Validator("choice", choices=tuple(f"option {n}" for n in range(11)))
    assert run(many, "medium") == Invalid("Please pick one of the options.")


# --- numbers -------------------------------------------------------------------------------------------


@accepted(
    [
        ("12", 12),
        ("12.5", 12.5),
        ("12,5", 12.5),
        ("  7 ", 7),
        ("-3", -3),
        ("+4", 4),
        ("\u22122", -2),
        ("12.0", 12),
        ("12.50", 12.5),
        (".5", 0.5),
        ("0,125", 0.125),
        ("1234567", 1234567),
        ("\u0661\u0662", 12),
        ("-0", 0),
    ]
)
def test_numbers_are_read_with_a_point_or_a_comma(answer: str, value: float) -> None:
    """Numbers take a decimal point or comma and are kept as int when integral, float otherwise."""
    outcome = run(NUMBER, answer)
    assert outcome == Valid(value)
    assert type(outcome.value) is type(value)


@refused(
    [
        ("", NOT_NUMBER),
        ("abc", NOT_NUMBER),
        ("12 apples", NOT_NUMBER),
        ("1e3", NOT_NUMBER),
        ("nan", NOT_NUMBER),
        ("inf", NOT_NUMBER),
        ("1.2.3", NOT_NUMBER),
        ("--1", NOT_NUMBER),
        ("12.", NOT_NUMBER),
        (",", NOT_NUMBER),
        ("1 000", NOT_NUMBER),
        ("1" * 16, NOT_NUMBER),
        ("1,000", AMBIGUOUS_NUMBER),
        ("12.500", AMBIGUOUS_NUMBER),
        ("-100,000", AMBIGUOUS_NUMBER),
    ]
)
def test_numbers_refuse_what_is_not_one_number(answer: str, reason: str) -> None:
    """Words, exponents, several separators and a thousands-or-decimal ambiguity are refused."""
    assert run(NUMBER, answer) == Invalid(reason)


@pytest.mark.parametrize(
    ("minimum", "maximum", "answer", "outcome"),
    [
        (1, 10, "1", Valid(1)),
        (1, 10, "10", Valid(10)),
        (1, 10, "10,0", Valid(10)),
        (1, 10, "0", Invalid("Please pick a number from 1 to 10.")),
        (1, 10, "10.01", Invalid("Please pick a number from 1 to 10.")),
        (0.5, None, "0,5", Valid(0.5)),
        (0.5, None, "0.49", Invalid("Please pick a number of at least 0.5.")),
        (None, 100, "100", Valid(100)),
        (None, 100, "101", Invalid("Please pick a number of at most 100.")),
        (0.1, None, "0.1", Valid(0.1)),
    ],
)
def test_number_bounds_are_inclusive(minimum: float | None, maximum: float | None, answer: str, outcome: Any) -> None:
    """`min` and `max` are inclusive and the refusal says the range."""
    assert run(Validator("number", minimum=minimum, maximum=maximum), answer) == outcome


# --- dates ---------------------------------------------------------------------------------------------


@accepted(
    [
        ("today", "2026-04-15"),
        ("Tomorrow", "2026-04-16"),
        ("wednesday", "2026-04-15"),
        ("Thu", "2026-04-16"),
        ("tuesday", "2026-04-21"),
        ("sun.", "2026-04-19"),
        ("17/04", "2026-04-17"),
        ("17-04", "2026-04-17"),
        ("17.04", "2026-04-17"),
        ("7/5", "2026-05-07"),
        ("17/4/2026", "2026-04-17"),
        ("17/04/26", "2026-04-17"),
        ("2026-04-17", "2026-04-17"),
        ("2026/4/17", "2026-04-17"),
        ("17 April", "2026-04-17"),
        ("17th of april", "2026-04-17"),
        ("April 17", "2026-04-17"),
        ("apr 17th, 2026", "2026-04-17"),
        ("17 Apr 2027", "2027-04-17"),
        ("3 sept", "2026-09-03"),
        ("15/04", "2026-04-15"),
        ("14/04", "2027-04-14"),
        ("14/04/2026", "2026-04-14"),
        ("29/02/2028", "2028-02-29"),
        ("29/02", "2028-02-29"),
    ]
)
def test_dates_are_read_in_every_promised_form(answer: str, value: str) -> None:
    """Relative words, weekdays (today counts), day-first numbers, ISO and month names give an ISO date."""
    assert run(DATE, answer) == Valid(value)


@refused(
    [
        ("", NOT_DATE),
        ("someday", NOT_DATE),
        ("yesterday", NOT_DATE),
        ("next friday", NOT_DATE),
        ("12", NOT_DATE),
        ("17 Smarch", NOT_DATE),
        ("17/04/202", NOT_DATE),
        ("17/04-2026", NOT_DATE),
        ("32/01", NO_SUCH_DATE),
        ("04/17", NO_SUCH_DATE),
        ("31/04/2026", NO_SUCH_DATE),
        ("29/02/2027", NO_SUCH_DATE),
        ("0/01", NO_SUCH_DATE),
    ]
)
def test_dates_refuse_what_is_not_a_date(answer: str, reason: str) -> None:
    """Unknown forms are not dates; well-formed impossible days say that the date does not exist."""
    assert run(DATE, answer) == Invalid(reason)


@pytest.mark.parametrize(
    ("min_days", "max_days", "answer", "outcome"),
    [
        (0, 60, "today", Valid("2026-04-15")),
        (0, 60, "14/06/2026", Valid("2026-06-14")),
        (0, 60, "15/06/2026", Invalid("Please pick a date from today to 14/06/2026.")),
        (0, 60, "14/04/2026", Invalid("Please pick a date from today to 14/06/2026.")),
        (0, 60, "14/04", Invalid("Please pick a date from today to 14/06/2026.")),
        (0, 60, "29/02", Invalid("Please pick a date from today to 14/06/2026.")),
        (1, None, "today", Invalid("Please pick a date on or after tomorrow.")),
        (1, None, "tomorrow", Valid("2026-04-16")),
        (2, None, "tomorrow", Invalid("Please pick a date on or after 17/04/2026.")),
        (None, 0, "tomorrow", Invalid("Please pick a date on or before today.")),
        (-30, 0, "14/04", Valid("2026-04-14")),
        (-30, 0, "16/03", Valid("2026-03-16")),
        (-30, 0, "15/03", Invalid("Please pick a date from 16/03/2026 to today.")),
        (-30, 0, "16/04", Invalid("Please pick a date from 16/03/2026 to today.")),
        (-400, 400, "14/04", Valid("2027-04-14")),
    ],
)
def test_date_windows_are_inclusive_and_pick_the_year(
    min_days: int | None, max_days: int | None, answer: str, outcome: Any
) -> None:
    """`min_days`/`max_days` ahead are inclusive; a day and month without a year take the year inside them."""
    assert run(Validator("date", min_days=min_days, max_days=max_days), answer) == outcome


@accepted(
    [
        ("02/01", "2026-01-02"),
        ("2 January", "2026-01-02"),
        ("30/12", "2025-12-30"),
        ("31/12", "2025-12-31"),
        ("29/12", "2026-12-29"),
        ("friday", "2026-01-02"),
        ("tomorrow", "2025-12-31"),
    ]
)
def test_day_and_month_roll_over_into_next_year_in_december(answer: str, value: str) -> None:
    """Late in December, an early-January day and month mean next year; a day just past means next year's."""
    assert run(DATE, answer, now=DECEMBER) == Valid(value)


def test_a_december_day_just_past_is_refused_by_a_window() -> None:
    """Yesterday's day and month is next year's date, which a 60-day window refuses."""
    booking = Validator("date", min_days=0, max_days=60)
    assert run(booking, "29/12", now=DECEMBER) == Invalid("Please pick a date from today to 28/02/2026.")
    assert run(booking, "05/01", now=DECEMBER) == Valid("2026-01-05")


def test_leap_days() -> None:
    """29 February exists only in leap years; around it, today, tomorrow and 28/02 read as a person would."""
    assert run(DATE, "today", now=LEAP_DAY) == Valid("2028-02-29")
    assert run(DATE, "tomorrow", now=LEAP_DAY) == Valid("2028-03-01")
    assert run(DATE, "28/02", now=LEAP_DAY) == Valid("2029-02-28")
    assert run(DATE, "29/02", now=datetime(2028, 1, 10, tzinfo=UTC)) == Valid("2028-02-29")
    assert run(DATE, "29/02/2100") == Invalid(NO_SUCH_DATE)


@pytest.mark.parametrize(
    ("now", "zone", "answer", "value"),
    [
        (SPRING_NIGHT, AMSTERDAM, "today", "2026-03-29"),
        (SPRING_NIGHT, ZoneInfo("UTC"), "today", "2026-03-28"),
        (SPRING_NIGHT, AMSTERDAM, "sunday", "2026-03-29"),
        (AUTUMN_NIGHT, AMSTERDAM, "tomorrow", "2026-10-26"),
        (AUTUMN_NIGHT, ZoneInfo("UTC"), "tomorrow", "2026-10-25"),
        (datetime(2026, 4, 15, 3, 0, tzinfo=UTC), ZoneInfo("America/New_York"), "today", "2026-04-14"),
    ],
)
def test_today_is_the_business_zones_today(now: datetime, zone: ZoneInfo, answer: str, value: str) -> None:
    """Relative dates are read in the business's time zone, so just after local midnight it is already tomorrow."""
    assert run(DATE, answer, now=now, zone=zone) == Valid(value)


# --- times and datetimes -------------------------------------------------------------------------------


@accepted(
    [
        ("14:30", "14:30"),
        ("2pm", "14:00"),
        ("2 PM", "14:00"),
        ("2:30 pm", "14:30"),
        ("2:30pm", "14:30"),
        ("14h30", "14:30"),
        ("14h", "14:00"),
        ("14.30", "14:30"),
        ("9:05", "09:05"),
        ("0:00", "00:00"),
        ("23:59", "23:59"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("12:30 a.m.", "00:30"),
        ("2 p.m.", "14:00"),
        ("noon", "12:00"),
        ("Midnight", "00:00"),
        ("14:30 uhr", "14:30"),
    ]
)
def test_times_are_read_in_24_and_12_hour_forms(answer: str, value: str) -> None:
    """24-hour, 12-hour and French-style times are kept as HH:MM."""
    assert run(TIME, answer) == Valid(value)


@refused(
    [
        ("", NOT_TIME),
        ("14", NOT_TIME),
        ("2", NOT_TIME),
        ("1430", NOT_TIME),
        ("14:3", NOT_TIME),
        ("24:00", NOT_TIME),
        ("25:00", NOT_TIME),
        ("14:60", NOT_TIME),
        ("13pm", NOT_TIME),
        ("0am", NOT_TIME),
        ("14:30pm", NOT_TIME),
        ("half past two", NOT_TIME),
    ]
)
def test_times_refuse_what_is_not_a_time(answer: str, reason: str) -> None:
    """Bare numbers, impossible hours and minutes, and 12-hour clocks past 12 are refused."""
    assert run(TIME, answer) == Invalid(reason)


@accepted(
    [
        ("tomorrow 2pm", "2026-04-16T14:00+02:00"),
        ("17/04 14:30", "2026-04-17T14:30+02:00"),
        ("friday at 2:30 pm", "2026-04-17T14:30+02:00"),
        ("2026-04-17T14:30", "2026-04-17T14:30+02:00"),
        ("14:30 tomorrow", "2026-04-16T14:30+02:00"),
        ("2pm on Friday", "2026-04-17T14:00+02:00"),
        ("April 17, 2pm", "2026-04-17T14:00+02:00"),
        ("17 april 2026 at 9:00", "2026-04-17T09:00+02:00"),
        ("today 13:00", "2026-04-15T13:00+02:00"),
        ("today 11:00", "2026-04-15T11:00+02:00"),
        ("17/12 9am", "2026-12-17T09:00+01:00"),
    ]
)
def test_datetimes_take_a_date_and_a_time_in_either_order(answer: str, value: str) -> None:
    """A date and a time in one answer give an ISO datetime with the business zone's offset on that day."""
    assert run(DATETIME, answer) == Valid(value)


@refused(
    [
        ("", NOT_DATETIME),
        ("tomorrow", NOT_DATETIME),
        ("2pm", NOT_DATETIME),
        ("17/04 25:00", NOT_DATETIME),
        ("31/04 14:00", NO_SUCH_DATE),
        ("soon", NOT_DATETIME),
    ]
)
def test_datetimes_refuse_answers_without_both_parts(answer: str, reason: str) -> None:
    """An answer missing the date or the time, or with an impossible one, is refused."""
    assert run(DATETIME, answer) == Invalid(reason)


def test_datetime_windows_refuse_dates_outside_and_moments_past() -> None:
    """The date part obeys min_days/max_days; with min_days 0 or more, a moment already past is refused."""
    week = Validator("datetime", min_days=0, max_days=7)
    assert run(week, "30/04 10:00") == Invalid("Please pick a date from today to 22/04/2026.")
    assert run(week, "today 11:00") == Invalid(PASSED)
    assert run(week, "today 12:00") == Valid("2026-04-15T12:00+02:00")
    assert run(week, "22/04 23:59") == Valid("2026-04-22T23:59+02:00")


@pytest.mark.parametrize(
    ("answer", "zone", "outcome"),
    [
        (
            "29/03/2026 02:30",
            AMSTERDAM,
            Invalid("On 29/03/2026 the clocks go forward, so 02:30 doesn't exist. Please pick another time."),
        ),
        ("29/03/2026 01:30", AMSTERDAM, Valid("2026-03-29T01:30+01:00")),
        ("29/03/2026 03:30", AMSTERDAM, Valid("2026-03-29T03:30+02:00")),
        ("29/03/2026 02:30", ZoneInfo("UTC"), Valid("2026-03-29T02:30+00:00")),
        ("25/10/2026 02:30", AMSTERDAM, Valid("2026-10-25T02:30+02:00")),
        ("25/10/2026 03:30", AMSTERDAM, Valid("2026-10-25T03:30+01:00")),
    ],
)
def test_datetimes_on_daylight_saving_days(answer: str, zone: ZoneInfo, outcome: Any) -> None:
    """A time the clocks skip is refused; a time they repeat is its first occurrence; offsets follow the day."""
    assert run(DATETIME, answer, now=SPRING_NIGHT, zone=zone) == outcome


# --- phone numbers and e-mail addresses ----------------------------------------------------------------


@accepted(
    [
        ("+31 6 12345678", "31612345678"),
        ("+31612345678", "31612345678"),
        ("0031 6 1234 5678", "31612345678"),
        ("+1 (650) 253-0000", "16502530000"),
        (" +44 20 7946 0958 ", "442079460958"),
    ]
)
def test_phone_numbers_become_whatsapp_ids(answer: str, value: str) -> None:
    """International numbers (with + or 00) are kept as E.164 digits without the plus, WhatsApp's wa_id."""
    assert run(PHONE, answer) == Valid(value)


@refused(
    [
        ("", NOT_PHONE),
        ("06 12345678", NOT_PHONE),
        ("+31 6 1234", NOT_PHONE),
        ("+999 1234567", NOT_PHONE),
        ("hello", NOT_PHONE),
        ("+31 6 12345678 ext. 12", NOT_PHONE),
        ("+" + "1" * 300, NOT_PHONE),
    ]
)
def test_phone_numbers_refuse_invalid_or_national_numbers(answer: str, reason: str) -> None:
    """Numbers that are not valid, carry an extension, or lack a country code without a region are refused."""
    assert run(PHONE, answer) == Invalid(reason)


def test_a_region_lets_customers_omit_the_country_code() -> None:
    """With the business's region, national numbers are read in it; international ones still work."""
    assert run(PHONE, "06 12345678", region="NL") == Valid("31612345678")
    assert run(PHONE, "+1 650 253 0000", region="NL") == Valid("16502530000")
    assert run(PHONE, "06 1234", region="NL") == Invalid(NOT_PHONE)


@accepted(
    [
        ("Name@Example.COM", "Name@example.com"),
        (" user@bücher.de ", "user@bücher.de"),
        ("user.name+tag@gmail.com", "user.name+tag@gmail.com"),
    ]
)
def test_email_addresses_are_normalised(answer: str, value: str) -> None:
    """Valid addresses are kept with the domain lower-cased; internationalised domains are accepted."""
    assert run(EMAIL, answer) == Valid(value)


@refused(
    [
        ("", NOT_EMAIL),
        ("plain", NOT_EMAIL),
        ("bad@", NOT_EMAIL),
        ("@example.com", NOT_EMAIL),
        ("a b@example.com", NOT_EMAIL),
        ("a@localhost", NOT_EMAIL),
        ("user@test", NOT_EMAIL),
        ('"quoted"@example.com', NOT_EMAIL),
        ("a@" + "b" * 300 + ".com", NOT_EMAIL),
    ]
)
def test_email_addresses_refuse_invalid_syntax(answer: str, reason: str) -> None:
    """Malformed, local-only, quoted and overlong addresses are refused (no DNS lookup is made)."""
    assert run(EMAIL, answer) == Invalid(reason)


# --- custom validators and the registry ----------------------------------------------------------------


def vat_number(answer: str) -> str:
    """A custom validator: a Dutch VAT number, upper-cased."""
    if len(answer) != 14 or not answer.upper().startswith("NL"):
        raise ValueError("Dutch VAT numbers look like NL123456789B01.")
    return answer.upper()


def test_a_custom_validator_gives_the_value_or_its_reason() -> None:
    """The named function's return value is kept; its ValueError's message is the reason."""
    custom: dict[str, Callable[[str], Any]] = {"vat": vat_number}
    vat = Validator("custom", name="vat")
    assert run(vat, " nl123456789b01 ", custom=custom) == Valid("NL123456789B01")
    assert run(vat, "123", custom=custom) == Invalid("Dutch VAT numbers look like NL123456789B01.")


def test_a_custom_validator_without_a_reason_gets_a_generic_one() -> None:
    """A bare ValueError still refuses the answer, with a generic reason."""

    def picky(answer: str) -> str:
        raise ValueError

    assert run(Validator("custom", name="picky"), "x", custom={"picky": picky}) == Invalid(NOT_CUSTOM)


def test_registered_validators_are_found_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """VALIDATORS is the registry `check` uses when no other mapping is given."""
    assert VALIDATORS == {}
    monkeypatch.setitem(VALIDATORS, "vat", vat_number)
    assert run(Validator("custom", name="vat"), "NL123456789B01") == Valid("NL123456789B01")


def test_validator_kinds_are_the_models_kinds() -> None:
    """VALIDATOR_KINDS lists every kind bot.engine.flow.Validator may have, in order."""
    assert get_args(ValidatorKind) == VALIDATOR_KINDS
    assert set(VALIDATOR_KINDS) == {"text", "pattern", "number", "date", "time", "datetime", "choice"} | {
        "phone",
        "email",
        "custom",
    } | {"image", "document", "location"}


def test_a_naive_now_is_a_programming_error() -> None:
    """Passing a naive `now` raises ValueError instead of guessing the server's zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        check(DATE, "today", now=datetime(2026, 4, 15, 12, 0), zone=AMSTERDAM)


# --- properties ----------------------------------------------------------------------------------------

FUZZED = [
    TEXT,
    ORDER_NUMBER,
    Validator("number", minimum=1, maximum=10),
    NUMBER,
    DATE,
    Validator("date", min_days=0, max_days=60),
    Validator("date", min_days=-30, max_days=0),
    TIME,
    DATETIME,
    Validator("datetime", min_days=0, max_days=14),
    SIZES,
    PHONE,
    EMAIL,
    Validator("custom", name="vat"),
]
WORDS = ["today", "tomorrow", "friday", "17", "04", "2026", "april", "/", "-", ".", ":", "pm", "am", "at", "h"]
WORDS += ["t", ",", "+31", "00", "6", "12345678", "@", "example.com", "\u0661", "29/02", "02:30", "1,000", " "]
ANSWERS = st.one_of(st.text(), st.lists(st.sampled_from(WORDS), max_size=8).map("".join))
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
ZONES = st.sampled_from([AMSTERDAM, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])


@settings(max_examples=150)
@pytest.mark.parametrize("validator", FUZZED, ids=[f"{v.kind}-{n}" for n, v in enumerate(FUZZED)])
@given(answer=ANSWERS, now=MOMENTS, zone=ZONES)
def test_any_answer_is_valid_or_invalid_and_never_raises(
    validator: Validator, answer: str, now: datetime, zone: ZoneInfo
) -> None:
    """Whatever a customer types, check() answers Valid with a JSON-ready value or Invalid with a reason."""
    outcome = check(validator, answer, now=now, zone=zone, custom={"vat": vat_number})
    assert isinstance(outcome, Valid | Invalid)
    if isinstance(outcome, Valid):
        json.dumps(outcome.value)
    else:
        assert outcome.reason


@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_every_written_date_reads_back(day: date) -> None:
    """Any date written as dd/mm/yyyy, yyyy-mm-dd, 'd Month yyyy' or 'Month d, yyyy' reads back unchanged."""
    for written in (f"{day:%d/%m/%Y}", day.isoformat(), f"{day.day} {day:%B %Y}", f"{day:%b} {day.day}, {day.year}"):
        assert run(DATE, written) == Valid(day.isoformat())


@example(today=date(2004, 3, 1), day=date(2000, 2, 29))  # this year's 29 February just gone: 2008
@given(today=st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 12, 31)), day=st.dates())
def test_a_day_and_month_is_the_next_occurrence(today: date, day: date) -> None:
    """Without bounds, dd/mm is the first date on or after today with that day and month."""
    now = datetime.combine(today, time(12), tzinfo=UTC)
    outcome = run(DATE, f"{day:%d/%m}", now=now, zone=ZoneInfo("UTC"))
    assert isinstance(outcome, Valid)
    found = date.fromisoformat(outcome.value)
    assert (found.day, found.month) == (day.day, day.month)
    assert today <= found < today + timedelta(days=366 if (day.day, day.month) != (29, 2) else 366 * 4)


@given(st.times())
def test_every_written_time_reads_back(moment: time) -> None:
    """Any minute of the day written as HH:MM, 14h30 or in a 12-hour form reads back as HH:MM."""
    value = f"{moment:%H:%M}"
    twelve = f"{moment.hour % 12 or 12}:{moment:%M} {'pm' if moment.hour >= 12 else 'am'}"
    for written in (value, f"{moment.hour}h{moment:%M}", twelve):
        assert run(TIME, written) == Valid(value)
