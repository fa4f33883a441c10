"""`/api/contacts`: add contacts one at a time or by CSV import (with consent), find them, and show one in full.

A CSV import is read whole first (streamed, at most `MAX_IMPORT_BYTES`, each piece within the read
timeout) and checked as text; only then are its rows stored, a chunk at a time, each chunk its own
transaction, so a large file never holds the database's write lock for long. A body cut off or stalled
stores nothing. Every row is an idempotent upsert and its consent entry is keyed by what it says, so
sending the same file again (say, after a failure half-way) changes nothing that was already stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
import structlog
from aiohttp import web

from bot import keys
from bot.api.contact_input import ContactInput, Rejected, decode_csv, lines_of, read_contact, read_csv
from bot.api.contact_model import ContactCreate
from bot.api.model import validated
from bot.api.request import json_body, json_response, paging, query_text, read_body, valid_wa_id
from bot.errors import NotFound, ValidationError
from bot.inbound.consent_keywords import record_consent
from storage import consent
from storage.consent import ConsentChange
from storage.contacts import ContactValues, find_contacts, upsert_contacts
from storage.models import ContactBase
from storage.repository import Repository

log = structlog.get_logger("bot.api.contacts")
IMPORT_CHUNK = 1000
MAX_IMPORT_BYTES = 32 * 1024 * 1024  # about 400,000 rows; above the app's client_max_size, which this route skips
INSIDE = frozenset({"id", "erased_at", "pseudonym", "calling_code"})


@dataclass
class ImportReport:
    """What an import did, row by row where a row was refused."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    consent_recorded: int = 0
    zone_from_business: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def done(self) -> int:
        """Rows settled so far: stored (a chunk at a time) or rejected."""
        return self.created + self.updated + len(self.rejected)

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "created": self.created, "updated": self.updated,
            "consent_recorded": self.consent_recorded,
            "time_zone_from_business_default": self.zone_from_business,
            "rejected": [{"line": r.line, "wa_id": r.wa_id, "reason": r.reason} for r in self.rejected],
        }  # fmt: skip


async def store_contacts(app: keys.Config, inputs: Sequence[ContactInput], source: str, report: ImportReport) -> None:
    """Upsert one chunk and append its consent entries, in one transaction."""
    now = app[keys.CLOCK]()
    values = [ContactValues(c.wa_id, c.name, c.language, c.time_zone, c.tags) for c in inputs]
    async with app[keys.REPOSITORY].transaction() as conn:
        stored = await upsert_contacts(conn, values, now)
        changes = [_change(c, stored[c.wa_id].contact_id, source, now) for c in inputs if c.consent]
        recorded = await record_consent(app[keys.REPOSITORY].consent_guard, conn, changes, now)
    report.created += sum(s.created for s in stored.values())
    report.updated += sum(not s.created for s in stored.values())
    report.consent_recorded += recorded.appended
    report.zone_from_business += sum(c.zone_source == "business_default" for c in inputs)


def _change(contact: ContactInput, contact_id: int, source: str, now: datetime) -> ConsentChange:
    assert contact.consent is not None
    given = contact.consent
    evidence: dict[str, Any] = {"evidence": given.evidence}
    if contact.line is not None:
        evidence["line"] = contact.line
    # The same statement of consent (number, choice, evidence, time) is one ledger entry however often sent.
    said = "\x1f".join([contact.wa_id, given.action, given.evidence or "", given.at.isoformat() if given.at else ""])
    key = f"{source}:{hashlib.sha256(said.encode()).hexdigest()[:40]}"
    return ConsentChange(contact_id, given.action, source, evidence, given.at or now, dedupe_key=key)


