"""Business hours: the file read with precise errors, and the free days and slots in the business's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.engine import business_hours as bh
from bot.engine.flow_file import load_flows
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
FRIDAY_NOON = datetime(2026, 4, 10, 10, 0, tzinfo=UTC)  # 12:00 in Amsterdam (CEST, UTC+2)
MONDAY = date(2026, 4, 13)
CUT = bh.Service("cut", "Cut", timedelta(minutes=30), "Main St 1")
COLOUR = bh.Service("colour", "Colour", timedelta(minutes=90), "Main St 1")
WEEKDAY = ((9 * 60, 12 * 60 + 30), (13 * 60 + 30, 17 * 60 + 30))


def business(**changes: object) -> bh.Business:
    """Open 09:00-12:30 and 13:30-17:30 on weekdays, 10:00-14:00 on Saturday, closed on Sunday; 30-minute slots."""
    values: dict[str, object] = {
        "hours": (WEEKDAY,) * 5 + (((10 * 60, 14 * 60),), ()),
        "services": (CUT, COLOUR),
        "slot": timedelta(minutes=30),
        "days_ahead": 14,
        "notice": timedelta(hours=2),
        "holidays": frozenset({date(2026, 4, 20)}),
    }
    values.update(changes)
    return bh.Business(**values)  # type: ignore[arg-type]


def local(slots: list[datetime], zone: ZoneInfo = AMSTERDAM) -> list[str]:
    return [bh.show_slot(start, zone) for start in slots]


def free(day: date, service: bh.Service = CUT, *, now: datetime = FRIDAY_NOON, **kw: object) -> list[str]:
    found = kw.pop("business", None) or business()
    busy = kw.pop("busy", ())
    zone = kw.pop("zone", AMSTERDAM)
    starts = bh.free_slots(found, day, service.duration, now=now, zone=zone, busy=busy)  # type: ignore[arg-type]
    return local(starts, zone)  # type: ignore[arg-type]


def at(day: date, hhmm: str, zone: ZoneInfo = AMSTERDAM) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return bh.wall_time(day, hours * 60 + minutes, zone)


# --- days ------------------------------------------------------------------------------------------


def test_bookable_days_skip_closed_days_and_holidays_up_to_the_horizon() -> None:
    """From today (in the business's zone) to 14 days ahead: no Sundays, not the holiday on Monday 20 April."""
    days = bh.bookable_days(business(), FRIDAY_NOON, AMSTERDAM)
    assert (days[0], days[-1]) == (date(2026, 4, 10), date(2026, 4, 24))
    assert {date(2026, 4, 12), date(2026, 4, 19), date(2026, 4, 20)}.isdisjoint(days)  # Sundays, the holiday
    assert len(days) == 15 - 2 - 1
    assert bh.day_choice(MONDAY) == {"id": "2026-04-13", "title": "Mon 13 Apr"}


def test_today_is_the_business_days_date_not_utcs() -> None:
    """At 23:30 UTC on a Saturday it is already Sunday in Amsterdam: the first bookable day is Monday."""
    late = datetime(2026, 4, 11, 23, 30, tzinfo=UTC)
    assert bh.bookable_days(business(), late, AMSTERDAM)[0] == MONDAY
    assert bh.bookable_days(business(), late, ZoneInfo("UTC"))[0] == date(2026, 4, 11)


# --- slots -----------------------------------------------------------------------------------------


def test_a_days_slots_follow_the_opening_hours_in_the_business_zone() -> None:
    """Every half hour from each opening; 09:00 in Amsterdam in April is 07:00 UTC; the lunch break has none."""
    slots = bh.free_slots(business(), MONDAY, CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=())
    assert slots[0] == datetime(2026, 4, 13, 7, 0, tzinfo=UTC)
    assert local(slots) == [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00",
        "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30", "17:00",
    ]  # fmt: skip
    assert bh.slot_choice(slots[0], AMSTERDAM) == {"id": "2026-04-13T09:00:00+02:00", "title": "09:00"}


def test_a_service_that_does_not_fit_before_closing_is_not_offered() -> None:
    """A 90-minute colour starts at 11:00 at the latest before the 12:30 break and at 16:00 before 17:30."""
    assert free(MONDAY, COLOUR) == [
        "09:00", "09:30", "10:00", "10:30", "11:00",
        "13:30", "14:00", "14:30", "15:00", "15:30", "16:00",
    ]  # fmt: skip


def test_taken_times_are_never_offered_and_back_to_back_is_fine() -> None:
    """A booking 10:00-11:00 takes 10:00 and 10:30 for a cut, and 09:00 to 10:30 for a colour; 11:00 stays free."""
    busy = [(at(MONDAY, "10:00"), at(MONDAY, "11:00"))]
    cuts = free(MONDAY, busy=busy)
    assert {"10:00", "10:30"}.isdisjoint(cuts)
    assert {"09:30", "11:00"} <= set(cuts)
    colours = free(MONDAY, COLOUR, busy=busy)
    assert colours[:2] == ["11:00", "13:30"]


def test_past_times_and_the_minimum_notice_are_not_offered() -> None:
    """At 09:10 on Monday with two hours' notice the first slot is 11:30; with none it is 09:30."""
    now = at(MONDAY, "09:10")
    assert free(MONDAY, now=now)[0] == "11:30"
    assert free(MONDAY, now=now, business=business(notice=timedelta(0)))[0] == "09:30"
    assert free(MONDAY, now=at(MONDAY, "17:00")) == []


def test_closed_days_holidays_and_days_beyond_the_horizon_have_no_slots() -> None:
    """Sunday, the holiday, yesterday and 15 days ahead: nothing to book."""
    for day in (date(2026, 4, 12), date(2026, 4, 20), date(2026, 4, 9), date(2026, 4, 25)):
        assert free(day) == [], day
    assert free(date(2026, 4, 24)) != []


def test_is_free_checks_a_start_against_the_free_slots_of_its_day() -> None:
    """An offered start is free; an off-grid time, a taken one, or one in the lunch break is not."""
    found, start = business(), at(MONDAY, "10:00")
    assert bh.is_free(found, start, CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=())
    assert not bh.is_free(found, at(MONDAY, "10:10"), CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=())
    assert not bh.is_free(found, at(MONDAY, "12:30"), CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=())
    taken = [(start, start + CUT.duration)]
    assert not bh.is_free(found, start, CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=taken)
    parsed = datetime.fromisoformat(bh.slot_choice(start, AMSTERDAM)["id"])
    assert bh.is_free(found, parsed, CUT.duration, now=FRIDAY_NOON, zone=AMSTERDAM, busy=())


def test_an_opening_until_midnight_offers_the_last_slot_of_the_day() -> None:
    """Hours may close at 24:00: the last 30-minute slot starts at 23:30."""
    late = business(hours=(((20 * 60, 24 * 60),),) * 7, notice=timedelta(0))
    assert free(MONDAY, business=late)[-1] == "23:30"


# --- the clocks change -----------------------------------------------------------------------------

NIGHT = business(hours=(((0, 6 * 60),),) * 7, notice=timedelta(0), slot=timedelta(minutes=60))
HOUR = bh.Service("hour", "Hour", timedelta(minutes=60), "Main St 1")


def test_spring_forward_has_no_slot_in_the_hour_that_does_not_exist() -> None:
    """On 29 March 2026 Amsterdam skips 02:00-03:00: open 00:00-06:00 is five real hours and five slots."""
    day = date(2026, 3, 29)
    now = datetime(2026, 3, 20, tzinfo=UTC)
    assert free(day, HOUR, now=now, business=NIGHT) == ["00:00", "01:00", "03:00", "04:00", "05:00"]
    start, end = bh.day_bounds(day, AMSTERDAM)
    assert end - start == timedelta(hours=23)


def test_fall_back_offers_both_of_the_hour_that_happens_twice() -> None:
    """On 25 October 2026 02:00-03:00 happens twice: seven slots, the repeated hour told apart by its zone."""
    day = date(2026, 10, 25)
    now = datetime(2026, 10, 20, tzinfo=UTC)
    assert free(day, HOUR, now=now, business=NIGHT) == [
        "00:00", "01:00", "02:00 CEST", "02:00 CET", "03:00", "04:00", "05:00",
    ]  # fmt: skip
    start, end = bh.day_bounds(day, AMSTERDAM)
    assert end - start == timedelta(hours=25)


def test_the_offset_changes_with_the_clocks_on_either_side_of_a_dst_change() -> None:
    """09:00 is 08:00 UTC on Friday 27 March (CET) and 07:00 UTC on Monday 30 March (CEST), and back in October."""
    now = datetime(2026, 3, 20, tzinfo=UTC)
    found = business(days_ahead=30)
    for day, utc_hour in ((date(2026, 3, 27), 8), (date(2026, 3, 30), 7)):
        first = bh.free_slots(found, day, CUT.duration, now=now, zone=AMSTERDAM, busy=())[0]
        assert first == datetime.combine(day, datetime.min.time(), UTC).replace(hour=utc_hour)
    october = datetime(2026, 10, 20, tzinfo=UTC)
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)
    assert bh.free_slots(found, friday, CUT.duration, now=october, zone=AMSTERDAM, busy=())[0].hour == 7
    assert bh.free_slots(found, monday, CUT.duration, now=october, zone=AMSTERDAM, busy=())[0].hour == 8


