"""The dashboard's contact import over real sockets: a preview storing nothing, then the API's import with progress."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot import keys
from storage.models import CONTACT
from tests.dashboard.test_app import client, csrf_of, logged_in, noon

Client = TestClient[web.Request, web.Application]
__all__ = ["client", "logged_in", "noon"]
ROWS = 20_000


async def contact_count(client: Client) -> int:
    async with client.server.app[keys.REPOSITORY].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CONTACT))).scalar_one())


async def upload(client: Client, text: str | bytes, region: str = "") -> aiohttp.ClientResponse:
    """The upload form as a browser sends it: multipart, with the file and this session's CSRF token."""
    data = aiohttp.FormData()
    data.add_field("csrf", await csrf_of(client, "/dashboard/contacts/import"))
    data.add_field("region", region)
    body = text if isinstance(text, bytes) else text.encode()
    data.add_field("file", body, filename="contacts.csv", content_type="text/csv")
    return await client.post("/dashboard/contacts/import", data=data, allow_redirects=False)


async def test_an_import_of_20000_rows_stores_every_one(logged_in: Client) -> None:
    """20,000 good rows and a bad one: a preview storing nothing, then all 20,000 stored, and the bad one reported."""
    lines = [f"+3161{n:07d},Customer {n},nl,bulk" for n in range(ROWS)]
    lines.insert(1234, "12ab,Nobody,nl,bulk")
    resp = await upload(logged_in, "wa_id,name,language,tags\n" + "\n".join(lines) + "\n")
    assert resp.status == 303, await resp.text()
    page_url = resp.headers["Location"]
    page = await (await logged_in.get(page_url)).text()
    assert f"{ROWS + 1} rows in the file" in page
    assert page.count("<tr><td>") == 20  # the first rows, as they will be stored
    assert await contact_count(logged_in) == 0

    csrf = await csrf_of(logged_in, page_url)
    resp = await logged_in.post(page_url, data={"csrf": csrf}, allow_redirects=False)
    assert resp.headers["Location"] == page_url
    for _ in range(600):
        page = await (await logged_in.get(page_url)).text()
        if "Importing…" not in page:
            break
        assert '<meta http-equiv="refresh" content="1">' in page
        assert re.search(r'id="import-progress">\d+ of 20001 rows<', page)
        await asyncio.sleep(0.1)
    assert f'id="import-report">{ROWS + 1} rows read: {ROWS} new, 0 updated, 1 refused;' in page, page
    assert "<td>1236</td><td>12ab</td>" in page  # the bad row's line, the header being line 1
    assert await contact_count(logged_in) == ROWS


async def test_a_file_that_cannot_be_read_is_refused_whole(logged_in: Client) -> None:
    """Not UTF-8, no number column, or a bad region: a 400 page saying why, and nothing kept or stored."""
    cases: tuple[tuple[str | bytes, str, str], ...] = (
        (b"wa_id\n\xff\n", "", "The CSV file is not UTF-8 text: byte 6 (line 2) is 0xff"),
        ("name\nAna\n", "", "Line 1: a wa_id or phone column is required. Nothing was imported."),
        ("wa_id\n0612345678\n", "XX", "Region &#39;XX&#39; is not a two-letter country code"),
    )
    for text, region, why in cases:
        resp = await upload(logged_in, text, region)
        assert resp.status == 400
        assert why in await resp.text()
    resp = await upload(logged_in, "wa_id\n0612345678\n", "nl")
    page = await (await logged_in.get(resp.headers["Location"])).text()
    assert "<td>31612345678</td>" in page  # a national number read with the region given
    assert await contact_count(logged_in) == 0


async def test_an_upload_without_a_file_is_asked_for_one(logged_in: Client) -> None:
    """A form whose file is missing, or sent as a plain text field, is a 400 page asking for a file."""
    fields = {"csrf": await csrf_of(logged_in, "/dashboard/contacts/import"), "file": "wa_id\n31612345678\n"}
    resp = await logged_in.post("/dashboard/contacts/import", data=fields, allow_redirects=False)
    assert resp.status == 400
    assert "Choose a CSV file to import." in await resp.text()
    resp = await logged_in.get("/dashboard/contacts/import/no-such-import")
    assert resp.status == 404
    assert "this import is not known here" in (await resp.text()).lower()
