"""The rate card: reading the CSV with precise problems, looking a rate up by number, category and day."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest

from bot.whatsapp.rate_card import calling_code, example_rate_card, parse_rate_card, read_rate_card

CARD = Path("card.csv")
HEADER = "country_calling_code,category,price,currency,valid_from\n"
GOOD = (
    HEADER
    + "31,utility,0.0500,EUR,2025-07-01\n"
    + "31,utility,0.0600,EUR,2026-01-01\n"
    + "1,marketing,0.0250,EUR,2025-07-01\n"
    + "1876,marketing,0.0700,EUR,2025-07-01\n"
    + "*,marketing,0.0900,EUR,2025-07-01\n"
)


def parsed(text: str) -> list[str]:
    card, problems = parse_rate_card(text, CARD)
    assert (card is None) == bool(problems)
    return [str(p) for p in problems]


def test_reads_a_good_card() -> None:
    """A good card reads without problems, in one currency, with Decimal prices."""
    card, problems = parse_rate_card(GOOD, CARD)
    assert problems == []
    assert card is not None
    assert card.currency == "EUR"
    assert card.price("31612345678", "31", "utility", date(2025, 7, 1)) == Decimal("0.0500")


def test_rate_holds_from_its_valid_from_day() -> None:
    """A rate starts on its valid_from day; the day before, the earlier rate (or none) applies."""
    card, _ = parse_rate_card(GOOD, CARD)
    assert card is not None
    assert card.price("31612345678", "31", "utility", date(2025, 12, 31)) == Decimal("0.0500")
    assert card.price("31612345678", "31", "utility", date(2026, 1, 1)) == Decimal("0.0600")
    assert card.price("31612345678", "31", "utility", date(2025, 6, 30)) is None


def test_longest_prefix_then_any_country() -> None:
    """A market prefix (1876) wins over its calling code (1); a country the card does not name takes `*`."""
    card, _ = parse_rate_card(GOOD, CARD)
    assert card is not None
    day = date(2025, 8, 1)
    assert card.price("18765551234", "1", "marketing", day) == Decimal("0.0700")
    assert card.price("12125551234", "1", "marketing", day) == Decimal("0.0250")
    assert card.price("34612345678", "34", "marketing", day) == Decimal("0.0900")
    assert card.price("34612345678", "34", "utility", day) is None


def test_calling_code_places_numbers_or_not() -> None:
    """phonenumbers gives the calling code; numbers it cannot place, and missing ones, give None."""
    assert calling_code("31612345678") == "31"
    assert calling_code("18765551234") == "1"
    assert calling_code("999123456") is None
    assert calling_code(None) is None
    assert calling_code("abc") is None


def test_calling_code_by_prefix_answers_as_phonenumbers_parses() -> None:
    """The prefix lookup gives phonenumbers' answer for any digits: short, long, leading zeros, unknown codes."""

    def parsed(digits: str) -> str | None:
        try:
            code = phonenumbers.parse("+" + digits).country_code
        except phonenumbers.NumberParseException:
            return None
        return str(code) if phonenumbers.region_code_for_country_code(code) != "ZZ" else None

    draw = random.Random(5)
    samples = ["".join(draw.choice("0123456789") for _ in range(draw.randint(1, 20))) for _ in range(3000)]
    samples += ["1", "12", "123", "312", "3161", "800123", "999123456", "0031612345678", "447911123456"]
    assert [calling_code(s) for s in samples] == [parsed(s) for s in samples]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("31,retail,0.05,EUR,2025-07-01", "card.csv:2:4: error: unknown category 'retail'"),
        ("31,utility,-0.05,EUR,2025-07-01", "card.csv:2:12: error: price '-0.05' must be a decimal number"),
        ("31,utility,1e-2,EUR,2025-07-01", "card.csv:2:12: error: price '1e-2'"),
        ("31,utility,0.05,EUR,2025-02-30", "card.csv:2:21: error: valid_from '2025-02-30' must be a date"),
        ("31,utility,0.05,EUR,1/7/2025", "card.csv:2:21: error: valid_from '1/7/2025'"),
        ("31,utility,0.05,euro,2025-07-01", "card.csv:2:17: error: currency 'euro'"),
        ("999,utility,0.05,EUR,2025-07-01", "card.csv:2:1: error: country_calling_code '999' does not start"),
        ("3a,utility,0.05,EUR,2025-07-01", "card.csv:2:1: error: country_calling_code '3a' must be digits"),
        ("31,utility,0.05,EUR", "card.csv:2:1: error: expected 5 cells"),
    ],
)
def test_bad_row_names_line_and_column(row: str, problem: str) -> None:
    """Each kind of bad cell is reported at its line and column, and the card is refused."""
    problems = parsed(HEADER + row + "\n")
    assert len(problems) == 1
    assert problems[0].startswith(problem), problems


def test_duplicate_rate_is_refused_with_both_lines() -> None:
    """The same country, category and valid_from twice is an error pointing at the repeat and naming the first."""
    problems = parsed(GOOD + "# a comment\n\n31,utility,0.0700,EUR,2026-01-01\n")
    assert problems == [
        "card.csv:9:1: error: repeats the rate for 31 utility from 2026-01-01 given on line 3",
    ]


def test_one_currency_per_card() -> None:
    """A second currency is refused at its cell."""
    problems = parsed(GOOD + "44,utility,0.03,USD,2025-07-01\n")
    assert problems == ["card.csv:7:17: error: currency USD differs from EUR on line 2; a card has one currency"]


def test_header_is_required() -> None:
    """A file without the header, or with no rows at all, is refused."""
    assert parsed("31,utility,0.05,EUR,2025-07-01\n")[0].startswith("card.csv:1:1: error: the header must name")
    assert parsed("# nothing\n")[0].startswith("card.csv:1:1: error: the rate card is empty")
    assert parsed(HEADER)[0] == "card.csv:1:1: error: the rate card has a header but no rates"


def test_quoted_cells_and_any_column_order() -> None:
    """Columns may come in any order, and cells may be quoted."""
    card, problems = parse_rate_card(
        'valid_from,currency,price,category,country_calling_code\n"2025-07-01",EUR,"0.1",marketing,+44\n', CARD
    )
    assert problems == []
    assert card is not None
    assert card.price("447700900123", "44", "marketing", date(2025, 7, 1)) == Decimal("0.1")


def test_money_keeps_at_least_four_decimals() -> None:
    """Amounts show four decimals, or more when the card's prices have more."""
    card, _ = parse_rate_card(HEADER + "31,utility,0.000125,EUR,2025-07-01\n", CARD)
    assert card is not None
    assert card.money(Decimal("0.000125") * 3) == "0.000375"
    wide, _ = parse_rate_card(GOOD, CARD)
    assert wide is not None
    assert wide.money(Decimal("12.34")) == "12.3400"


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    """A missing file is one problem at line 1, not an exception."""
    card, problems = read_rate_card(tmp_path / "missing.csv")
    assert card is None
    assert str(problems[0]).startswith(f"{tmp_path / 'missing.csv'}:1:1: error: cannot read the rate card")


def test_example_card_reads_and_says_it_is_an_example() -> None:
    """The shipped example card is valid and says in plain words that its figures are examples, not Meta's."""
    path = example_rate_card()
    card, problems = read_rate_card(path)
    assert problems == []
    assert card is not None
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert "EXAMPLE FIGURES" in first
    assert "NOT Meta's prices" in first
