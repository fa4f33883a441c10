"""Contacts as a business hands them over: one JSON object, or a CSV file with consent columns, read and checked.

Pure: no I/O. A file is first checked whole (`decode_csv`: UTF-8 text, at most `MAX_ROWS` rows), then each
row becomes a `ContactInput` or a `Rejected` with its line and the reason, so an import stores every good
row and reports every bad one. Numbers are read with `phonenumbers`; a contact's time
zone is the one given, else the one its number's prefix has, else the business's (a prefix spanning
several zones, such as +1, is ambiguous).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ValidationError
from bot.field import in_range
from bot.whatsapp.phone import read_phone

LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
TAG = re.compile(r"[\w][\w .:/-]{0,47}")
MAX_TAGS = 50
MAX_NAME = 256
MAX_EVIDENCE = 500
CONSENT_VALUES = {"opt_in": "opt_in", "yes": "opt_in", "true": "opt_in", "opt_out": "opt_out", "no": "opt_out"}
COLUMNS = ("wa_id", "phone", "name", "language", "time_zone", "tags", "marketing", "consent_evidence", "consent_at")
MAX_ROWS = 500_000  # the seen-numbers map and the report stay within a few tens of MB
LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")  # what a file opened with newline="" calls a line


@dataclass(frozen=True)
class ConsentInput:
    """A consent the business holds evidence of: `opt_in` or `opt_out`, what shows it, and when it was given."""

    action: str
    evidence: str | None
    at: datetime | None


@dataclass(frozen=True)
class ContactInput:
    """One contact to create or update; None leaves a stored value as it is."""

    wa_id: str
    name: str | None
    language: str | None
    time_zone: str
    zone_source: str  # given | number | business_default
    tags: tuple[str, ...]
    consent: ConsentInput | None
    line: int | None = None  # the CSV line it came from


@dataclass(frozen=True)
class Rejected:
    """A row that was not imported: its line in the file and why."""

    line: int
    reason: str
    wa_id: str | None = None


def read_contact(data: Mapping[str, Any], *, default_zone: str, region: str | None = None) -> ContactInput:
    """One contact from a JSON object; the first problem is a `ValidationError` naming the field."""
    unknown = sorted(set(data) - {"wa_id", "phone", "name", "language", "time_zone", "tags", "consent"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(COLUMNS[:6])}, consent")
    tags = data.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ValidationError("tags must be a list of strings")
    consent = data.get("consent")
    fields = {k: data.get(k) for k in ("wa_id", "phone", "name", "language", "time_zone")}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{key} must be a string")
    marketing = evidence = at = None
    if consent is not None:
        if not isinstance(consent, dict) or set(consent) - {"marketing", "evidence", "at"}:
            raise ValidationError('consent must be an object like {"marketing": "opt_in", "evidence": "…", "at": "…"}')
        marketing, evidence, at = consent.get("marketing"), consent.get("evidence"), consent.get("at")
        if not all(v is None or isinstance(v, str) for v in (marketing, evidence, at)):
            raise ValidationError("consent.marketing, consent.evidence and consent.at must be strings")
    row = {**fields, "tags": ";".join(tags or []), "marketing": marketing, "consent_evidence": evidence}
    return _contact({**row, "consent_at": at}, default_zone=default_zone, region=region, tags_given=tags is not None)


def decode_csv(data: bytes | bytearray) -> str:
    """The file as text, checked whole before any row is read: UTF-8 (a BOM is dropped), no NUL, not too many rows.

    Each refusal is a `ValidationError` saying where: the byte offset and line of the first bad byte.
    """
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = start + exc.start
        line = data.count(b"\n", 0, at) + 1
        raise ValidationError(
            f"the CSV file is not UTF-8 text: byte {at:,} (line {line}) is 0x{data[at]:02x}; save it as CSV UTF-8"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ValidationError(f"the CSV file has a NUL character on line {line}; is it a text file?")
    # Line breaks bound the rows from above; only a file near the limit is counted exactly (quoted breaks).
    if text.count("\n") + text.count("\r") >= MAX_ROWS and count_rows(text) > MAX_ROWS:
        raise ValidationError(f"the CSV file has more than {MAX_ROWS:,} rows; split it")
    return text


def lines_of(text: str) -> Iterator[str]:
    """The lines of `text` with their line breaks, one at a time, as a file opened with `newline=""` gives them."""
    return (match.group() for match in LINE.finditer(text))


def count_rows(text: str) -> int:
    """The data rows of a CSV file (blank ones not counted), read as CSV but not checked: fast."""
    reader = csv.reader(lines_of(text))
    next(reader, None)  # the header
    return sum(1 for _ in _records(reader))


def _records(reader: Any) -> Iterator[tuple[int, list[str] | str]]:
    """Each non-blank record: the line it starts on, and its cells or why csv could not read it."""
    line = reader.line_num
    while True:
        try:
            cells: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv's size limit: that row is refused, the next one read
            cells = f"cannot be read as CSV: {exc}"
        start, line = line + 1, reader.line_num
        if isinstance(cells, str) or any(c.strip() for c in cells):
            yield start, cells


def read_csv(
    lines: Iterable[str], *, default_zone: str, region: str | None = None
) -> Iterator[ContactInput | Rejected]:
    """Each data row of a CSV import as a contact or a rejection; a bad header is a `ValidationError`.

    The header names the columns (any order, case-insensitive): `wa_id` or `phone` (required), `name`,
    `language`, `time_zone`, `tags` (separated by `;` or `|`), `marketing` (`opt_in`/`yes`, `opt_out`/`no`,
    or empty), `consent_evidence`, `consent_at` (ISO 8601). A number seen twice is rejected the second time.
    """
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ValidationError("the CSV file is empty; its first line must name the columns") from None
    except csv.Error as exc:
        raise ValidationError(f"line 1: the header cannot be read as CSV: {exc}") from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ValidationError(f"line 1: unknown column(s) {', '.join(unknown)}; expected some of {', '.join(COLUMNS)}")
    if "wa_id" not in header and "phone" not in header:
        raise ValidationError("line 1: a wa_id or phone column is required")
    if len(set(header)) != len(header):
        raise ValidationError("line 1: a column is named twice")
    seen: dict[str, int] = {}
    tags_given = "tags" in header
    for count, (start, cells) in enumerate(_records(reader), start=1):
        if count > MAX_ROWS:
            yield Rejected(start, f"the file has more than {MAX_ROWS:,} rows; split it")
            return
        if isinstance(cells, str):
            yield Rejected(start, cells)
            continue
        if len(cells) != len(header):
            yield Rejected(start, f"has {len(cells)} cells, the header names {len(header)} columns")
            continue
        row = dict(zip(header, (c.strip() or None for c in cells), strict=True))
        try:
            contact = _contact(row, default_zone=default_zone, region=region, tags_given=tags_given, line=start)
        except ValidationError as exc:
            yield Rejected(start, exc.message, row.get("wa_id") or row.get("phone"))
            continue
        if contact.wa_id in seen:
            yield Rejected(start, f"number {contact.wa_id} is already on line {seen[contact.wa_id]}", contact.wa_id)
            continue
        seen[contact.wa_id] = start
        yield contact


def _contact(
    row: Mapping[str, str | None], *, default_zone: str, region: str | None, tags_given: bool, line: int | None = None
) -> ContactInput:
    number = row.get("wa_id") or row.get("phone")
    if not number:
        raise ValidationError("wa_id (or phone) is required")
    phone = read_phone(number, region)
    if phone is None:
        hint = "" if region or not number.strip().startswith("0") else " (a national number needs a region)"
        raise ValidationError(
            f"{number!r} is not a valid phone number; include the country code, like +31612345678{hint}"
        )
    name, language = _name(row.get("name")), _language(row.get("language"))
    zone, source = _zone(row.get("time_zone"), phone.zone, default_zone)
    return ContactInput(
        wa_id=phone.wa_id, name=name, language=language, time_zone=zone, zone_source=source,
        tags=_tags(row.get("tags")) if tags_given else (), consent=_consent(row), line=line,
    )  # fmt: skip


def _name(name: str | None) -> str | None:
    if name is not None and len(name) > MAX_NAME:
        raise ValidationError(f"name is longer than {MAX_NAME} characters")
    return name


def _language(language: str | None) -> str | None:
    if language is not None and not LANGUAGE.fullmatch(language):
        raise ValidationError(f"language {language!r} is not a code such as 'en' or 'pt_BR'")
    return language


@dataclass(frozen=True)
class ContactEdit:
    """A contact's fields as a person set them: None clears a name or language; the tags replace the stored ones."""

    name: str | None
    language: str | None
    time_zone: str
    tags: tuple[str, ...]


