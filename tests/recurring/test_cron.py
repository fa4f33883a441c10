"""Cron expressions in a named time zone: precise parse errors, runs in UTC, daylight-saving days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ValidationError
from bot.recurring.cron import Due, due, latest_due, next_run, next_runs, parse

AMSTERDAM = "Europe/Amsterdam"
SPRING = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 CET, the evening before clocks go 02:00 → 03:00
AUTUMN = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 CEST, the evening before clocks go 03:00 → 02:00


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def runs_on(cron: str, start: datetime, hours: int = 24) -> list[datetime]:
    """Every run of `cron` in Amsterdam within `hours` after `start`."""
    recurrence = parse(cron, AMSTERDAM)
    found, at = [], start
    while (at := next_run(recurrence, at)) < start + timedelta(hours=hours):
        found.append(at)
    return found


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "cron '61 * * * *': bad minute '61'; expected 0-59"),
        ("*/0 * * * *", "bad minute '*/0'"),
        ("5-1 * * * *", "bad minute '5-1'"),
        ("0 24 * * *", "bad hour '24'; expected 0-23"),
        ("0 9 0 * *", "bad day-of-month '0'; expected 1-31, L or LW"),
        ("0 9 31 4 *", "day-of-month '31' never occurs in month '4'"),
        ("0 9 * 13 *", "bad month '13'; expected 1-12 or JAN-DEC"),
        ("0 9 * * 8", "bad day-of-week '8'; expected 0-7 or SUN-SAT"),
        ("0 9 * * MON#6", "bad day-of-week 'MON#6'"),
        (
            "0 9 * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or a shortcut such as @daily, got 4",
        ),
        ("0 0 9 * * *", "got 6"),
        ("", "got 0"),
        ("@reboot", "cron '@reboot': unknown shortcut; use one of @yearly"),
    ],
)
def test_a_bad_expression_names_the_field_and_the_value(cron: str, message: str) -> None:
    """A wrong expression is a ValidationError saying which field holds which bad value and what it takes."""
    with pytest.raises(ValidationError) as caught:
        parse(cron, AMSTERDAM)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Base", "unknown time zone 'Mars/Base'; use an IANA name such as Europe/Amsterdam"),
        ("europe/amsterdam", "unknown time zone 'europe/amsterdam'"),
        ("", "unknown time zone ''"),
        ("../etc/passwd", "unknown time zone '../etc/passwd'"),
        ("localtime", "time zone 'localtime' is the server's own setting"),
    ],
)
def test_a_bad_time_zone_is_named(zone: str, message: str) -> None:
    """Only IANA zone names are accepted, never the server's own zone."""
    with pytest.raises(ValidationError) as caught:
        parse("0 9 * * *", zone)
    assert message in caught.value.message


def test_shortcuts_and_spacing_are_normalised() -> None:
    """@daily expands to its five fields; extra spaces are dropped from the expression kept."""
    assert parse("@daily", "UTC").expression == "0 0 * * *"
    assert parse("@Weekly", "UTC").expression == "0 0 * * 0"
    recurrence = parse("  0   9 * *  MON-FRI ", AMSTERDAM)
    assert (recurrence.cron, recurrence.time_zone) == ("0 9 * * MON-FRI", AMSTERDAM)


# --- runs -------------------------------------------------------------------------------------------


def test_runs_are_local_times_returned_in_utc() -> None:
    """09:00 in a zone is that zone's 09:00, given back as a UTC instant."""
    after = utc(4, 10, 12)
    assert next_run(parse("0 9 * * *", "Asia/Kolkata"), after) == utc(4, 11, 3, 30)
    assert next_run(parse("0 9 * * *", "America/Sao_Paulo"), after) == utc(4, 11, 12)
    assert next_run(parse("0 9 * * *", AMSTERDAM), after) == utc(4, 11, 7)
    assert next_run(parse("0 9 * * *", AMSTERDAM), after).tzinfo == UTC


def test_the_next_run_is_strictly_after() -> None:
    """Asked at the very instant of a run, the next run is the following one."""
    recurrence = parse("0 9 * * *", AMSTERDAM)
    assert next_run(recurrence, utc(4, 11, 7)) == utc(4, 12, 7)
    assert next_run(recurrence, utc(4, 11, 6, 59) + timedelta(seconds=59.5)) == utc(4, 11, 7)


def test_next_runs_previews_several() -> None:
    """The preview lists the next runs in order: weekdays only for MON-FRI."""
    friday = utc(4, 10, 12)
    assert next_runs(parse("0 9 * * MON-FRI", AMSTERDAM), friday, 3) == [utc(4, 13, 7), utc(4, 14, 7), utc(4, 15, 7)]


