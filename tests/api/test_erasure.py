"""`POST /api/contacts/{wa_id}/erase`: number, name and texts gone from every table; consent kept under a pseudonym."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import SQLModel

from bot import keys
from bot.inbound.dispatcher import DISPATCHER
from bot.privacy.erasure import pseudonym
from bot.settings import Settings
from storage.consent import history
from storage.conversation import open_conversations, record_outbound
from storage.models import CONTACT, OUTBOX, STATUS_EVENT, WEBHOOK_NOTICE
from storage.outbox import NewMessage
from storage.repository import Repository
from tests.api.test_app import ClientFactory, assert_error, get_json, post_webhook, start_app
from tests.conftest import SECRET_KEY, FakeClock, envelope, status_webhook, text_webhook
from tests.dashboard.test_app import conversation_row, sent_row

Client = TestClient[web.Request, web.Application]
ANA, BEN = "31612345678", "61412345678"
ANA_NAME, ANA_TEXT = "Anabela Quist", "deliver to Zwanenburgwal 7"
SECRETS = (ANA, ANA_NAME, "Zwanenburgwal", "Quist")


def two_customers_in_one_body(now: Any) -> dict[str, Any]:
    """One webhook POST carrying a message from each customer, as Meta may batch them."""
    ts = str(int(now.timestamp()))
    messages = [
        {"from": ANA, "id": "wamid.both.ana", "timestamp": ts, "type": "text", "text": {"body": ANA_TEXT}},
        {"from": BEN, "id": "wamid.both.ben", "timestamp": ts, "type": "text", "text": {"body": "Ben says hi"}},
    ]
    contacts = [{"profile": {"name": ANA_NAME}, "wa_id": ANA}, {"profile": {"name": "Ben"}, "wa_id": BEN}]
    return envelope({"contacts": contacts, "messages": messages})


async def customers(client: Client, auth: dict[str, str], clock: FakeClock) -> Repository:
    """Ana opts in by API, writes (alone and batched with Ben), says STOP, gets a reply recorded and two queued."""
    body = {"wa_id": ANA, "name": ANA_NAME, "tags": ["vip"], "consent": {"marketing": "opt_in", "evidence": "form"}}
    assert (await client.post("/api/contacts", json=body, headers=auth)).status == 201
    await post_webhook(client, text_webhook(ANA, ANA_TEXT, wamid="wamid.ana.1", name=ANA_NAME, timestamp=clock.now))
    await post_webhook(client, two_customers_in_one_body(clock.now))
    await post_webhook(client, text_webhook(ANA, "STOP", wamid="wamid.ana.stop", name=ANA_NAME, timestamp=clock.now))
    app = client.server.app
    await app[DISPATCHER].run_once()  # acknowledgements queued; no sender runs in these suites
    repository: Repository = app[keys.REPOSITORY]
    ana = await repository.contact_by_wa_id(ANA)
    assert ana is not None
    assert ana.id is not None
    async with repository.transaction() as conn:
        [service] = await open_conversations(conn, [conversation_row(ana.id, "service", clock.now)])
        said = {"type": "text", "text": {"body": f"Hello {ANA_NAME}, we ship to Zwanenburgwal 7 today."}}
        await record_outbound(conn, [sent_row("wamid.out.ana", ana.id, service, clock.now, "service", said)])
    await post_webhook(client, status_webhook("wamid.out.ana", "delivered", recipient=ANA))
    later = NewMessage(
        "utility", ana.id, ANA, {"type": "text", "text": {"body": ANA_TEXT}}, clock.now + timedelta(days=1)
    )
    await repository.enqueue([later], clock.now)
    return repository


async def every_row(repository: Repository) -> str:
    """Every row of every table, as text: what a search of the whole database would find."""
    found = []
    async with repository.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            found += [f"{table.name}: {dict(row._mapping)}" for row in await conn.execute(select(table))]
    return "\n".join(found)


async def test_erasing_removes_the_number_name_and_texts_everywhere_and_keeps_consent(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """After an erasure no API answer and no table holds the number, name or words; the ledger stays, pseudonymous."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    repository = await customers(client, auth, clock)
    assert ANA_TEXT in await every_row(repository)

    resp = await client.post(f"/api/contacts/{ANA}/erase", headers=auth)
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert report["erased"] is True
    assert report["already_erased"] is False
    assert report["pseudonym"] == pseudonym(SECRET_KEY, ANA)
    assert report["cancelled"] >= 2  # the queued utility message and the acknowledgements
    assert report["kept"] == {"consent_events": 2, "conversations": 1}
    assert report["blanked"]["webhook_bodies"] >= 4

    assert_error(await (await client.get(f"/api/contacts/{ANA}", headers=auth)).json(), "not_found")
    answers = [
        await get_json(client, "/api/contacts", auth),
        await get_json(client, "/api/messages", auth),
        await get_json(client, "/api/conversations", auth),
    ]
    shown = json.dumps(answers)
    assert not [s for s in SECRETS if s in shown]
    assert "Ben says hi" in shown

    everything = await every_row(repository)
    assert not [s for s in SECRETS if s in everything]
    assert "Ben says hi" in everything  # the batched body kept Ben's message

    async with repository.engine.connect() as conn:
        [tomb] = (await conn.execute(select(CONTACT).where(CONTACT.c.pseudonym == report["pseudonym"]))).all()
        ledger = await history(conn, tomb.id)
        rows = (await conn.execute(select(OUTBOX).where(OUTBOX.c.contact_id == tomb.id))).all()
        [status] = (await conn.execute(select(STATUS_EVENT))).all()
    assert (tomb.wa_id, tomb.name, tomb.user_id, tomb.tags, tomb.calling_code) == (None, None, None, None, "31")
    assert [(e.action, e.source) for e in ledger] == [("opt_in", "api"), ("opt_out", "keyword")]
    assert ledger[1].evidence is not None
    assert ledger[1].evidence["said"] == "STOP"
    assert all(e.dedupe_key and e.dedupe_key.startswith("erased:") for e in ledger)
    assert {r.status for r in rows} == {"cancelled"}
    assert {r.last_error["code"] for r in rows} == {"erased"}
    assert all(r.payload == {} and r.recipient == report["pseudonym"] for r in rows)
    assert status.payload["recipient_id"] == report["pseudonym"]  # the status is kept for its pricing


