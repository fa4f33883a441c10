"""The business's rate card: what Meta charges per category and country from a date, read from a CSV file.

The file has the header ``country_calling_code,category,price,currency,valid_from``; lines starting with
``#`` and blank lines are ignored. ``country_calling_code`` is a calling code (``44``), a longer prefix of
one for a market with rates of its own (``1876``), or ``*`` for every country the card does not name.
Prices are decimals (never floats), one currency per card. A rate holds from its ``valid_from`` day until a
later rate of the same country and category starts. Reading never raises: it returns the card (None if
any row is wrong) and every problem as ``path:line:col: error: message``, so `bot check` shows them all.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path

import phonenumbers

from bot.whatsapp.pricing import RATE_CATEGORIES
from bot.yaml_file import Problem

COLUMNS = ("country_calling_code", "category", "price", "currency", "valid_from")
ANY_COUNTRY = "*"
_CODE = re.compile(r"[1-9]\d{0,6}")
_PRICE = re.compile(r"\d+(\.\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_PLACES = 4  # money is shown with at least four decimals, as Meta's rate cards give them
E164_DIGITS = 15  # the longest international number E.164 allows, calling code included
MIN_NATIONAL_DIGITS = 2  # phonenumbers refuses a shorter national number (TOO_SHORT_NSN)


def example_rate_card() -> Path:
    """The rate card shipped with the package: EXAMPLE figures for trying the product, not Meta's prices."""
    return Path(str(resources.files("bot.whatsapp").joinpath("rate_cards", "example.csv")))


@lru_cache(maxsize=4096)
def calling_code(wa_id: str | None) -> str | None:
    """The country calling code of a WhatsApp number (``"44"``), or None when phonenumbers cannot place it.

    Calling codes are prefix-free, so an E.164 number's code is the first one to three digits that name one:
    looking them up in phonenumbers' table answers as `phonenumbers.parse` does (tests/whatsapp/test_rate_card.py
    compares them) about 30 times faster, which a campaign's dry run over 100,000 recipients needs. Longer
    strings and ones starting with 0 are not E.164 numbers; phonenumbers reads them in full.
    """
    if not wa_id or not wa_id.isdigit():
        return None
    if wa_id[0] != "0" and len(wa_id) <= E164_DIGITS:
        return _leading_code(wa_id)
    try:
        number = phonenumbers.parse("+" + wa_id)
    except phonenumbers.NumberParseException:
        return None
    code = number.country_code
    return str(code) if code and phonenumbers.region_code_for_country_code(code) != "ZZ" else None


