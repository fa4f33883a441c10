"""Dates, times and amounts as one customer reads them: their language through Babel, their clock, their place."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.language.reader import Reader, customer_zone, number_zone

LISBON = ZoneInfo("Europe/Lisbon")  # the business: UTC+0 in December
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
MONDAY = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 13:00 in Lisbon, 10:00 in São Paulo


def test_a_brazilian_customer_reads_their_own_day_time_and_money() -> None:
    """pt_BR on São Paulo's clock: the issue's "segunda-feira, 7 de dezembro, 10:00", and "R$ 1.234,50"."""
    reader = Reader.of("pt_BR", None, "5511987654321", LISBON)
    assert reader.zone == SAO_PAULO  # from the number's country code
    assert reader.date(MONDAY) == "segunda-feira, 7 de dezembro"
    assert reader.time(MONDAY, place=False) == "10:00"
    assert reader.time(MONDAY) == "10:00 (São Paulo)"  # not the business's clock: the place is named
    assert reader.date_time(MONDAY) == "segunda-feira, 7 de dezembro, 10:00 (São Paulo)"
    assert reader.amount("1234.5", "BRL") == "R$\xa01.234,50"


def test_each_language_writes_dates_and_amounts_its_own_way() -> None:
    """Spanish, German, French, Dutch and English (day before month, 24-hour) on the business's own clock."""
    expected = {
        "es": ("lunes, 7 de diciembre", "13:00", "1.234,50\xa0€"),
        "de": ("Montag, 7. Dezember", "13:00", "1.234,50\xa0€"),
        "fr": ("lundi 7 décembre", "13:00", "1\u202f234,50\xa0€"),
        "nl": ("maandag 7 december", "13:00", "€\xa01.234,50"),
        "en": ("Monday 7 December", "13:00", "€1,234.50"),
        "xx": ("Monday 7 December", "13:00", "€1,234.50"),  # a language Babel does not know: English
    }
    for language, (day, time, amount) in expected.items():
        reader = Reader.business(LISBON, language)
        assert (reader.date(MONDAY), reader.time(MONDAY), reader.amount("1234.50", "EUR")) == (day, time, amount)
    american = Reader.business(LISBON, "en_US")
    assert (american.date(MONDAY), american.time(MONDAY)) == ("Monday, December 7", "1:00\u202fPM")
    assert Reader.business(LISBON, "ja").date(MONDAY) == "12月7日月曜日"  # no pattern of ours: Babel's own


def test_the_customers_clock_is_their_zone_else_their_numbers_else_the_business() -> None:
    """A stored zone wins; a number with one zone gives it; a country of many zones, or none, gives the business's."""
    assert customer_zone("America/Manaus", "5511987654321", LISBON) == ZoneInfo("America/Manaus")
    assert customer_zone("Mars/Olympus", "5511987654321", LISBON) == SAO_PAULO
    assert number_zone("31612345678") == ZoneInfo("Europe/Amsterdam")
    assert number_zone("447700900123") is None  # phonenumbers cannot place it
    assert number_zone("17") is None
    assert customer_zone(None, None, LISBON) == LISBON


def test_the_hour_that_happens_twice_says_which() -> None:
    """When the clocks go back, 01:30 happens twice; the time carries the zone's abbreviation."""
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST in London
    reader = Reader.business(ZoneInfo("Europe/London"))
    assert reader.time(first) == "01:30 BST"
    assert reader.amount("abc", "eur") == "abc EUR"