async def test_a_second_erasure_answers_the_same_pseudonym_and_changes_nothing(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Erasing an erased number again is 200 with already_erased, the same pseudonym, and nothing cancelled."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await customers(client, auth, clock)
    first = await (await client.post(f"/api/contacts/{ANA}/erase", headers=auth)).json()
    again = await client.post(f"/api/contacts/{ANA}/erase", headers=auth)
    assert again.status == 200
    second = await again.json()
    assert second["already_erased"] is True
    assert second["pseudonym"] == first["pseudonym"]
    assert (second["cancelled"], second["deleted"], second["blanked"]) == (0, {}, {})


async def test_an_unknown_number_is_404_and_a_malformed_one_400(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A number never known is not found; text that is no number is refused and says why."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    resp = await client.post("/api/contacts/31600000000/erase", headers=auth)
    assert resp.status == 404
    assert "31600000000" in assert_error(await resp.json(), "not_found")
    resp = await client.post("/api/contacts/ana/erase", headers=auth)
    assert resp.status == 400
    assert "not a WhatsApp number" in assert_error(await resp.json(), "invalid_request")


async def test_an_erased_customer_who_writes_again_starts_fresh(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A new message from the number makes a new contact with no consent; the same opt-in is recorded anew."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await customers(client, auth, clock)
    assert (await client.post(f"/api/contacts/{ANA}/erase", headers=auth)).status == 200
    await post_webhook(client, text_webhook(ANA, "hello again", wamid="wamid.ana.2", name="A.", timestamp=clock.now))
    contact = await get_json(client, f"/api/contacts/{ANA}", auth)
    assert (contact["name"], contact["tags"], contact["consent"]["marketing"]) == (
        "A.", [], {"state": "none", "history": []}
    )  # fmt: skip
    body = {"wa_id": ANA, "consent": {"marketing": "opt_in", "evidence": "form"}}
    again = await (await client.post("/api/contacts", json=body, headers=auth)).json()
    assert again["consent"]["marketing"]["state"] == "opt_in"


async def test_erasing_while_a_message_is_being_sent_is_409_and_erases_nothing(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A send in flight would record its text after the erasure: the request is refused until it is settled."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    repository = await customers(client, auth, clock)
    await repository.claim_due(owner="sender-1", now=clock.now, lease=timedelta(seconds=60), limit=1)
    resp = await client.post(f"/api/contacts/{ANA}/erase", headers=auth)
    assert resp.status == 409
    assert "being sent" in assert_error(await resp.json(), "conflict")
    assert (await get_json(client, f"/api/contacts/{ANA}", auth))["name"] == ANA_NAME


async def test_an_unreadable_message_of_the_customer_is_found_by_erasure(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A message of theirs kept as a notice (its text broken) is theirs: erasure takes their number out of it."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await post_webhook(client, text_webhook(ANA, "hello", wamid="wamid.ana.ok", name=ANA_NAME, timestamp=clock.now))
    broken = text_webhook(ANA, "x", wamid="wamid.ana.broken", name=ANA_NAME, timestamp=clock.now)
    broken["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = {"body": 7}
    await post_webhook(client, broken)
    repository: Repository = client.server.app[keys.REPOSITORY]
    async with repository.engine.connect() as conn:
        [notice] = (await conn.execute(select(WEBHOOK_NOTICE).where(WEBHOOK_NOTICE.c.kind == "unparsed"))).all()
    assert (notice.wa_id, notice.payload["from"]) == (ANA, ANA)

    resp = await client.post(f"/api/contacts/{ANA}/erase", headers=auth)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["blanked"]["notices"] == 1
    async with repository.engine.connect() as conn:
        [notice] = (await conn.execute(select(WEBHOOK_NOTICE).where(WEBHOOK_NOTICE.c.kind == "unparsed"))).all()
    assert notice.wa_id is None
    assert ANA not in json.dumps(notice.payload)
    assert ANA not in await every_row(repository)
