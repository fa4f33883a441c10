"""The numbers a deployment serves: numbers.yaml read and checked with positions, or the settings' one number."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.numbers.number import Number, NumberBook, configured_numbers, read_numbers
from tests.conftest import PHONE_NUMBER_ID, settings_for

GOOD = """\
numbers:
  - id: "1001"
    display_number: "+31 20 555 0101"
    account_id: "900"
    token_env: WHATSAPP_TOKEN_NL
    throughput: 200
    tier: unlimited
    main_flow: main_nl
  - id: "1002"
    display_number: "+44 20 7946 0000"
"""


def test_a_sound_file_gives_its_numbers_in_order(tmp_path: Path) -> None:
    """Every field is read; unset ones take Meta's defaults (80 messages/s, the first tier)."""
    path = tmp_path / "numbers.yaml"
    path.write_text(GOOD)
    numbers, problems = read_numbers(path)
    assert problems == []
    assert numbers == [
        Number("1001", "+31 20 555 0101", "900", "WHATSAPP_TOKEN_NL", 200, None, "main_nl"),
        Number("1002", "+44 20 7946 0000"),
    ]


def test_each_wrong_value_is_reported_where_it_was_written(tmp_path: Path) -> None:
    """Problems come as path:line:col, one per wrong value, a duplicate id and an unknown key included."""
    path = tmp_path / "numbers.yaml"
    path.write_text(
        "numbers:\n"
        "  - id: 1001\n"  # a number, not a string
        "    display_number: call us\n"
        '  - id: "1002"\n'
        '    display_number: "+1 555 0100"\n'
        "    throughput: 5000\n"
        "    tier: 300\n"
        "    token_env: my-token\n"
        "    colour: red\n"
        '  - id: "1003"\n'
        '    display_number: "+1 555 0101"\n'
        '  - id: "1003"\n'
        '    display_number: "+1 555 0102"\n'
    )
    numbers, problems = read_numbers(path)
    assert numbers is None
    where = [(p.line, p.column, p.message.split(" ")[0]) for p in problems]
    assert where == [
        (2, 9, "id"),
        (3, 21, "display_number"),
        (6, 17, "throughput"),
        (7, 11, "tier"),
        (8, 16, "token_env"),
        (9, 5, "unknown"),
        (12, 9, "id"),
    ]
    assert str(problems[0]).startswith(f"{path}:2:9: error: id must be Meta's phone number id")
    assert problems[-1].message == "id 1003 is also number 2"


def test_no_file_serves_the_settings_number(tmp_path: Path) -> None:
    """Without numbers.yaml, today's settings give the one number, so single-number deployments keep working."""
    settings = settings_for("sqlite+aiosqlite:///unused.db", project_dir=tmp_path, throughput=40, messaging_limit=2000)
    numbers, source = configured_numbers(settings)
    assert source == "settings"
    assert [(n.id, n.throughput, n.tier, n.token_env) for n in numbers] == [(PHONE_NUMBER_ID, 40, 2000, None)]


def test_a_file_with_errors_refuses_to_start(tmp_path: Path) -> None:
    """Like flows with errors: the service does not start on a numbers file `bot check` would refuse."""
    (tmp_path / "numbers.yaml").write_text("numbers: []\n")
    settings = settings_for("sqlite+aiosqlite:///unused.db", project_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"numbers.yaml:1:10: error: 'numbers' must be a list"):
        configured_numbers(settings)


def test_the_book_falls_back_to_the_default_number() -> None:
    """A row naming no number, or one no longer served, belongs to the default number."""
    book = NumberBook(Number("1", "+1 555 0001"))
    book.replace([Number("1", "+1 555 0001"), Number("2", "+1 555 0002", throughput=5)])
    assert book.get("2").throughput == 5
    assert book.get(None).id == book.get("9").id == "1"
    assert book.serves("2")
    assert not book.serves("9")


def test_a_main_flow_must_name_a_flow(tmp_path: Path) -> None:
    """`bot check` passes the flows' names: a number's main_flow that names none is an error at its place."""
    path = tmp_path / "numbers.yaml"
    path.write_text(GOOD)
    numbers, problems = read_numbers(path, flows={"main", "orders"})
    assert numbers is None
    assert [(p.line, p.column) for p in problems] == [(8, 16)]
    assert "main_flow 'main_nl'" in problems[0].message
