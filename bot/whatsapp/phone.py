"""Phone numbers, read with Google's `phonenumbers`: typed or imported text to a wa_id and its time zones."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as number_zones

UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers for a number it cannot place


@dataclass(frozen=True)
class Phone:
    """A valid number: its WhatsApp id (E.164 digits without "+"), and the time zones its prefix spans."""

    wa_id: str
    zones: tuple[str, ...]

    @property
    def zone(self) -> str | None:
        """The number's one time zone, or None when its prefix spans several (or none is known)."""
        return self.zones[0] if len(self.zones) == 1 else None


def read_phone(text: str, region: str | None = None) -> Phone | None:
    """A valid number from `+31 6 1234 5678`, `0031…`, bare international digits, or a national form in `region`.

    Bare digits without a leading 0 (`31612345678`, how WhatsApp writes a wa_id) are read as international
    unless a region is given; a national number (`06 1234 5678`) needs `region`. Extensions are refused.
    """
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    elif region is None and text[:1].isdigit() and not text.startswith("0"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # A number is valid when it has a type (`is_valid_number` asks the same metadata the same question);
    # its type is the costliest part of reading it, so it is worked out once, not again for the time zones.
    kind = phonenumbers.number_type(number)
    if number.extension or kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None
    wa_id = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
    if number.country_code is not None and phonenumbers.is_number_type_geographical(kind, number.country_code):
        found = number_zones.time_zones_for_geographical_number(number)
    else:  # what `time_zones_for_number` answers for a mobile in most countries, without its type again
        found = number_zones._country_level_time_zones_for_number(number)
    return Phone(wa_id, tuple(z for z in found if z != UNKNOWN_ZONE))
