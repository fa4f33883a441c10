"""`/api/contacts`: one contact or a CSV import with consent, then each contact with its tags and consent ledger."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.inbound.dispatcher import DISPATCHER
from bot.settings import Settings
from tests.api.test_app import ClientFactory, assert_error, get_json, post_webhook, start_app
from tests.conftest import FakeClock, text_webhook

Client = TestClient[web.Request, web.Application]
CSV = {"Content-Type": "text/csv"}


async def app_client(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    return client


async def test_one_contact_with_consent_and_its_ledger(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A JSON contact is created (201) with its zone from the number; its opt-in shows as state and history."""
    client = await app_client(aiohttp_client, settings, clock)
    body = {
        "wa_id": "+31 6 1234 5678", "name": "Ana", "language": "nl", "tags": ["vip"],
        "consent": {"marketing": "opt_in", "evidence": "checkout checkbox, order 10482"},
    }  # fmt: skip
    resp = await client.post("/api/contacts", json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    contact = await resp.json()
    assert (contact["wa_id"], contact["time_zone"], contact["time_zone_source"]) == (
        "31612345678", "Europe/Amsterdam", "number"
    )  # fmt: skip
    assert contact["tags"] == ["vip"]
    marketing = contact["consent"]["marketing"]
    assert marketing["state"] == "opt_in"
    [entry] = marketing["history"]
    assert (entry["action"], entry["source"]) == ("opt_in", "api")
    assert entry["evidence"] == {"evidence": "checkout checkbox, order 10482"}
    assert "id" not in contact


async def test_posting_again_adds_tags_and_keeps_one_ledger_entry(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """An update (200) adds tags and keeps stored fields; the same consent statement is not appended twice."""
    client = await app_client(aiohttp_client, settings, clock)
    body: dict[str, Any] = {"wa_id": "31612345678", "name": "Ana", "tags": ["vip"]}
    body["consent"] = {"marketing": "opt_in", "evidence": "form", "at": "2026-05-01T10:00:00+00:00"}
    assert (await client.post("/api/contacts", json=body, headers=auth)).status == 201
    again = await client.post("/api/contacts", json={**body, "name": None, "tags": ["spring"]}, headers=auth)
    assert again.status == 200
    contact = await again.json()
    assert contact["name"] == "Ana"
    assert contact["tags"] == ["vip", "spring"]
    assert len(contact["consent"]["marketing"]["history"]) == 1


async def test_a_keyword_opt_out_shows_in_the_contacts_history(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A customer who wrote STOP appears opted out, with the keyword entry after the imported opt-in."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})  # the round below is the only one
    body = {"wa_id": "31612345678", "consent": {"marketing": "opt_in", "evidence": "in store"}}
    await client.post("/api/contacts", json=body, headers=auth)
    await post_webhook(client, text_webhook("31612345678", "STOP", wamid="wamid.stop.1", timestamp=clock.now))
    await client.server.app[DISPATCHER].run_once()
    contact = await get_json(client, "/api/contacts/31612345678", auth)
    assert contact["consent"]["marketing"]["state"] == "opt_out"
    assert [(e["action"], e["source"]) for e in contact["consent"]["marketing"]["history"]] == [
        ("opt_in", "api"), ("opt_out", "keyword")
    ]  # fmt: skip


async def test_a_csv_import_reports_rejected_rows_by_line(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Good rows are stored, with consent; each bad row comes back with its line and reason; re-import adds nothing."""
    client = await app_client(aiohttp_client, settings, clock)
    text = (
        "wa_id,name,tags,marketing,consent_evidence\n"
        "+31612345678,Ana,vip,yes,newsletter signup 2026-03-02\n"
        "+61412345678,Ben,,,\n"
        "not a number,Carl,,,\n"
        "+351912345678,Dora,,opt_in,\n"
    )
    resp = await client.post("/api/contacts", data=text.encode(), headers={**auth, **CSV})
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["created"], report["updated"], report["consent_recorded"]) == (2, 0, 1)
    assert report["time_zone_from_business_default"] == 1  # the Australian mobile spans several zones
    assert [(r["line"], r["reason"].split(";")[0]) for r in report["rejected"]] == [
        (4, "'not a number' is not a valid phone number"),
        (5, "an opt_in needs consent_evidence: where and how the customer agreed"),
    ]
    again = await (await client.post("/api/contacts", data=text.encode(), headers={**auth, **CSV})).json()
    assert (again["created"], again["updated"], again["consent_recorded"]) == (0, 2, 0)
    listed = await get_json(client, "/api/contacts", auth, tag="vip")
    assert [(c["wa_id"], c["marketing"]) for c in listed["items"]] == [("31612345678", "opt_in")]
    found = await get_json(client, "/api/contacts", auth, q="ben")
    assert [(c["name"], c["marketing"]) for c in found["items"]] == [("Ben", "none")]


async def test_a_bad_csv_file_is_refused_whole_and_stores_nothing(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """An unknown column or a file that is not UTF-8 is a 400 that says so; no contact is created."""
    client = await app_client(aiohttp_client, settings, clock)
    resp = await client.post("/api/contacts", data=b"wa_id,emial\n+31612345678,a@b.c\n", headers={**auth, **CSV})
    assert resp.status == 400
    assert "unknown column(s) emial" in assert_error(await resp.json(), "invalid_request")
    resp = await client.post(
        "/api/contacts", data="wa_id,name\n+31612345678,Zoë\n".encode("latin-1"), headers={**auth, **CSV}
    )
    assert resp.status == 400
    assert "not UTF-8" in assert_error(await resp.json(), "invalid_request")
    assert (await get_json(client, "/api/contacts", auth))["items"] == []


async def test_a_bad_region_or_contact_is_a_clear_400(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A region that is not a country, or a number that is not one, is refused naming what is wrong."""
    client = await app_client(aiohttp_client, settings, clock)
    resp = await client.post("/api/contacts?region=XX", json={"wa_id": "0612345678"}, headers=auth)
    assert "region 'XX' is not a two-letter country code" in assert_error(await resp.json(), "invalid_request")
    resp = await client.post("/api/contacts", json={"wa_id": "0612345678"}, headers=auth)
    assert resp.status == 400
    message = assert_error(await resp.json(), "invalid_request")
    assert message.endswith("(a national number needs a region)")
    resp = await client.post("/api/contacts?region=nl", json={"wa_id": "0612345678"}, headers=auth)
    assert resp.status == 201


async def test_a_csv_file_sent_in_pieces_is_imported_whole(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A 5,000-row file arriving over a real socket in small chunked pieces is read to its end, every row stored."""
    client = await app_client(aiohttp_client, settings, clock)
    lines = ["wa_id,name,tags"] + [f"3161{i:07d},Customer {i},bulk" for i in range(5000)]
    data = ("\n".join(lines) + "\n").encode()

    async def pieces() -> Any:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]
            await asyncio.sleep(0)

    resp = await client.post("/api/contacts", data=pieces(), headers={**auth, **CSV})
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["created"], report["rejected"]) == (5000, [])


async def test_a_contact_with_several_bad_fields_gets_every_one_in_one_answer(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A body checked against the contact model answers 400 listing each wrong field; the first is the message."""
    client = await app_client(aiohttp_client, settings, clock)
    body = {"wa_id": 31612345678, "name": 5, "tags": ["vip", 3], "consent": {"marketing": "maybe"}, "colour": "red"}
    resp = await client.post("/api/contacts", json=body, headers=auth)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == "invalid_request"
    named = [f["field"] for f in error["fields"]]
    assert named == ["wa_id", "name", "tags[1]", "consent.marketing", "colour"]
    assert all(f["message"] for f in error["fields"])
    assert error["message"] == f"wa_id: {error['fields'][0]['message']}"
    assert (await get_json(client, "/api/contacts", auth))["items"] == []