def test_a_booking_across_the_change_blocks_real_time() -> None:
    """A two-hour booking from 01:00 on the spring-forward night ends at 04:00 local: 03:00 is taken, 04:00 is free."""
    day = date(2026, 3, 29)
    start = at(day, "01:00")
    busy = [(start, start + timedelta(hours=2))]
    now = datetime(2026, 3, 20, tzinfo=UTC)
    assert free(day, HOUR, now=now, business=NIGHT, busy=busy) == ["00:00", "04:00", "05:00"]


# --- the file --------------------------------------------------------------------------------------


def test_the_shipped_business_file_reads_without_problems() -> None:
    """`flows/data/business.yaml` is sound: services, hours and rules as shipped."""
    found, problems = bh.read_business(ROOT / "flows" / "data" / "business.yaml")
    assert problems == []
    assert found is not None
    assert [s.id for s in found.services][:1] == ["cut"]
    assert found.hours[6] == ()  # closed on Sunday
    assert found.notice == timedelta(hours=2)


def test_the_business_file_is_not_read_as_a_flow() -> None:
    """The flow loader reads only `flows/*.yaml`; the data folder below it is neither a flow nor a problem."""
    flows, problems = load_flows(ROOT / "flows")
    assert "business" not in flows
    assert not any("data" in p.path.parts for p in problems)


