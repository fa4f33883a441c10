"""Paging of the admin API's lists (`bot.api.request.paging`): every list walks in pages, each item once, in order.

Schedules, handoffs and appointments are rows, paged newest first by id (`?before=`, `next_before`);
templates are files, paged in name.language order (`?after=`, `next_after`). Each page is checked against
the OpenAPI document too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.settings import Settings
from storage.contacts import ensure_contacts
from storage.session import save_sessions
from tests.api.test_app import ClientFactory, assert_error, conforms, fetch_openapi, response_schema, start_app
from tests.api.test_schedules import BODY as SCHEDULE
from tests.conftest import FakeClock

Client = TestClient[web.Request, web.Application]
ANA = "31612345678"
COUNT = 5


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    started, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    return started


async def walk(
    client: Client, auth: dict[str, str], path: str, cursor: str, limit: int, **params: str
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, page by page, following the answer's cursor; each page conforms to the document."""
    schema, document = response_schema(await fetch_openapi(client), path), await fetch_openapi(client)
    items: list[dict[str, Any]] = []
    query = {**params, "limit": str(limit)}
    pages = 0
    while True:
        resp = await client.get(path, headers=auth, params=query)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert conforms(page, schema, document) == []
        assert len(page["items"]) <= limit
        items += page["items"]
        pages += 1
        assert pages <= 100, "the cursor does not move on"
        following = page[f"next_{cursor}"]
        if following is None:
            return items, pages
        assert len(page["items"]) == limit  # only a full page points on
        query = {**query, cursor: str(following)}


async def assert_bad_paging(client: Client, auth: dict[str, str], path: str, cursor: str, **params: str) -> None:
    """limit=0, limit=1001 and a malformed cursor are each a 400 naming the parameter."""
    for name, value in (("limit", "0"), ("limit", "1001"), ("limit", "ten"), (cursor, "abc")):
        resp = await client.get(path, headers=auth, params={**params, name: value})
        assert resp.status == 400, (name, value, await resp.text())
        assert name in assert_error(await resp.json(), "invalid_request")


async def test_schedules_page_newest_first(client: Client, auth: dict[str, str]) -> None:
    """Five schedules over pages of two: each once, newest first, the last page shorter and without a cursor."""
    ids = []
    for n in range(COUNT):
        resp = await client.post("/api/schedules", json={**SCHEDULE, "name": f"schedule {n}"}, headers=auth)
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    items, pages = await walk(client, auth, "/api/schedules", "before", 2)
    assert [s["id"] for s in items] == sorted(ids, reverse=True)
    assert pages == 3
    assert {"name", "cron", "next_runs", "active"} <= set(items[0])
    await assert_bad_paging(client, auth, "/api/schedules", "before")


async def test_appointments_page_newest_first(client: Client, auth: dict[str, str], clock: FakeClock) -> None:
    """A contact's five appointments over pages of two; another contact's stay out of the walk."""
    ids = []
    for n in range(COUNT + 1):
        who = ANA if n < COUNT else "447700900123"
        starts = (clock.now + timedelta(days=n + 1)).isoformat()
        body = {"wa_id": who, "service": f"visit {n}", "starts_at": starts, "location": "Main St 1"}
        resp = await client.post("/api/appointments", json=body, headers=auth)
        assert resp.status == 201, await resp.text()
        if who == ANA:
            ids.append((await resp.json())["appointment"]["id"])
    items, pages = await walk(client, auth, "/api/appointments", "before", 2, wa_id=ANA)
    assert [a["id"] for a in items] == sorted(ids, reverse=True)
    assert pages == 3
    assert {"service", "starts_at", "location", "status"} <= set(items[0])
    await assert_bad_paging(client, auth, "/api/appointments", "before", wa_id=ANA)


async def test_handoffs_page_newest_contact_first(client: Client, auth: dict[str, str], clock: FakeClock) -> None:
    """Five handed-off contacts (and one that is not) over pages of two, newest contact first."""
    repository = client.app[keys.REPOSITORY]
    numbers = [f"3161234500{n}" for n in range(COUNT + 1)]
    async with repository.transaction() as conn:
        contacts = await ensure_contacts(conn, numbers, clock.now)
        changes = {contacts[n]: {"handed_off": n != numbers[-1]} for n in numbers}
        await save_sessions(conn, changes, clock.now)
    items, pages = await walk(client, auth, "/api/handoffs", "before", 2)
    waiting = sorted(((contacts[n], n) for n in numbers[:-1]), reverse=True)
    assert [(h["contact_id"], h["wa_id"]) for h in items] == waiting
    assert pages == 3
    assert {"name", "since"} <= set(items[0])
    await assert_bad_paging(client, auth, "/api/handoffs", "before")


async def test_templates_page_by_name_and_language(client: Client, auth: dict[str, str]) -> None:
    """The template files in name.language order over pages of two, each once, matching one full page."""
    resp = await client.get("/api/templates", headers=auth, params={"limit": "1000"})
    everything = await resp.json()
    assert everything["next_after"] is None
    assert len(everything["items"]) > 2 * COUNT  # the walk below takes several pages
    items, pages = await walk(client, auth, "/api/templates", "after", 2)
    keys_ = [(t["name"], t["language"]) for t in items]
    assert keys_ == sorted(set(keys_))  # in order, each once
    assert items == everything["items"]
    assert pages == -(-len(items) // 2)
    await assert_bad_paging(client, auth, "/api/templates", "after")
    for cursor in ("order_shipped", "Order.en", "order_shipped.english", ".en"):
        resp = await client.get("/api/templates", headers=auth, params={"after": cursor})
        assert resp.status == 400, cursor
        assert "after" in assert_error(await resp.json(), "invalid_request")


async def test_a_template_cursor_need_not_name_an_existing_template(client: Client, auth: dict[str, str]) -> None:
    """`after` is a place in name order: a template removed since the last page does not break the walk."""
    everything = (await (await client.get("/api/templates", headers=auth)).json())["items"]
    first = everything[0]
    resp = await client.get("/api/templates", headers=auth, params={"after": f"{first['name']}.aa"})
    assert resp.status == 200
    rest = (await resp.json())["items"]
    assert rest == [t for t in everything if (t["name"], t["language"]) > (first["name"], "aa")]
