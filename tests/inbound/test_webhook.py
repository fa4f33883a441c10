"""The webhook: handshake, signature, parsing errors, durable storage before the 200, redelivery."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import Acknowledger
from bot.settings import Settings
from bot.whatsapp.client import CLIENT, RecordingTransport
from storage.models import (
    CONTACT,
    LIFECYCLE_EVENT,
    MESSAGE,
    NUMBER_STATE,
    OUTBOX,
    STATUS_EVENT,
    TEMPLATE_STATUS,
    WEBHOOK_EVENT,
    WEBHOOK_NOTICE,
)
from tests.conftest import VERIFY_TOKEN, signed, status_webhook, text_webhook

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    # The webhook's suite: one acknowledgement per text, so answers are easy to count.
    app = create_app(settings, transport=RecordingTransport(), migrate=True, handler=Acknowledger())
    return await aiohttp_client(app)


async def count(client: Client, table: Any, *where: Any) -> int:
    async with client.app[keys.REPOSITORY].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_handshake_returns_the_challenge(client: Client) -> None:
    """Meta's GET handshake with the right verify token is answered with the challenge."""
    resp = await client.get(
        "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert resp.status == 200
    assert await resp.text() == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
    ids=["wrong-token", "wrong-mode", "nothing"],
)
async def test_handshake_refused(client: Client, params: dict[str, str]) -> None:
    """A handshake with a wrong token or mode gets 403 and no challenge."""
    resp = await client.get("/webhook", params=params)
    assert resp.status == 403


@pytest.mark.parametrize(
    "header", [None, "sha256=" + "0" * 64, "md5=abc", "sha256="], ids=["missing", "wrong", "scheme", "empty"]
)
async def test_bad_signature_is_refused_and_nothing_stored(client: Client, header: str | None) -> None:
    """A POST whose signature is missing or wrong gets 401 and stores nothing."""
    body, _ = signed(text_webhook())
    headers = {"Content-Type": "application/json"} | ({"X-Hub-Signature-256": header} if header else {})
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert await count(client, WEBHOOK_EVENT) == 0


async def test_signature_covers_the_exact_bytes(client: Client) -> None:
    """Non-ASCII text signed as received is accepted; the same JSON re-serialised differently is not."""
    raw = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        b'{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},"contacts":[{"profile":{"name":"Jos\xc3\xa9"},'
        b'"wa_id":"31600000001"}],"messages":[{"from":"31600000001","id":"wamid.nonascii","timestamp":"1700000000",'
        b'"type":"text","text":{"body":"ol\xc3\xa1 \xf0\x9f\x91\x8b"}}]}}]}]}'
    )
    body, headers = signed(raw)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    escaped = raw.decode().encode("ascii", "backslashreplace")
    resp = await client.post("/webhook", data=escaped, headers=headers)
    assert resp.status == 401


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"{not json", "not JSON"), (b"[1, 2]", "object"), (b'{"entry": "x"}', "entry")],
    ids=["syntax", "array", "entry-type"],
)
async def test_malformed_body_gets_400_with_reason(client: Client, body: bytes, fragment: str) -> None:
    """A signed body that is not a Meta envelope gets 400 with a precise message and stores nothing."""
    data, headers = signed(body)
    resp = await client.post("/webhook", data=data, headers=headers)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "malformed_payload"
    assert fragment in error["message"]
    assert await count(client, WEBHOOK_EVENT) == 0


async def test_text_message_is_stored_before_the_200(client: Client) -> None:
    """When the 200 arrives, the raw body, the message and the contact are already committed."""
    body, headers = signed(text_webhook(wamid="wamid.A1", body="where is my order?"))
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 200
    assert await count(client, WEBHOOK_EVENT) == 1
    assert await count(client, MESSAGE, MESSAGE.c.wamid == "wamid.A1", MESSAGE.c.direction == "in") == 1
    contact = await client.app[keys.REPOSITORY].contact_by_wa_id("31612345678")
    assert contact is not None
    assert contact.name == "Ana"
    assert contact.last_inbound_at is not None


