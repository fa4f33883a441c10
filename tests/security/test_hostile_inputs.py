"""Hostile input at every door of the admin API and the dashboard: a clear 4xx naming the field, never a 500.

Each case came from an attack run on SQLite and PostgreSQL that answered 500 with a traceback: JSON nested
100,000 deep, NUL and lone surrogates in text, datetimes at the edges of the calendar, cursors past 32 bits
or spelled with digits such as "²", LIKE wildcards in searches, CSV cells the csv module cannot read. Every
request goes over a real socket; every refused request leaves every table as it was.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text
from sqlmodel import SQLModel
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot import keys
from bot.api.contact_input import Rejected, decode_csv, read_csv
from bot.app import create_app
from bot.errors import ValidationError
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.api.test_app import ClientFactory, wait_until
from tests.conftest import ADMIN_TOKEN, FakeClock
from tests.dashboard.test_app import csrf_of, log_in

Client = TestClient[web.Request, web.Application]
WA_ID = "31612345678"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUL, SURROGATE = "a\x00b", "\ud800"
EDGES = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00")
PROMO = {"customer_name": "there", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "30 November"}
PAID = {"customer_name": "Ana", "amount": "€ 10,00", "invoice_number": "I-1", "payment_date": "26 Nov"}
INVOICE = {
    "customer_name": "Tomás", "invoice_number": "INV-2031", "amount": "€120.00", "due_date": "30 April 2026",
    "payment_id": "7f3c9a",
}  # fmt: skip


def _door(
    method: str, path: str, body: dict[str, Any], texts: list[str], moments: dict[str, str] | None = None
) -> tuple[str, str, dict[str, Any], list[str], dict[str, str]]:
    return method, path, body, texts, moments or {}


# (method, path, a valid body, its text fields, its time fields -> the name the error gives)
DOORS = {
    "contact": _door(
        "POST",
        "/api/contacts",
        {
            "wa_id": WA_ID,
            "name": "Ana",
            "language": "en",
            "time_zone": "Europe/Amsterdam",
            "tags": ["vip"],
            "consent": {"marketing": "opt_in", "evidence": "form", "at": "2026-01-01T00:00:00Z"},
        },
        ["name", "language", "time_zone", "tags[0]", "consent.evidence", "consent.marketing"],
        {"consent.at": "consent_at"},
    ),
    "order": _door(
        "POST",
        "/api/orders",
        {
            "number": "A-1",
            "wa_id": WA_ID,
            "name": "Ana",
            "total": "1.00",
            "currency": "EUR",
            "tracking_number": "T1",
            "items": [{"name": "shoe"}],
            "delivery_start": "2027-05-01T10:00:00+02:00",
            "delivery_end": "2027-05-01T12:00:00+02:00",
        },
        ["number", "name", "tracking_number", "currency", "items[0].name"],
        {"delivery_start": "delivery_start", "delivery_end": "delivery_end"},
    ),
    "order change": _door(
        "PATCH",
        "/api/orders/A-1",
        {"status": "shipped", "reason": "late", "tracking_number": "T2"},
        ["reason", "tracking_number", "status"],
        {"delivery_start": "delivery_start"},
    ),
    "appointment": _door(
        "POST",
        "/api/appointments",
        {
            "wa_id": WA_ID,
            "name": "Ana",
            "service": "Haircut",
            "location": "Main St",
            "starts_at": "2027-06-01T10:00:00+02:00",
        },
        ["service", "location", "name"],
        {"starts_at": "starts_at"},
    ),
    "account": _door(
        "PUT",
        f"/api/accounts/{WA_ID}",
        {"balance": "10.00", "currency": "EUR", "account_name": "Main"},
        ["account_name", "name"],
    ),
    "notification": _door(
        "POST",
        "/api/notifications",
        {"wa_id": WA_ID, "template": "payment_received", "parameters": PAID, "idempotency_key": "k-1"},
        ["template", "idempotency_key", "language", "parameters.customer_name"],
        {"send_at": "send_at"},
    ),
    "otp": _door("POST", "/api/otp", {"wa_id": WA_ID, "purpose": "login"}, ["purpose"]),
    "schedule": _door(
        "POST",
        "/api/schedules",
        {
            "name": "invoice reminder",
            "cron": "30 2 * * *",
            "time_zone": "Europe/Amsterdam",
            "template": "payment_link",
            "parameters": INVOICE,
            "wa_ids": [WA_ID],
            "language": "en",
        },
        ["name", "cron", "time_zone", "template", "parameters.customer_name", "wa_ids[0]", "language"],
    ),
    "campaign": _door(
        "POST",
        "/api/campaigns",
        {
            "name": "Spring sale",
            "template": "promotion_code",
            "parameters": PROMO,
            "audience": {"tags": ["spring"]},
            "send_at": "2030-01-01T10:00:00+01:00",
        },
        ["name", "template", "language", "parameters.discount", "audience.tags[0]", "time_zone"],
        {"send_at": "send_at"},
    ),
    "reply": _door("POST", f"/api/conversations/{WA_ID}/reply", {"text": "hello"}, ["text"]),
    "unblock": _door("POST", "/api/templates/payment_received/unblock", {"language": "en"}, ["language"]),
}
PAGED = [
    "/api/contacts", "/api/conversations", "/api/messages", "/api/campaigns", "/api/campaigns/1/recipients",
    "/api/schedules", "/api/handoffs", f"/api/appointments?wa_id={WA_ID}",
]  # fmt: skip


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, clock: FakeClock) -> Client:
    """The real app with no background loops, so nothing but the requests here changes the database."""
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    app = create_app(settings, clock=clock, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


async def row_counts(client: Client) -> dict[str, int]:
    """How many rows every table holds."""
    async with client.server.app[keys.REPOSITORY].engine.connect() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `body` with the field at `path` (`a.b[0].c`) set to `value`."""
    copy: Any = json.loads(json.dumps(body))
    steps = [int(s) if s.isdigit() else s for s in path.replace("[", ".").replace("]", "").split(".")]
    place = copy
    for step in steps[:-1]:
        place = place[step]
    place[steps[-1]] = value
    result: dict[str, Any] = copy
    return result


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def hostile_bodies(door: str) -> Iterator[tuple[str, str | dict[str, Any], str]]:
    """Each hostile body for `door`: what it is, the body, and the words the 400 must hold."""
    _, _, body, texts, moments = DOORS[door]
    for field in texts:
        yield f"NUL in {field}", with_value(body, field, NUL), field
        yield f"lone surrogate in {field}", with_value(body, field, SURROGATE), field
    for field, named in moments.items():
        for edge in EDGES:
            yield f"{edge} in {field}", with_value(body, field, edge), named
    yield "JSON 100,000 deep", "[" * 100_000 + "]" * 100_000, "nested"
    yield "JSON 65 deep", nested(65), "nested"
    yield "NUL in a field name", {**body, "\x00": 1}, "field name"


