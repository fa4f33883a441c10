"""Dates, times and amounts as one customer reads them: in their language (with Babel) and on their clock.

A customer's clock is their contact's time zone; failing that, the zone of their number's country when it
has only one (`bot.whatsapp.phone`); failing that, the business's. A time shown on a clock other than the
business's names the place (``10:00 (São Paulo)``), so nobody wonders whose ten o'clock it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from babel.numbers import format_currency

from bot.whatsapp.phone import read_phone

DEFAULT_LANGUAGE = "en"
# Bare English is written as the shipped templates are: day before month, 24-hour clock (``en_US`` for AM/PM).
ENGLISH = "en_GB"
# A day without its year, as each language (or locale) writes it in a sentence; others get Babel's own skeleton.
DAY_PATTERNS = {
    "en": "EEEE d MMMM",
    "en_US": "EEEE, MMMM d",
    "pt": "EEEE, d 'de' MMMM",
    "es": "EEEE, d 'de' MMMM",
    "de": "EEEE, d. MMMM",
    "fr": "EEEE d MMMM",
    "nl": "EEEE d MMMM",
}


@lru_cache(maxsize=64)
def babel_locale(language: str | None) -> Locale:
    """The Babel locale for a contact's language (``pt_BR``, ``pt-BR``, ``es``); English when unknown."""
    code = (language or DEFAULT_LANGUAGE).replace("-", "_")
    if code == DEFAULT_LANGUAGE:
        code = ENGLISH
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(ENGLISH)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is none by that name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=4096)
def number_zone(wa_id: str | None) -> ZoneInfo | None:
    """The time zone of a number when its prefix has exactly one (+55 11 → São Paulo), else None."""
    phone = read_phone(wa_id) if wa_id else None
    return zone_named(phone.zone) if phone is not None else None


def customer_zone(time_zone: str | None, wa_id: str | None, business_zone: ZoneInfo) -> ZoneInfo:
    """The customer's clock: their own zone, else their number's, else the business's."""
    return zone_named(time_zone) or number_zone(wa_id) or business_zone


@dataclass(frozen=True)
class Reader:
    """One customer as a reader: the language to write in, their clock, and the business's clock."""

    language: str
    zone: ZoneInfo
    business_zone: ZoneInfo

    @classmethod
    def of(cls, language: str | None, time_zone: str | None, wa_id: str | None, business_zone: ZoneInfo) -> Reader:
        """The reader a contact is: `language` is the message's (a template's may be a fallback of theirs)."""
        return cls(language or DEFAULT_LANGUAGE, customer_zone(time_zone, wa_id, business_zone), business_zone)

    @classmethod
    def business(cls, zone: ZoneInfo, language: str | None = None) -> Reader:
        """A reader on the business's own clock, as texts were written before contacts had clocks."""
        return cls(language or DEFAULT_LANGUAGE, zone, zone)

    @property
    def locale(self) -> Locale:
        return babel_locale(self.language)

    def away(self, when: datetime) -> bool:
        """Whether the customer's clock reads otherwise than the business's at `when` (times then name the place)."""
        return when.astimezone(self.zone).utcoffset() != when.astimezone(self.business_zone).utcoffset()

    def date(self, when: datetime) -> str:
        """A day as the customer reads it: ``Monday 7 December``, ``segunda-feira, 7 de dezembro``."""
        local = when.astimezone(self.zone)
        pattern = DAY_PATTERNS.get(str(self.locale)) or DAY_PATTERNS.get(self.locale.language)
        if pattern is None:
            return format_skeleton("MMMMEEEEd", local, locale=self.locale)
        return format_date(local, pattern, locale=self.locale)

    def time(self, when: datetime, *, place: bool = True) -> str:
        """A time of day on the customer's clock (``10:00``); with its place when that is not the business's."""
        local = when.astimezone(self.zone)
        shown = format_time(local, "short", locale=self.locale)
        if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
            shown = f"{shown} {local:%Z}"  # the hour that happens twice when the clocks go back: which one
        return f"{shown} ({self.place})" if place and self.away(when) else shown

    def date_time(self, when: datetime) -> str:
        """A day and a time: ``segunda-feira, 7 de dezembro, 10:00``."""
        return f"{self.date(when)}, {self.time(when)}"

    @property
    def place(self) -> str:
        """The customer's zone named as a place in their language: ``São Paulo``, ``Nova York``."""
        return str(get_timezone_location(self.zone, locale=self.locale, return_city=True))

    def amount(self, amount: str | Decimal, currency: str) -> str:
        """An amount in the customer's language: ``€84.90`` in English, ``R$ 1.234,50`` in pt_BR."""
        try:
            value = Decimal(amount)
        except InvalidOperation:
            return f"{amount} {currency.upper()}"
        return str(format_currency(value, currency.upper(), locale=self.locale))