async def test_redelivery_is_stored_once_and_answered_once(client: Client) -> None:
    """The same wamid delivered three times is one message, handled once, with one reply."""
    body, headers = signed(text_webhook(wamid="wamid.DUP"))
    for _ in range(3):
        assert (await client.post("/webhook", data=body, headers=headers)).status == 200

    async def answered() -> bool:
        return await count(client, OUTBOX, OUTBOX.c.status == "sent") >= 1

    await wait_for(answered)
    await asyncio.sleep(0.3)  # give a wrongly repeated turn the chance to show itself
    assert await count(client, WEBHOOK_EVENT) == 3  # every delivery is kept as received
    assert await count(client, MESSAGE, MESSAGE.c.direction == "in") == 1
    assert await count(client, OUTBOX) == 1
    transport = client.app[CLIENT]._transport
    assert isinstance(transport, RecordingTransport)
    assert len(transport.requests) == 1


async def test_batched_payload_with_many_entries_is_stored_whole(client: Client) -> None:
    """One POST with many entries and messages stores every message, for every contact."""
    entries = []
    for n in range(20):
        entry = text_webhook(wa_id=f"3161000{n:04d}", wamid=f"wamid.batch.{n}", body=f"m{n}")["entry"][0]
        entries.append(entry)
    body, headers = signed({"object": "whatsapp_business_account", "entry": entries})
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    assert await count(client, MESSAGE, MESSAGE.c.direction == "in") == 20


async def test_unknown_fields_and_types_are_kept(client: Client) -> None:
    """Future fields and message types are stored, never fatal."""
    payload = text_webhook(wamid="wamid.future")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0] |= {"type": "hologram", "hologram": {"depth": 3}, "brand_new": True}
    payload["entry"][0]["changes"].append({"field": "some_future_field", "value": {"x": 1}})
    body, headers = signed(payload)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    assert await count(client, MESSAGE, MESSAGE.c.type == "hologram") == 1
    assert await count(client, WEBHOOK_NOTICE, WEBHOOK_NOTICE.c.field == "some_future_field") == 1


async def test_user_known_only_by_user_id_is_stored(client: Client) -> None:
    """A username user without a phone number becomes a contact keyed by user_id."""
    payload = text_webhook(wamid="wamid.uid")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Kim", "username": "kim"}, "user_id": "US.13491208655302741918"}]
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = "US.13491208655302741918"
    body, headers = signed(payload)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    assert await count(client, MESSAGE, MESSAGE.c.wamid == "wamid.uid") == 1


async def test_database_failure_answers_503_and_keeps_nothing_half_stored(client: Client) -> None:
    """When the database refuses the write the webhook answers 503 (Meta retries) and stores no part of it."""
    engine = client.app[keys.REPOSITORY].engine
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE message RENAME TO message_away"))
    body, headers = signed(text_webhook(wamid="wamid.retry"))
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "storage_unavailable"
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE message_away RENAME TO message"))
    assert await count(client, WEBHOOK_EVENT) == 0
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    assert await count(client, MESSAGE, MESSAGE.c.wamid == "wamid.retry") == 1


async def test_status_updates_move_forward_only(client: Client) -> None:
    """read before delivered ends as read with both times; duplicates and stale statuses change nothing."""
    body, headers = signed(text_webhook(wamid="wamid.in.1"))
    await client.post("/webhook", data=body, headers=headers)

    async def sent() -> bool:
        return await count(client, MESSAGE, MESSAGE.c.direction == "out") == 1

    await wait_for(sent)
    repo = client.app[keys.REPOSITORY]
    out = (await repo.list_messages(wa_id=None, direction="out", limit=1, before=None))[0]
    pricing = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    for status, extra in [("read", {}), ("sent", {"pricing": pricing}), ("delivered", {}), ("delivered", {})]:
        body, headers = signed(status_webhook(out["wamid"], status, **extra))
        assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    message = await repo.message_by_wamid(out["wamid"])
    assert message is not None
    assert message.status == "read"
    assert message.read_at is not None
    assert message.delivered_at is not None
    assert message.sent_at is not None
    assert message.pricing == pricing