async def answer(client: Client, method: str, path: str, body: str | dict[str, Any] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    resp = await client.request(method, path, data=data, headers={**AUTH, "Content-Type": "application/json"})
    text = await resp.text()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


async def set_up(client: Client) -> None:
    """A contact (with the order, appointment, account and campaign the other doors act on)."""
    for door in ("contact", "order", "appointment", "account", "campaign"):
        method, path, body, _, _ = DOORS[door]
        status, data = await answer(client, method, path, body)
        assert status in (200, 201), (door, status, data)


@pytest.mark.parametrize("door", list(DOORS))
async def test_every_hostile_value_in_every_field_is_a_400_naming_it(client: Client, door: str) -> None:
    """NUL, lone surrogates, edge datetimes and deep JSON in each field of each door: 400 naming it, nothing stored."""
    await set_up(client)
    before = await row_counts(client)
    method, path, _, _, _ = DOORS[door]
    wrong = []
    for what, body, named in hostile_bodies(door):
        status, data = await answer(client, method, path, body)
        message = data["error"]["message"] if isinstance(data, dict) and "error" in data else data
        if status != 400 or named not in message:
            wrong.append((what, status, message if isinstance(message, str) else data))
    assert wrong == []
    assert await row_counts(client) == before


async def test_a_path_id_or_number_that_cannot_be_stored_is_a_400(client: Client) -> None:
    """Ids past 32 bits or in other digits, and NUL in an order number, are refused before the database sees them."""
    await set_up(client)
    cases = [
        ("PATCH", "/api/appointments/²", {"status": "cancelled"}, "appointment id"),
        ("PATCH", "/api/appointments/2147483648", {"status": "cancelled"}, "appointment id"),
        ("GET", "/api/campaigns/²", None, "campaign id"),
        ("GET", "/api/campaigns/2147483648", None, "campaign id"),
        ("PATCH", "/api/orders/A%00", {"status": "shipped"}, "number"),
    ]
    for method, path, body, named in cases:
        status, data = await answer(client, method, path, body)
        assert (status, named in data["error"]["message"]) == (400, True), (path, data)


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize(
    ("query", "named"),
    [("before=2147483648", "before"), ("before=²", "before"), ("before=-1", "before"), ("limit=²", "limit")],
)
async def test_a_cursor_beyond_32_bits_or_in_other_digits_is_a_400(
    client: Client, path: str, query: str, named: str
) -> None:
    """`before` and `limit` are ASCII whole numbers in range; anything else is a 400 naming which."""
    status, data = await answer(client, "GET", f"{path}{'&' if '?' in path else '?'}{query}")
    assert status == 400, data
    assert named in data["error"]["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [("/api/schedules", "before=" + "9" * 5000), ("/api/schedules", "limit=" + "1" * 5000),
     ("/api/schedules", "before=1e3"), ("/api/schedules", "before=%EF%BC%91"),
     ("/api/templates", "limit=" + "1" * 5000),
     ("/api/templates", "after=" + "a" * 5000 + ".en"), ("/api/templates", "after=a%00.en"),
     ("/api/templates", "after=%ED%A0%80.en"), ("/api/templates", "after=%F0%9F%98%80.en")],
)  # fmt: skip
async def test_a_huge_or_strange_cursor_on_schedules_and_templates_is_a_400_naming_it(
    client: Client, path: str, query: str
) -> None:
    """Cursors thousands of digits long, in other digits, or with NUL or broken UTF-8 are a 400 naming the parameter."""
    status, data = await answer(client, "GET", f"{path}?{query}")
    assert status == 400, (path, query, data)
    assert data["error"]["message"].startswith(query.split("=")[0]), data