async def add_contacts(request: web.Request) -> web.Response:
    """`POST /api/contacts`: one contact as JSON, or many as `text/csv` (`?region=NL` for national numbers)."""
    settings = request.config_dict[keys.SETTINGS]
    region = region_code(request.query.get("region"))
    report = ImportReport()
    if request.content_type in ("text/csv", "application/csv"):
        await _import(request, region, report)
        log.info(
            "contacts.imported",
            rows=report.rows, created=report.created, updated=report.updated, rejected=len(report.rejected),
        )  # fmt: skip
        return json_response(report.as_json())
    given = validated(ContactCreate, await json_body(request)).model_dump(exclude_none=True)
    contact = read_contact(given, default_zone=settings.business_timezone, region=region)
    await store_contacts(request.config_dict, [contact], "api", report)
    detail = await contact_detail(request.config_dict, contact.wa_id)
    return json_response({**detail, "time_zone_source": contact.zone_source}, 201 if report.created else 200)


async def _import(request: web.Request, region: str | None, report: ImportReport) -> None:
    """Read the whole file and check it as text, then store its rows a chunk per transaction."""
    settings = request.config_dict[keys.SETTINGS]
    text = decode_csv(await read_body(request, limit=MAX_IMPORT_BYTES, stall=settings.body_read_timeout))
    await import_csv(request.config_dict, text, region, report)


async def import_csv(app: keys.Config, text: str, region: str | None, report: ImportReport) -> None:
    """Store a checked file's rows a chunk per transaction, counting each in `report` as it goes.

    The one import path: the API calls it with the body it read, the dashboard with the file it previewed.
    """
    default_zone = app[keys.SETTINGS].business_timezone
    chunk: list[ContactInput] = []
    for item in read_csv(lines_of(text), default_zone=default_zone, region=region):
        report.rows += 1
        if isinstance(item, Rejected):
            report.rejected.append(item)
            continue
        chunk.append(item)
        if len(chunk) >= IMPORT_CHUNK:
            await store_contacts(app, chunk, "import", report)
            chunk = []
    if chunk:
        await store_contacts(app, chunk, "import", report)


def region_code(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"region {value!r} is not a two-letter country code such as NL or BR")
    return value.upper()


async def list_contacts(request: web.Request) -> web.Response:
    """`GET /api/contacts?q=&tag=`: contacts newest first, by part of name or number and by tag."""
    limit, before = paging(request)
    text, tag = query_text(request, "q"), query_text(request, "tag")
    found, states = await contacts_with_consent(request.config_dict[keys.REPOSITORY], text, tag, limit, before)
    items = [{**_public(c.model_dump()), "marketing": states.get(c.id or 0, "none")} for c in found]
    return json_response({"items": items, "next_before": found[-1].id if len(found) == limit else None})


async def contacts_with_consent(
    repository: Repository, text: str | None, tag: str | None, limit: int, before: int | None
) -> tuple[list[ContactBase], dict[int, str]]:
    """Contacts newest first by part of name or number and by tag, with each one's marketing consent state."""
    async with repository.engine.connect() as conn:
        found = await find_contacts(conn, text=text, tag=tag, limit=limit, before=before)
        return found, await consent.states(conn, [c.id for c in found if c.id is not None])


async def get_contact(request: web.Request) -> web.Response:
    """`GET /api/contacts/{wa_id}`: the contact, its tags, and its consent state with the whole ledger."""
    return json_response(await contact_detail(request.config_dict, valid_wa_id(request.match_info["wa_id"])))


async def contact_detail(app: keys.Config, wa_id: str) -> dict[str, Any]:
    """The contact as the API shows it, with its consent state and the whole ledger, oldest first."""
    contact = await app[keys.REPOSITORY].contact_by_wa_id(wa_id)
    if contact is None or contact.id is None:
        raise NotFound(f"no contact with wa_id {wa_id}")
    async with app[keys.REPOSITORY].engine.connect() as conn:
        history = await consent.history(conn, contact.id)
    entries = [e.model_dump(exclude={"contact_id", "dedupe_key", "purpose"}) for e in history]
    state = history[-1].action if history else "none"
    return {**_public(contact.model_dump()), "consent": {"marketing": {"state": state, "history": entries}}}


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """A contact as the API shows it: the wa_id is its key; the row id and the erasure columns stay inside."""
    return {**{k: v for k, v in data.items() if k not in INSIDE}, "tags": data.get("tags") or []}


routes = (
    web.post("/contacts", add_contacts),
    web.get("/contacts", list_contacts),
    web.get("/contacts/{wa_id}", get_contact),
)