async def test_failed_status_records_the_error(client: Client) -> None:
    """A failed status stores Meta's error on the message and is final."""
    body, headers = signed(text_webhook(wamid="wamid.in.2"))
    await client.post("/webhook", data=body, headers=headers)

    async def sent() -> bool:
        return await count(client, MESSAGE, MESSAGE.c.direction == "out") == 1

    await wait_for(sent)
    repo = client.app[keys.REPOSITORY]
    out = (await repo.list_messages(wa_id=None, direction="out", limit=1, before=None))[0]
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    for status, extra in [("failed", {"errors": errors}), ("delivered", {})]:
        body, headers = signed(status_webhook(out["wamid"], status, **extra))
        await client.post("/webhook", data=body, headers=headers)
    message = await repo.message_by_wamid(out["wamid"])
    assert message is not None
    assert message.status == "failed"
    assert message.error == {"errors": errors}


async def test_a_full_three_megabyte_batch_is_accepted(client: Client) -> None:
    """Meta's largest delivery (1,000 updates, about 3 MB) is stored whole; the body limit sits above it."""
    entries = [
        text_webhook(wa_id=f"3163{n:07d}", wamid=f"wamid.big.{n}", body="x" * 2900)["entry"][0] for n in range(1000)
    ]
    body, headers = signed({"object": "whatsapp_business_account", "entry": entries})
    assert len(body) > 3_000_000
    assert (await client.post("/webhook", data=io.BytesIO(body), headers=headers)).status == 200
    assert await count(client, MESSAGE, MESSAGE.c.direction == "in") == 1000


async def test_an_oversized_body_is_refused_with_413(client: Client) -> None:
    """A body over the limit (well above Meta's 3 MB) is refused before it is read whole."""
    body, headers = signed(b"{" + b" " * (9 * 1024 * 1024) + b"}")
    resp = await client.post("/webhook", data=io.BytesIO(body), headers=headers)
    assert resp.status == 413
    assert await count(client, WEBHOOK_EVENT) == 0


def _every_sample() -> list[Any]:
    from tests.whatsapp.test_webhook_parser import OPENAPI_EXAMPLES, PAYLOADS

    files = [pytest.param(p.read_bytes(), id=p.stem) for p in sorted(PAYLOADS.glob("*.json"))]
    meta = [pytest.param(json.dumps(doc).encode(), id=f"openapi:{name}") for name, doc in OPENAPI_EXAMPLES.items()]
    return files + meta


async def _state(client: Client) -> dict[str, Any]:
    """Everything a delivery can change, but the raw log of deliveries itself."""
    tables = {"message": MESSAGE, "status_event": STATUS_EVENT, "notice": WEBHOOK_NOTICE, "contact": CONTACT,
              "lifecycle": LIFECYCLE_EVENT, "template": TEMPLATE_STATUS, "number": NUMBER_STATE}  # fmt: skip
    state: dict[str, Any] = {}
    async with client.app[keys.REPOSITORY].engine.connect() as conn:
        for name, table in tables.items():
            columns = [c for c in table.c if c.name not in ("id", "received_at", "updated_at", "handled_at")]
            state[name] = sorted(map(repr, (await conn.execute(select(*columns))).all()))
    return state


@pytest.mark.parametrize("payload", _every_sample())
async def test_every_payload_kind_is_stored_and_a_redelivery_changes_nothing(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]], payload: bytes
) -> None:
    """Each sample payload (ours and Meta's OpenAPI examples) is stored; delivered again, it changes nothing."""
    app = create_app(settings, transport=RecordingTransport(), migrate=True, roles={"web"})  # no turns meanwhile
    client = await aiohttp_client(app)
    body, headers = signed(payload)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    first = await _state(client)
    assert any(first.values())
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    assert await _state(client) == first
    assert await count(client, WEBHOOK_EVENT) == 2


# --- one bad entry among good ones ---------------------------------------------------------------------


def _no_value(entry: dict[str, Any]) -> None:
    del entry["changes"][0]["value"]


def _no_sender(entry: dict[str, Any]) -> None:
    value = entry["changes"][0]["value"]
    del value["contacts"], value["messages"][0]["from"]


def _broken_text(entry: dict[str, Any]) -> None:
    entry["changes"][0]["value"]["messages"][0]["text"] = {"body": 5}


