"""Reading contacts from JSON and CSV: numbers, zones from the number, tags, consent columns, rejected rows by line."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from bot.api.contact_input import ContactInput, Rejected, read_contact, read_csv
from bot.errors import ValidationError
from bot.whatsapp.phone import read_phone

ZONE = "Europe/Lisbon"


def rows(text: str, region: str | None = None) -> list[ContactInput | Rejected]:
    return list(read_csv(io.StringIO(text, newline=""), default_zone=ZONE, region=region))


@pytest.mark.parametrize(
    ("text", "region", "wa_id"),
    [
        ("+31 6 1234 5678", None, "31612345678"), ("0031612345678", None, "31612345678"),
        ("31612345678", None, "31612345678"), ("06 12345678", "NL", "31612345678"),
        ("(11) 91234-5678", "BR", "5511912345678"),
    ],
)  # fmt: skip
def test_numbers_in_the_forms_people_write_them(text: str, region: str | None, wa_id: str) -> None:
    """International, 00-prefixed, bare wa_id digits, and national numbers with a region all become the wa_id."""
    phone = read_phone(text, region)
    assert phone is not None
    assert phone.wa_id == wa_id


@pytest.mark.parametrize("text", ["12345", "06 12345678", "+31 6 1234 5678 ext. 12", "hello", "+999123456789"])
def test_what_is_not_a_number(text: str) -> None:
    """Too short, national without a region, with an extension, words, an unassigned country code."""
    assert read_phone(text) is None


def test_the_time_zone_comes_from_the_number_unless_it_spans_several() -> None:
    """A Dutch or San Francisco number has one zone; an Australian mobile spans several, so the business's is used."""
    dutch = read_contact({"wa_id": "+31612345678"}, default_zone=ZONE)
    assert (dutch.time_zone, dutch.zone_source) == ("Europe/Amsterdam", "number")
    san_francisco = read_contact({"wa_id": "+1 415 555 2671"}, default_zone=ZONE)
    assert (san_francisco.time_zone, san_francisco.zone_source) == ("America/Los_Angeles", "number")
    australian = read_contact({"wa_id": "+61 412 345 678"}, default_zone=ZONE)
    assert (australian.time_zone, australian.zone_source) == (ZONE, "business_default")
    given = read_contact({"wa_id": "+61 412 345 678", "time_zone": "Australia/Perth"}, default_zone=ZONE)
    assert (given.time_zone, given.zone_source) == ("Australia/Perth", "given")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "wa_id (or phone) is required"),
        ({"wa_id": "123"}, "'123' is not a valid phone number"),
        ({"wa_id": "+31612345678", "language": "english"}, "language 'english' is not a code"),
        ({"wa_id": "+31612345678", "time_zone": "Mars/Olympus"}, "time zone 'Mars/Olympus' is unknown"),
        ({"wa_id": "+31612345678", "tags": "vip"}, "tags must be a list of strings"),
        ({"wa_id": "+31612345678", "colour": "red"}, "unknown field(s) colour"),
        ({"wa_id": "+31612345678", "consent": {"marketing": "opt_in"}}, "an opt_in needs consent_evidence"),
        ({"wa_id": "+31612345678", "consent": {"marketing": "maybe"}}, "marketing 'maybe' must be opt_in"),
    ],
)
def test_a_bad_json_contact_names_its_field(data: dict[str, object], message: str) -> None:
    """Each refusal says which field is wrong and what would be right."""
    with pytest.raises(ValidationError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        read_contact(data, default_zone=ZONE)


def test_a_csv_import_keeps_good_rows_and_reports_each_bad_one_by_line() -> None:
    """Good rows come through in order; a bad number, a bad consent value, a short row and a duplicate are refused."""
    text = (
        "Phone,name,tags,marketing,consent_evidence,consent_at\n"
        "+31612345678,Ana,vip;newsletter,opt_in,web form,2026-05-01T10:00:00Z\n"
        "12345,Bob,,,,\n"
        '+351912345678,"Carla, the florist",,maybe,,\n'
        "+5511912345678,Dani\n"
        "\n"
        "0031612345678,Ana again,,,,\n"
        "+491701234567,Eva,,opt_out,,\n"
    )
    found = rows(text)
    good = [r for r in found if isinstance(r, ContactInput)]
    bad = [r for r in found if isinstance(r, Rejected)]
    assert [(c.wa_id, c.name, c.line) for c in good] == [("31612345678", "Ana", 2), ("491701234567", "Eva", 8)]
    assert good[0].tags == ("vip", "newsletter")
    assert good[0].consent is not None
    assert (good[0].consent.action, good[0].consent.evidence) == ("opt_in", "web form")
    assert good[0].consent.at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert good[1].consent is not None
    assert good[1].consent.action == "opt_out"
    assert [(r.line, r.reason.split(";")[0]) for r in bad] == [
        (3, "'12345' is not a valid phone number"),
        (4, "marketing 'maybe' must be opt_in, opt_out (or yes, no) or empty"),
        (5, "has 2 cells, the header names 6 columns"),
        (7, "number 31612345678 is already on line 2"),
    ]


def test_a_quoted_cell_across_lines_keeps_the_line_numbers_right() -> None:
    """A name with a line break inside quotes is one row; the next row's line is the file's real line."""
    found = rows('wa_id,name\n+31612345678,"Ana\nSilva"\nnope,Bob\n')
    assert isinstance(found[0], ContactInput)
    assert found[0].name == "Ana\nSilva"
    assert isinstance(found[1], Rejected)
    assert found[1].line == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the CSV file is empty"),
        ("name,email\nAna,a@b.c\n", "line 1: unknown column(s) email"),
        ("name,language\nAna,en\n", "line 1: a wa_id or phone column is required"),
        ("wa_id,wa_id\n1,1\n", "line 1: a column is named twice"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(text: str, message: str) -> None:
    """A file whose columns cannot be read is refused before any row is stored, saying why."""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rows(text)


def test_national_numbers_read_with_the_region() -> None:
    """With region=NL a Dutch national number imports; without it the refusal says a region is needed."""
    [with_region] = rows("phone\n06 12345678\n", region="NL")
    assert isinstance(with_region, ContactInput)
    assert with_region.wa_id == "31612345678"
    [without] = rows("phone\n06 12345678\n")
    assert isinstance(without, Rejected)
    assert without.reason.endswith("(a national number needs a region)")