async def test_search_text_is_literal_and_refuses_nul(client: Client) -> None:
    """`%` and `_` in `q=` match themselves, not everything; NUL in `q=` or `tag=` is a 400 naming it."""
    await set_up(client)
    found = {q: (await answer(client, "GET", f"/api/contacts?q={q}"))[1]["items"] for q in ("an", "%25", "_", "a_a")}
    assert [len(found[q]) for q in ("an", "%25", "_", "a_a")] == [1, 0, 0, 0]
    for name in ("q", "tag"):
        status, data = await answer(client, "GET", f"/api/contacts?{name}=a%00")
        assert (status, data["error"]["message"].split()[0]) == (400, name)


@pytest.mark.parametrize(
    ("change", "named"), [({"flow": []}, "flow"), ({"language": "x" * 17}, "language"), ({"flow": 7}, "flow")]
)
async def test_a_campaign_flow_that_is_not_a_name_or_a_long_language_is_a_400(
    client: Client, change: dict[str, Any], named: str
) -> None:
    """`flow: []` and a language longer than the column are refused in words, not by the database."""
    before = await row_counts(client)
    status, data = await answer(client, "POST", "/api/campaigns", {**DOORS["campaign"][2], **change})
    assert status == 400, data
    assert data["error"]["message"].startswith(named)
    assert await row_counts(client) == before


