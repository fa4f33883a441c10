"""`POST /api/notifications` with batches at production size, over a real socket: item by item, queued once."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot import keys
from bot.api.notifications import MAX_BATCH
from bot.app import create_app
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.models import CONTACT, OUTBOX
from storage.repository import Repository
from tests.api.test_app import assert_error, conforms
from tests.conftest import FakeClock

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
PAYMENT = {"customer_name": "Aisha", "amount": "€84.90", "invoice_number": "INV-1", "payment_date": "12 April 2026"}
KNOWN = "31612345678"  # a contact the business added, who opted out of marketing


@pytest.fixture
async def api(
    aiohttp_server: ServerFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> AsyncIterator[tuple[str, aiohttp.ClientSession, Repository]]:
    """The real app (web role only: nothing is sent) on a real port, a client session with the admin token."""
    app = create_app(settings, clock=clock, transport=RecordingTransport(), migrate=True, roles={"web"})
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession(headers=auth) as session:
        yield str(server.make_url("/api")), session, app[keys.REPOSITORY]


async def post(session: aiohttp.ClientSession, base: str, body: Any) -> tuple[int, Any]:
    async with session.post(f"{base}/notifications", json=body) as response:
        return response.status, await response.json()


async def outbox_keys(repository: Repository) -> Counter[str]:
    """How many outbox rows each idempotency key has."""
    async with repository.engine.connect() as conn:
        return Counter(str(k) for k in (await conn.execute(select(OUTBOX.c.idempotency_key))).scalars())


def payment(index: int, **changes: Any) -> dict[str, Any]:
    item = {
        "wa_id": f"4470{index:07d}",
        "template": "payment_received",
        "parameters": {**PAYMENT, "invoice_number": f"INV-{index}"},
        "idempotency_key": f"pay-{index}",
    }
    return {**item, **changes}


# What each kind of bad item is answered with: the item, and words its error message must hold.
BAD: list[tuple[Any, str]] = [
    (payment(0, wa_id="+44 7000"), "wa_id"),
    (payment(0, wa_id=None), "wa_id is required"),
    (payment(0, template="no_such_template"), "utility templates are"),
    (payment(0, template="promotion_code"), "not utility"),
    (payment(0, parameters={"customer_name": "Aisha"}), "parameters lack amount"),
    (payment(0, parameters={**PAYMENT, "amount": "84\n90"}), "without newlines"),
    (payment(0, parameters={**PAYMENT, "amount": True}), "parameter 'amount'"),
    (payment(0, send_at="tomorrow"), "send_at"),
    (payment(0, urgent="yes"), "urgent"),
    ("not an object", "JSON object"),
]


def batch() -> tuple[list[Any], dict[int, str]]:
    """1,000 items: every tenth one bad (in each of the ways of `BAD`), the rest good; and the bad ones' words."""
    items: list[Any] = []
    bad: dict[int, str] = {}
    for index in range(MAX_BATCH):
        if index % 10 == 3:
            item, words = BAD[index // 10 % len(BAD)]
            items.append(item)
            bad[index] = words
        else:
            items.append(payment(index, wa_id=KNOWN) if index == 0 else payment(index))
    return items, bad


async def test_a_full_batch_is_answered_item_by_item_and_queues_each_good_item_once(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """1,000 items with 100 bad ones: each bad one gets its own 400-style error, each good one is queued once.

    Numbers never seen before become contacts (as for a single notification); a contact who opted out of
    marketing still gets utility messages, which need no marketing consent. The answer is the one the
    OpenAPI document describes.
    """
    base, session, repository = api
    contact = {"wa_id": KNOWN, "consent": {"marketing": "opt_out", "evidence": "asked at the till"}}
    async with session.post(f"{base}/contacts", json=contact) as response:
        assert response.status == 201, await response.text()
    items, bad = batch()

    status, answer = await post(session, base, {"items": items})

    assert status == 200
    assert [item["index"] for item in answer["items"]] == list(range(MAX_BATCH))
    for index, item in enumerate(answer["items"]):
        if index in bad:
            assert item["status"] == "error", item
            assert bad[index] in assert_error({"error": item["error"]}, "invalid_request"), item
        else:
            assert item["status"] == "queued", item
            assert item["notification"]["key"] == f"notification:pay-{index}"
            assert item["notification"]["template"] == "payment_received"
    async with session.get(f"{base}/openapi.json") as response:
        document = await response.json()
    schema = document["paths"]["/api/notifications"]["post"]["responses"]["200"]["content"]["application/json"]
    assert conforms(answer, schema["schema"], document) == []
    queued = await outbox_keys(repository)
    assert queued == Counter({f"notification:pay-{i}": 1 for i in range(MAX_BATCH) if i not in bad})
    async with repository.engine.connect() as conn:
        numbers = set((await conn.execute(select(CONTACT.c.wa_id))).scalars())
    assert numbers == {KNOWN} | {items[i]["wa_id"] for i in range(1, MAX_BATCH) if i not in bad}


async def test_the_same_batch_posted_again_queues_nothing_new(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """A batch retried whole answers every good item `duplicate` with the same key, and adds no row."""
    base, session, repository = api
    items, bad = batch()
    first = (await post(session, base, {"items": items}))[1]["items"]
    before = await outbox_keys(repository)

    status, answer = await post(session, base, {"items": items})

    assert status == 200
    assert [i["status"] for i in answer["items"]] == [
        "error" if index in bad else "duplicate" for index in range(MAX_BATCH)
    ]
    assert [i.get("notification", {}).get("key") for i in answer["items"]] == [
        i.get("notification", {}).get("key") for i in first
    ]
    assert await outbox_keys(repository) == before


async def test_repeats_inside_one_batch_are_queued_once(api: tuple[str, aiohttp.ClientSession, Repository]) -> None:
    """Within a batch the first of a key is queued and later ones are duplicates, with or without a caller's key."""
    base, session, repository = api
    keyless = {key: value for key, value in payment(1).items() if key != "idempotency_key"}
    same_key_other_text = payment(2, parameters={**PAYMENT, "invoice_number": "INV-other"})
    items = [keyless, payment(2), keyless, same_key_other_text, payment(2), {**keyless, "language": "en"}]

    status, answer = await post(session, base, {"items": items})

    assert status == 200
    statuses = [i["status"] for i in answer["items"]]
    assert statuses == ["queued", "queued", "duplicate", "duplicate", "duplicate", "queued"]
    keys_ = [i["notification"]["key"] for i in answer["items"]]
    assert keys_[0] == keys_[2] != keys_[5]  # the content's digest: another language is other content
    assert keys_[1] == keys_[3] == keys_[4] == "notification:pay-2"
    assert sorted((await outbox_keys(repository)).values()) == [1, 1, 1]


async def test_two_copies_of_a_batch_posted_at_once_queue_each_item_once(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """A client that retries while its first try still runs: between the two answers each item is queued once."""
    base, session, repository = api
    items = [payment(index) for index in range(200)]

    answers = await asyncio.gather(*(post(session, base, {"items": items}) for _ in range(2)))

    assert [status for status, _ in answers] == [200, 200]
    for index in range(200):
        statuses = sorted(answer["items"][index]["status"] for _, answer in answers)
        assert statuses == ["duplicate", "queued"], index
    assert set((await outbox_keys(repository)).values()) == {1}
    assert len(await outbox_keys(repository)) == 200


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([payment(i) for i in range(MAX_BATCH + 1)], "items must be a list of 1 to 1000"),
        ([], "items must be a list of 1 to 1000"),
        ({"wa_id": "447000000001"}, "items must be a list"),
    ],
)
async def test_a_batch_outside_the_limit_is_refused_whole(
    api: tuple[str, aiohttp.ClientSession, Repository], items: Any, words: str
) -> None:
    """More than 1,000 items, none, or not a list: 400 naming the limit, and nothing is queued."""
    base, session, repository = api

    status, answer = await post(session, base, {"items": items})

    assert status == 400
    assert words in assert_error(answer, "invalid_request")
    assert await outbox_keys(repository) == Counter()


async def test_a_body_beyond_the_size_limit_is_refused_in_the_api_error_shape(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """A body over the service's 8 MiB limit is 413 with the API's error body, never a 500."""
    base, session, _ = api
    long = "x" * 1000
    items = [payment(i, parameters={**PAYMENT, "customer_name": long * 9}) for i in range(MAX_BATCH)]

    body = io.BytesIO(json.dumps({"items": items}).encode())  # streamed, as a client sends a large body
    async with session.post(f"{base}/notifications", data=body, headers={"Content-Type": "application/json"}) as r:
        status, answer = r.status, await r.json()

    assert status == 413
    assert_error(answer, "request_entity_too_large")


async def test_a_notification_with_three_bad_fields_gets_all_three_in_one_answer(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """Alone, a body checked against the item model is a 400 listing each wrong field; in a batch, that item's error."""
    base, session, repository = api
    bad = payment(0, template=7, urgent="yes", send_at="tomorrow")

    status, answer = await post(session, base, bad)

    assert status == 400
    assert [f["field"] for f in answer["error"]["fields"]] == ["template", "send_at", "urgent"]
    assert answer["error"]["message"] == f"template: {answer['error']['fields'][0]['message']}"
    status, answer = await post(session, base, {"items": [bad, payment(1)]})
    assert status == 200
    assert [item["status"] for item in answer["items"]] == ["error", "queued"]
    assert [f["field"] for f in answer["items"][0]["error"]["fields"]] == ["template", "send_at", "urgent"]
    assert await outbox_keys(repository) == Counter({"notification:pay-1": 1})


async def test_an_order_with_three_bad_fields_gets_all_three_in_one_answer(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """An order checked against its model is a 400 listing each wrong field, the first as the message; none stored."""
    base, session, _ = api
    order = {"number": "A-1", "wa_id": KNOWN, "total": True, "currency": "euro", "status": "lost"}

    async with session.post(f"{base}/orders", json=order) as response:
        status, answer = response.status, await response.json()

    assert status == 400
    error = answer["error"]
    assert [f["field"] for f in error["fields"]] == ["status", "total", "currency"]
    assert [f["message"] for f in error["fields"]][1:] == [
        'must be an amount such as "84.90"',
        "must be an ISO 4217 code such as EUR",
    ]
    assert error["message"] == f"status: {error['fields'][0]['message']}"
    async with session.patch(f"{base}/orders/A-1", json={"status": "shipped"}) as response:
        assert response.status == 404  # nothing was stored


INVOICE = {"customer_name": "Aisha", "order_number": "10482", "total": "€84.90"}
PICKUP = {"customer_name": "Aisha", "order_number": "10482", "store_name": "Centrum", "store_address": "Dam 1"}


@pytest.mark.parametrize(
    ("template", "parameters", "header"),
    [
        (
            "order_invoice",
            {**INVOICE, "invoice_url": "https://shop.example.com/invoices/10482.pdf"},
            {"link": "https://shop.example.com/invoices/10482.pdf", "filename": "Invoice 10482.pdf"},
        ),
        (
            "order_invoice",
            {**INVOICE, "invoice_url": "1203447782"},
            {"id": "1203447782", "filename": "Invoice 10482.pdf"},
        ),
        (
            "pickup_ready",
            {**PICKUP, "latitude": "52.3731", "longitude": 4.8922},
            {"latitude": "52.3731", "longitude": "4.8922", "name": "Centrum", "address": "Dam 1"},
        ),
    ],
)
async def test_a_file_or_place_header_is_given_as_a_parameter_and_sent_whole(
    api: tuple[str, aiohttp.ClientSession, Repository], template: str, parameters: dict[str, Any], header: Any
) -> None:
    """A template's document header takes a URL or a media id, a location header its coordinates, as parameters."""
    base, session, repository = api
    status, answer = await post(
        session, base, {"wa_id": "447700900123", "template": template, "parameters": parameters}
    )
    assert status in (200, 201, 202), answer
    async with repository.engine.connect() as conn:
        [payload] = (await conn.execute(select(OUTBOX.c.payload))).scalars()
    [component] = [c for c in payload["template"]["components"] if c["type"] == "header"]
    [parameter] = component["parameters"]
    assert parameter[parameter["type"]] == header


@pytest.mark.parametrize(
    ("template", "parameters", "words"),
    [
        ("order_invoice", {**INVOICE, "invoice_url": "ftp://shop.example.com/i.pdf"}, "http(s) URL or a media id"),
        ("order_invoice", INVOICE, "parameters lack invoice_url"),
        ("pickup_ready", {**PICKUP, "latitude": "north", "longitude": "4.9"}, "latitude must be a number"),
        ("pickup_ready", {**PICKUP, "latitude": "52.1", "longitude": "181"}, "longitude must be a number"),
    ],
)
async def test_a_bad_header_parameter_is_a_clear_400_and_queues_nothing(
    api: tuple[str, aiohttp.ClientSession, Repository], template: str, parameters: dict[str, Any], words: str
) -> None:
    """A header file that is no URL or media id, or a place off the map, is refused naming the field."""
    base, session, repository = api
    status, answer = await post(
        session, base, {"wa_id": "447700900123", "template": template, "parameters": parameters}
    )
    assert status == 400
    assert words in assert_error(answer, "invalid_request")
    assert await outbox_keys(repository) == Counter()


async def test_values_meta_would_refuse_are_refused_item_by_item_before_anything_is_queued(
    api: tuple[str, aiohttp.ClientSession, Repository],
) -> None:
    """A 100,000-character value, a control character: each item gets its reason; the good one is queued.

    (A NUL or half a surrogate pair anywhere in the body refuses the whole request, as for every door.)
    """
    base, session, repository = api
    huge = payment(1, parameters={**PAYMENT, "customer_name": "A" * 100_000})
    bell = payment(2, parameters={**PAYMENT, "customer_name": "Ai\x07sha"})
    status, answer = await post(session, base, {"items": [huge, bell, payment(3)]})
    assert status == 200, answer
    errors = [item["error"]["message"] if item["status"] == "error" else item["status"] for item in answer["items"]]
    assert "body of 'payment_received' is 100" in errors[0], errors[0]
    assert "Meta allows 1024" in errors[0]
    assert "control character" in errors[1], errors[1]
    assert errors[2] == "queued"
    assert await outbox_keys(repository) == Counter({"notification:pay-3": 1})