def read_edit(fields: Mapping[str, str], *, wa_id: str, default_zone: str) -> tuple[ContactEdit | None, dict[str, str]]:
    """A contact's edited fields checked one by one as an import row's are: the edit, or a message per wrong field.

    An empty time zone is the number's, else the business's, as on import; tags may be separated by commas too.
    """
    given = {key: fields.get(key, "").strip() or None for key in ("name", "language", "time_zone", "tags")}
    phone = read_phone(wa_id, None)
    checks: dict[str, Callable[[], Any]] = {
        "name": lambda: _name(given["name"]),
        "language": lambda: _language(given["language"]),
        "time_zone": lambda: _zone(given["time_zone"], phone.zone if phone else None, default_zone)[0],
        "tags": lambda: _tags((given["tags"] or "").replace(",", ";")),  # a person types commas
    }
    read: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, check in checks.items():
        try:
            read[key] = check()
        except ValidationError as exc:
            problems[key] = exc.message
    return (None, problems) if problems else (ContactEdit(**read), {})


def _zone(given: str | None, from_number: str | None, default: str) -> tuple[str, str]:
    if given is None:
        return (from_number, "number") if from_number else (default, "business_default")
    try:
        ZoneInfo(given)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"time zone {given!r} is unknown; use an IANA name such as Europe/Amsterdam") from None
    return given, "given"