def test_day_of_month_and_day_of_week_either_match_when_both_are_given() -> None:
    """As in cron, `0 9 1 * MON` runs on the 1st and on every Monday."""
    runs = next_runs(parse("0 9 1 * MON", "UTC"), utc(4, 28, 12), 3)
    assert runs == [utc(5, 1, 9), utc(5, 4, 9), utc(5, 11, 9)]


def test_a_naive_start_is_refused() -> None:
    """Counting from a time without a zone would be a guess; it is a programming error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run(parse("0 9 * * *", AMSTERDAM), datetime(2026, 4, 10, 12))


# --- daylight saving: Europe/Amsterdam, 29 March and 25 October 2026 ----------------------------------


def test_spring_forward_runs_a_skipped_time_once_after_the_gap() -> None:
    """02:30 does not exist on 29 March: it runs once at 03:00 CEST (01:00 UTC), then 02:30 CEST as usual."""
    assert runs_on("30 2 * * *", SPRING) == [utc(3, 29, 1)]
    assert next_runs(parse("30 2 * * *", AMSTERDAM), SPRING, 2) == [utc(3, 29, 1), utc(3, 30, 0, 30)]
    assert runs_on("15,45 2 * * *", SPRING) == [utc(3, 29, 1)]  # both fold onto 03:00: one run, not two
    assert runs_on("0 9 * * *", SPRING) == [utc(3, 29, 7)]  # the morning after is simply CEST


def test_spring_forward_wildcard_hours_follow_elapsed_time() -> None:
    """With * in the hour, runs follow the clock as it is: no 02:00 run and no 02:xx runs that night."""
    night = runs_on("0 * * * *", SPRING, hours=5)
    assert night == [utc(3, 28, 23), utc(3, 29, 0), utc(3, 29, 1), utc(3, 29, 2)]  # 00:00, 01:00 CET; 03:00, 04:00
    assert runs_on("*/30 2 * * *", SPRING, hours=24) == []


def test_fall_back_runs_a_repeated_time_once() -> None:
    """02:30 happens twice on 25 October: it runs at the first (CEST, 00:30 UTC), not again an hour later."""
    assert runs_on("30 2 * * *", AUTUMN) == [utc(10, 25, 0, 30)]
    assert next_runs(parse("30 2 * * *", AMSTERDAM), AUTUMN, 2) == [utc(10, 25, 0, 30), utc(10, 26, 1, 30)]


def test_fall_back_from_inside_the_repeated_hour_goes_to_the_next_day() -> None:
    """Asked at 02:15 CET (the second pass), the next 02:30 is the next day's, never the earlier pass."""
    assert next_run(parse("30 2 * * *", AMSTERDAM), utc(10, 25, 1, 15)) == utc(10, 26, 1, 30)


def test_fall_back_wildcard_hours_run_in_both_passes() -> None:
    """With * in the minute or hour, the repeated hour is run through twice, as elapsed time."""
    hourly = runs_on("0 * * * *", AUTUMN, hours=6)
    assert hourly == [utc(10, 24, 22), utc(10, 24, 23), utc(10, 25, 0), utc(10, 25, 1), utc(10, 25, 2)]
    assert runs_on("*/30 2 * * *", AUTUMN, hours=24) == [
        utc(10, 25, 0), utc(10, 25, 0, 30), utc(10, 25, 1), utc(10, 25, 1, 30),
    ]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    cron=st.sampled_from(["30 2 * * *", "0 * * * *", "*/30 2 * * *", "0 9 * * MON-FRI", "15 1-3 L * *"]),
    zone=st.sampled_from([AMSTERDAM, "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_runs_always_move_forward(start: datetime, cron: str, zone: str) -> None:
    """Whatever the start, zone and DST change, each run is later than the start and than the run before."""
    runs = next_runs(parse(cron, zone), start, 5)
    assert all(earlier < later for earlier, later in zip([start, *runs], runs, strict=False))


# --- missed runs --------------------------------------------------------------------------------------


def test_missed_runs_collapse_to_the_latest() -> None:
    """After two days down, the latest due run is today's, replacing the two before it."""
    recurrence = parse("0 9 * * *", AMSTERDAM)
    assert latest_due(recurrence, utc(4, 13, 7), utc(4, 15, 10)) == (utc(4, 15, 7), 2)
    assert latest_due(recurrence, utc(4, 13, 7), utc(4, 13, 7)) == (utc(4, 13, 7), 0)


def test_a_late_row_runs_the_latest_due_run_and_is_next_due_after_now() -> None:
    """Two days late, a row runs today's run in place of two, and is next due tomorrow, counted from now."""
    recurrence = parse("0 9 * * *", AMSTERDAM)
    assert due(recurrence, utc(4, 13, 7), utc(4, 15, 10)) == Due(utc(4, 15, 7), 2, utc(4, 16, 7))
    assert due(recurrence, utc(4, 13, 7), utc(4, 13, 7)) == Due(utc(4, 13, 7), 0, utc(4, 14, 7))