def _leading_code(wa_id: str) -> str | None:
    for length in (1, 2, 3):
        code = int(wa_id[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            placed = phonenumbers.region_code_for_country_code(code) != "ZZ"
            return str(code) if placed and len(wa_id) - length >= MIN_NATIONAL_DIGITS else None
    return None


def _known_prefix(code: str) -> bool:
    """Whether a rate card code starts with a country calling code phonenumbers knows (codes are prefix-free)."""
    return any(
        phonenumbers.region_code_for_country_code(int(code[:n])) != "ZZ" for n in range(1, min(3, len(code)) + 1)
    )


@dataclass(frozen=True)
class RateCard:
    """Rates by (country code, category), each a list of (valid_from, price) in date order."""

    currency: str
    rates: Mapping[tuple[str, str], tuple[tuple[date, Decimal], ...]]
    places: int = MIN_PLACES
    _codes: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_codes", frozenset(code for code, _ in self.rates))

    def price(self, wa_id: str, code: str, category: str, day: date) -> Decimal | None:
        """The rate for a number on `day`: the longest card code the number starts with (at least its calling
        code), else the card's ``*`` row; None when no rate of that category holds on that day."""
        for length in range(len(wa_id), len(code) - 1, -1):
            prefix = wa_id[:length]
            if prefix in self._codes and (found := self._on(prefix, category, day)) is not None:
                return found
        return self._on(ANY_COUNTRY, category, day)

    def _on(self, code: str, category: str, day: date) -> Decimal | None:
        history = self.rates.get((code, category), ())
        index = bisect_right(history, day, key=lambda item: item[0])
        return history[index - 1][1] if index else None

    def money(self, amount: Decimal) -> str:
        """An amount as text with the card's decimals (at least four): ``"12.3400"``."""
        return f"{amount:.{self.places}f}"


def read_rate_card(path: Path) -> tuple[RateCard | None, list[Problem]]:
    """Read a rate card file; the card is None when the file cannot be read or any row is wrong."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, 1, 1, "error", f"cannot read the rate card: {exc}")]
    return parse_rate_card(text, path)


def parse_rate_card(text: str, path: Path) -> tuple[RateCard | None, list[Problem]]:
    """Parse a rate card's text (`path` only names it in problems)."""
    reading = _Reading(path)
    header: tuple[str, ...] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = list(_cells(line))
        if header is None:
            header = _header(cells, number, reading)
            if header is None:
                break
            continue
        reading.row(number, dict(zip(header, cells, strict=False)), len(cells), len(header))
    if header is None and not reading.problems:
        reading.error(1, 1, f"the rate card is empty; it needs the header {','.join(COLUMNS)}")
    return reading.card(), reading.problems


def _cells(line: str) -> Iterator[tuple[int, str]]:
    """The comma-separated cells of a line, each with the column it starts at; double quotes may hold commas."""
    column, start, quoted = 1, 1, False
    cell: list[str] = []
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield start, "".join(cell).strip()
            start, cell = column + 1, []
        else:
            cell.append(char)
        column += 1
    yield start, "".join(cell).strip()


def _header(cells: list[tuple[int, str]], line: int, reading: _Reading) -> tuple[str, ...] | None:
    names = tuple(name.lower() for _, name in cells)
    if sorted(names) != sorted(COLUMNS):
        reading.error(line, 1, f"the header must name the columns {','.join(COLUMNS)} (in any order)")
        return None
    return names


@dataclass
class _Reading:
    """The rows read so far and the problems found, keyed so that a repeated rate is caught."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    seen: dict[tuple[str, str, date], int] = field(default_factory=dict)
    prices: dict[tuple[str, str], list[tuple[date, Decimal]]] = field(default_factory=dict)
    currency: tuple[str, int] | None = None
    places: int = MIN_PLACES

    def error(self, line: int, column: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, column, "error", message))

    def row(self, line: int, cells: Mapping[str, tuple[int, str]], found: int, wanted: int) -> None:
        if found != wanted:
            self.error(line, 1, f"expected {wanted} cells ({','.join(COLUMNS)}), found {found}")
            return
        before = len(self.problems)
        code = self._code(line, *cells["country_calling_code"])
        category = self._category(line, *cells["category"])
        price = self._price(line, *cells["price"])
        self._currency(line, *cells["currency"])
        day = self._day(line, *cells["valid_from"])
        if len(self.problems) > before or code is None or category is None or price is None or day is None:
            return
        if (first := self.seen.get((code, category, day))) is not None:
            column = cells["country_calling_code"][0]
            self.error(line, column, f"repeats the rate for {code} {category} from {day} given on line {first}")
            return
        self.seen[(code, category, day)] = line
        self.prices.setdefault((code, category), []).append((day, price))

    def _code(self, line: int, column: int, value: str) -> str | None:
        if value == ANY_COUNTRY:
            return value
        code = value.removeprefix("+")
        if not _CODE.fullmatch(code):
            self.error(line, column, f"country_calling_code {value!r} must be digits such as 44 or 1876, or *")
            return None
        if not _known_prefix(code):
            self.error(line, column, f"country_calling_code {value!r} does not start with a known calling code")
            return None
        return code

    def _category(self, line: int, column: int, value: str) -> str | None:
        if value.lower() not in RATE_CATEGORIES:
            self.error(line, column, f"unknown category {value!r}; expected one of: {', '.join(RATE_CATEGORIES)}")
            return None
        return value.lower()

    def _price(self, line: int, column: int, value: str) -> Decimal | None:
        try:
            price = Decimal(value) if _PRICE.fullmatch(value) else None
        except InvalidOperation:
            price = None
        if price is None:
            self.error(line, column, f"price {value!r} must be a decimal number such as 0.0341 (no sign, no exponent)")
            return None
        self.places = max(self.places, len(value.partition(".")[2]))
        return price

    def _currency(self, line: int, column: int, value: str) -> None:
        if not _CURRENCY.fullmatch(value):
            self.error(line, column, f"currency {value!r} must be a three-letter ISO 4217 code such as EUR")
        elif self.currency is None:
            self.currency = (value, line)
        elif self.currency[0] != value:
            first, at = self.currency
            self.error(line, column, f"currency {value} differs from {first} on line {at}; a card has one currency")

    def _day(self, line: int, column: int, value: str) -> date | None:
        try:
            if _DAY.fullmatch(value):
                return date.fromisoformat(value)
        except ValueError:
            pass
        self.error(line, column, f"valid_from {value!r} must be a date as YYYY-MM-DD")
        return None

    def card(self) -> RateCard | None:
        if self.problems or self.currency is None:
            if not self.problems:
                self.error(1, 1, "the rate card has a header but no rates")
            return None
        rates = {key: tuple(sorted(history)) for key, history in self.prices.items()}
        return RateCard(self.currency[0], rates, self.places)