def test_file_errors_point_at_the_line_and_column(tmp_path: Path) -> None:
    """Every mistake is reported at once, each where it was written, in line order."""
    path = tmp_path / "business.yaml"
    path.write_text(
        "hours:\n"
        '  mon: ["09:00-12:30", "12:00-17:30"]\n'
        "  tue: 9-17\n"
        '  wed: ["17:00-09:00", "9:00-10:00"]\n'
        "  thu: closed\n"
        "  fri: [13:30]\n"
        "  sat: closed\n"
        "  funday: closed\n"
        "slot_minutes: 0\n"
        "minimum_notice: 2 hours\n"
        "holidays: [2026-12-25, 2026-13-01]\n"
        "services:\n"
        "  - {id: Cut, title: Cut, duration_minutes: 30, location: Main St 1}\n"
        "  - {id: wash, title: A title far too long for a button, duration_minutes: 30}\n"
        "  - {id: wash, title: Wash, duration_minutes: 600, location: Main St 1}\n"
        "colour: red\n"
    )
    found, problems = bh.read_business(path)
    assert found is None
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        "1:1: error: 'hours' has no 'sun'; write `sun: closed` for a closed day",
        "2:24: error: opening hours '12:00-17:30' overlap or come before the ones listed before them",
        """3:8: error: 'tue' must be closed or a list of opening hours like ["09:00-12:30", "13:30-17:30"]""",
        "4:9: error: opening hours '17:00-09:00' must close after they open, at 24:00 at the latest",
        """4:24: error: opening hours '9:00-10:00' must be HH:MM-HH:MM, like "09:00-12:30"; quote them""",
        """6:9: error: opening hours '13:30' must be HH:MM-HH:MM, like "09:00-12:30"; quote them""",
        "8:3: error: unknown weekday 'funday'; use mon, tue, wed, thu, fri, sat, sun",
        "9:15: error: 'slot_minutes' must be a whole number from 1 to 1440",
        "10:17: error: duration '2 hours': use 30s, 10m, 2h or 1d",
        "11:24: error: holiday '2026-13-01' must be a date like 2026-12-25",
        "13:10: error: service id 'Cut' must be lowercase letters, digits and underscores, not starting with a digit",
        "14:5: error: service 2 has no 'location'",
        "14:23: error: title 'A title far too long for a button' is 33 characters; at most 20; "
        "three services or fewer are reply buttons",
        "15:10: error: service id 'wash' is already service 2's",
        "16:1: error: unknown key 'colour'; allowed keys: hours, holidays, slot_minutes, days_ahead, "
        "minimum_notice, services",
    ]


def test_a_service_longer_than_any_opening_is_an_error(tmp_path: Path) -> None:
    """A service that could never fit between opening and closing is reported at its duration."""
    path = tmp_path / "business.yaml"
    days = "".join(f"  {day}: closed\n" for day in bh.WEEKDAYS[1:])
    path.write_text(
        f'hours:\n  mon: ["09:00-12:00"]\n{days}slot_minutes: 30\n'
        "services:\n  - {id: perm, title: Perm, duration_minutes: 240, location: Main St 1}\n"
    )
    _, problems = bh.read_business(path)
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        "11:47: error: service 'perm' takes 240 minutes, longer than any opening: it can never be booked"
    ]


def test_broken_yaml_and_missing_files_are_reported_not_raised(tmp_path: Path) -> None:
    """A YAML syntax error has its position; a missing file is one problem; `load_business` raises ConfigError."""
    path = tmp_path / "business.yaml"
    path.write_text("hours: [\n")
    _, problems = bh.read_business(path)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(2, "YAML")]
    _, problems = bh.read_business(tmp_path / "missing.yaml")
    assert problems[0].message.startswith("cannot read the file")
    path.write_text("- just a list\n")
    with pytest.raises(ConfigError, match=r"business\.yaml:1:1: error: a business file is a mapping"):
        bh.load_business(path)