def test_a_csv_cell_the_csv_module_cannot_read_is_a_rejected_row_and_nul_refuses_the_file() -> None:
    """A cell over 128 KiB is a rejected row with its line, the rows after it are read; NUL refuses the file."""
    huge = "31612990001," + "x" * (200 * 1024)
    rows = ["wa_id,name", "31612000001,Ana", huge, "31612990003,Li"]
    read = list(read_csv(io.StringIO("\n".join(rows) + "\n", newline=""), default_zone="UTC"))
    assert [(r.line, type(r).__name__) for r in read] == [(2, "ContactInput"), (3, "Rejected"), (4, "ContactInput")]
    assert [r.reason for r in read if isinstance(r, Rejected)] == [
        "cannot be read as CSV: field larger than field limit (131072)"
    ]
    with pytest.raises(ValidationError, match="NUL character on line 3"):
        decode_csv(b"wa_id,name\n31612000001,Ana\n31612990002,A\x00na\n")


async def test_a_csv_import_with_an_unreadable_cell_stores_every_other_row(client: Client) -> None:
    """Over HTTP, a cell over 128 KiB after more than a stored chunk is a rejected row, never a 500."""
    good = [f"3161200{i:04d},Ana {i}" for i in range(1200)]  # more than one stored chunk before the bad row
    body = ("\n".join(["wa_id,name", *good, "31612990001," + "x" * (200 * 1024), "31612990002,Li"]) + "\n").encode()
    resp = await client.post("/api/contacts", data=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["rows"], report["created"]) == (1202, 1201)
    assert [(r["line"], r["reason"].split(":")[0]) for r in report["rejected"]] == [(1202, "cannot be read as CSV")]