@functools.lru_cache(maxsize=1024)  # a file repeats a few tag lists on many rows
def _tags(text: str | None) -> tuple[str, ...]:
    tags = [t.strip() for t in re.split(r"[;|]", text or "") if t.strip()]
    for tag in tags:
        if not TAG.fullmatch(tag):
            raise ValidationError(f"tag {tag!r} must be 1 to 48 letters, digits, spaces or . : / - _")
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"more than {MAX_TAGS} tags")
    return tuple(dict.fromkeys(tags))


def _consent(row: Mapping[str, str | None]) -> ConsentInput | None:
    value = row.get("marketing")
    if value is None:
        if row.get("consent_evidence") or row.get("consent_at"):
            raise ValidationError("consent_evidence and consent_at need a marketing value (opt_in or opt_out)")
        return None
    action = CONSENT_VALUES.get(value.lower())
    if action is None:
        raise ValidationError(f"marketing {value!r} must be opt_in, opt_out (or yes, no) or empty")
    evidence = row.get("consent_evidence")
    if action == "opt_in" and not evidence:
        raise ValidationError("an opt_in needs consent_evidence: where and how the customer agreed")
    if evidence is not None and len(evidence) > MAX_EVIDENCE:
        raise ValidationError(f"consent_evidence is longer than {MAX_EVIDENCE} characters")
    return ConsentInput(action, evidence, _moment(row.get("consent_at")))


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"consent_at {text!r} is not an ISO 8601 date or time, like 2026-05-01T10:00Z") from None
    return in_range(moment if moment.tzinfo else moment.replace(tzinfo=UTC), "consent_at")
