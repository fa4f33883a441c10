"""`/dashboard/contacts.csv`: the contacts (all, or a search's) as a CSV file the import reads back, streamed.

The columns are the import's (`bot.api.contact_input.COLUMNS` less `phone`), so a file exported, edited in a
spreadsheet and imported again changes what was edited and nothing else; the consent columns hold each
contact's latest marketing entry. Rows are read and written a page at a time, so memory stays flat however
many contacts there are. A cell a spreadsheet would run as a formula (one starting with = + - @, a tab or a
carriage return) is prefixed with ' (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Final

from aiohttp import web

from bot import keys
from bot.api.contact_input import COLUMNS
from bot.api.request import query_text
from storage import consent
from storage.contacts import find_contacts
from storage.models import ConsentEventBase, ContactBase

routes = web.RouteTableDef()
PAGE = 1000
HEADER: Final = tuple(column for column in COLUMNS if column != "phone")
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A value as a cell no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def row(contact: ContactBase, entry: ConsentEventBase | None) -> list[str]:
    """One contact as the import's columns; its latest consent entry, if any, as the consent columns."""
    evidence = (entry.evidence or {}).get("evidence") if entry else None
    consent_columns = (
        [entry.action, evidence if isinstance(evidence, str) and evidence else f"recorded by {entry.source}",
         entry.created_at.isoformat()]
        if entry else ["", "", ""]
    )  # fmt: skip
    fields = [contact.wa_id, contact.name, contact.language, contact.time_zone, ";".join(contact.tags or [])]
    return [cell(value) for value in [*fields, *consent_columns]]


def lines(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


@routes.get("/contacts.csv")
async def export(request: web.Request) -> web.StreamResponse:
    """Every contact the search finds (`?q=`, `?tag=`, as on the contacts page), newest first, as CSV."""
    text, tag = (query_text(request, name) or "" for name in ("q", "tag"))
    stamp = request.config_dict[keys.CLOCK]().strftime("%Y%m%d-%H%M")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="contacts-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    await response.write(lines([list(HEADER)]))
    before: int | None = None
    engine = request.config_dict[keys.REPOSITORY].engine
    while True:
        async with engine.connect() as conn:
            found = await find_contacts(
                conn, text=text.strip() or None, tag=tag.strip() or None, limit=PAGE, before=before
            )
            latest = await consent.latest(conn, [c.id for c in found if c.id is not None])
        await response.write(lines(row(c, latest.get(c.id or 0)) for c in found))
        if len(found) < PAGE:
            break
        before = found[-1].id
    await response.write_eof()
    return response