def _status_with_bad_timestamp(entry: dict[str, Any]) -> None:
    entry["changes"][:] = status_webhook("wamid.sent.earlier", "delivered", timestamp="yesterday")["entry"][0][
        "changes"
    ]


BAD_ENTRIES = {
    "change-without-value": (_no_value, "entry[1].changes[0]: missing 'value'"),
    "message-without-from": (
        _no_sender,
        "entry[1].changes[0].value.messages[0]: has neither 'from' nor 'from_user_id', and no single contact to take"
        " them from",
    ),
    "text-with-broken-body": (
        _broken_text, "entry[1].changes[0].value.messages[0]: 'text.body' must be a string, got int"
    ),
    "status-with-bad-timestamp": (
        _status_with_bad_timestamp,
        "entry[1].changes[0].value.statuses[0]: 'timestamp' must be Unix seconds, got 'yesterday'",
    ),
    "entry-without-changes": (lambda entry: entry.clear(), "entry[1]: missing 'changes'"),
}  # fmt: skip
GOOD = ("31611110001", "31611110003")
SECRET_WORDS = "my new address is 5 Elm Street"


@pytest.mark.parametrize("case", BAD_ENTRIES)
async def test_a_bad_entry_among_good_ones_is_a_notice_and_the_good_ones_are_answered(
    client: Client, case: str
) -> None:
    """Three entries, the middle one malformed: 200, the others stored and answered, it a notice; again nothing new."""
    edit, reason = BAD_ENTRIES[case]
    entries = [
        text_webhook(wa_id=wa_id, wamid=f"wamid.{case}.{n}", body=SECRET_WORDS)["entry"][0]
        for n, wa_id in enumerate((GOOD[0], "31611110002", GOOD[1]))
    ]
    edit(entries[1])
    body, headers = signed({"object": "whatsapp_business_account", "entry": entries})
    with structlog.testing.capture_logs() as logs:
        resp = await client.post("/webhook", data=body, headers=headers)
        assert resp.status == 200
        assert (await resp.json())["unreadable"] == 1

    stored = await count(client, MESSAGE, MESSAGE.c.direction == "in")
    assert {m for m in await _inbound_wamids(client)} >= {f"wamid.{case}.0", f"wamid.{case}.2"}
    assert stored == 2
    async with client.app[keys.REPOSITORY].engine.connect() as conn:
        notices = (await conn.execute(select(WEBHOOK_NOTICE.c.kind, WEBHOOK_NOTICE.c.reason))).all()
    assert [tuple(n) for n in notices] == [("unparsed", reason)]
    [line] = [e for e in logs if e["event"] == "webhook.unreadable"]
    assert line["paths"] == [reason.split(":")[0]]
    assert SECRET_WORDS not in repr(logs)

    async def answered() -> bool:
        return await count(client, OUTBOX, OUTBOX.c.status == "sent") == 2

    await wait_for(answered)
    transport = client.app[CLIENT]._transport
    assert isinstance(transport, RecordingTransport)
    assert sorted(r.json["to"] for r in transport.requests) == sorted(GOOD)

    first = await _state(client)
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 200
    await asyncio.sleep(0.3)  # give a wrongly repeated turn the chance to show itself
    assert await _state(client) == first
    assert await count(client, WEBHOOK_EVENT) == 2
    assert await count(client, OUTBOX) == 2
    assert len(transport.requests) == 2


async def _inbound_wamids(client: Client) -> list[str]:
    async with client.app[keys.REPOSITORY].engine.connect() as conn:
        return list((await conn.execute(select(MESSAGE.c.wamid).where(MESSAGE.c.direction == "in"))).scalars())


async def test_a_body_of_only_bad_entries_is_stored_as_notices_and_answered_200(client: Client) -> None:
    """A signed envelope whose every entry is unreadable is still a 200: Meta would retry a 400 for days."""
    body, headers = signed({"object": "whatsapp_business_account", "entry": [7, {"changes": "x"}]})
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["unreadable"] == 2
    assert await count(client, WEBHOOK_NOTICE, WEBHOOK_NOTICE.c.kind == "unparsed") == 2
    assert await count(client, WEBHOOK_EVENT) == 1