async def test_a_csv_import_with_nul_is_refused_whole(client: Client) -> None:
    """NUL anywhere in the file refuses it with its line before anything is stored."""
    before = await row_counts(client)
    good = [f"3161200{i:04d},Ana {i}" for i in range(1200)]
    body = ("\n".join(["wa_id,name", *good, "31612990002,A\x00na"]) + "\n").encode()
    resp = await client.post("/api/contacts", data=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert resp.status == 400
    assert "NUL character on line 1202" in (await resp.json())["error"]["message"]
    assert await row_counts(client) == before


async def test_an_unexpected_error_under_api_is_a_json_500_with_the_request_id(client: Client) -> None:
    """A failure nobody planned for answers the API's JSON shape with the request id, logged once with it."""
    async with client.server.app[keys.REPOSITORY].engine.begin() as conn:
        await conn.execute(text("ALTER TABLE contact RENAME TO contact_gone"))
    with capture_logs(processors=[merge_contextvars]) as logs:
        resp = await client.get("/api/contacts", headers={**AUTH, "X-Request-Id": "req-hostile-1"})
        page = await client.get("/dashboard/contacts")  # not logged in: the guard sends it to the login page
    assert resp.status == 500
    assert await resp.json() == {
        "error": {
            "code": "internal_error",
            "message": "the service failed unexpectedly; quote the request_id when you report it",
        },
        "request_id": "req-hostile-1",
    }
    errors = [entry for entry in logs if entry["event"] == "api.unexpected_error"]
    assert [(e["request_id"], e["log_level"]) for e in errors] == [("req-hostile-1", "error")]
    assert page.status == 200  # the login page


async def test_an_unexpected_error_on_a_dashboard_page_is_an_html_500(client: Client) -> None:
    """The dashboard answers a bug with a page in plain words and the request id, never aiohttp's text 500."""
    assert (await log_in(client)).status == 303
    async with client.server.app[keys.REPOSITORY].engine.begin() as conn:
        await conn.execute(text("ALTER TABLE contact RENAME TO contact_gone"))
    resp = await client.get("/dashboard/contacts", headers={"X-Request-Id": "req-hostile-2"})
    assert resp.status == 500
    assert resp.content_type == "text/html"
    assert "Quote request req-hostile-2 when you report it." in await resp.text()


async def test_a_client_that_hangs_up_is_logged_as_disconnected_not_as_a_500(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A body cut off by the client is one `client.disconnected` line: no 500, no traceback."""
    host, port = client.server.host, client.server.port
    head = (
        f"POST /api/schedules HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    with capture_logs() as logs, caplog.at_level(logging.DEBUG, logger="aiohttp"):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(head.encode() + b'{"name": "half')
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await writer.wait_closed()
        await wait_until(
            lambda: asyncio.sleep(0, [e for e in logs if e["event"] == "client.disconnected"]),
            what="client.disconnected",
        )
    assert [e for e in logs if e["event"] == "http.request"] == []
    assert [e["path"] for e in logs if e["event"] == "client.disconnected"] == ["/api/schedules"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- the dashboard -------------------------------------------------------------------------------------

FORM = {
    "name": "Spring sale", "template": "promotion_code", "language": "en", "value_customer_name": "there",
    "field_customer_name": "name", "value_discount": "20%", "value_promo_code": "SPRING20",
    "value_expiry_date": "30 November", "tags": "spring", "schedule": "now", "time_zone": "Pacific/Kiritimati",
}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"schedule": "at", "send_at": "9999-12-31T23:59"},
        {"schedule": "at", "send_at": "0001-01-01T00:00"},
        {"name": NUL},
        {"value_discount": NUL},
    ],
)
async def test_the_campaign_form_refuses_edge_times_and_nul_with_a_page(client: Client, change: dict[str, str]) -> None:
    """The dashboard's campaign form answers a 400 page naming the field, and stores nothing."""
    assert (await log_in(client)).status == 303
    before = await row_counts(client)
    fields = {"csrf": await csrf_of(client, "/dashboard/campaigns/new"), **FORM, **change, "action": "create"}
    resp = await client.post("/dashboard/campaigns/new", data=fields, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 400, page
    named = "send_at" if "send_at" in change else next(iter(change))
    assert named in page.lower()
    assert await row_counts(client) == before


async def test_dashboard_cursors_and_ids_take_ascii_digits_in_32_bits_only(client: Client) -> None:
    """A cursor in other digits or past 32 bits is ignored; such an id is a 404 page; NUL in a search is a 400 page."""
    assert (await log_in(client)).status == 303
    for path in ("/dashboard/campaigns", "/dashboard/contacts", "/dashboard/conversations"):
        for cursor in ("²", "2147483648", "99999999999999999999"):
            resp = await client.get(path, params={"before": cursor})
            assert resp.status == 200, (path, cursor, await resp.text())
    for campaign in ("²", "2147483648"):
        assert (await client.get(f"/dashboard/campaigns/{campaign}")).status == 404
    resp = await client.get("/dashboard/contacts", params={"q": "a\x00"})
    assert (resp.status, resp.content_type) == (400, "text/html")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"csrf=x&text=%FF%FE\xff"),
        ("multipart/form-data; boundary=x", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--x--\r\n"),
    ],
)
async def test_a_form_body_that_cannot_be_read_is_a_400_page(client: Client, content_type: str, body: bytes) -> None:
    """A form that is not UTF-8 or a multipart body without field names is a 400 page, not a 500; nothing is stored."""
    assert (await log_in(client)).status == 303
    before = await row_counts(client)
    for path in ("/dashboard/campaigns/new", f"/dashboard/inbox/{WA_ID}/reply"):
        resp = await client.post(path, data=body, headers={"Content-Type": content_type}, allow_redirects=False)
        page = await resp.text()
        assert (resp.status, resp.content_type) == (400, "text/html"), (path, page[:300])
        assert "form" in page.lower()
    assert await row_counts(client) == before
