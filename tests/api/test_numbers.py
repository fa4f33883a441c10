"""`/api/numbers` over a real socket: numbers added, listed a page at a time, changed; hostile bodies refused."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import Acknowledger
from bot.numbers.number import NUMBERS
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.models import OUTBOX
from tests.conftest import PHONE_NUMBER_ID, FakeClock

SALES = {"id": "200000000000001", "display_number": "+31 20 555 0101", "account_id": "300", "token_env": "TOKEN_SALES"}


@pytest.fixture
async def api(aiohttp_server: Any, settings: Settings, clock: FakeClock, auth: dict[str, str]) -> Any:
    app = create_app(settings, clock=clock, transport=RecordingTransport(), migrate=True, handler=Acknowledger(),
                     roles=("web",))  # fmt: skip
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession(f"http://{server.host}:{server.port}", headers=auth) as session:
        yield session, app


async def call(session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, path, **kwargs) as response:
        return response.status, await response.json()


async def test_the_settings_number_is_served_and_more_can_be_added(api: Any) -> None:
    """With no numbers.yaml the settings' number is the default; a number added is listed and served at once."""
    session, app = api
    status, page = await call(session, "GET", "/api/numbers")
    assert status == 200
    assert [(n["id"], n["default"], n["source"], n["tier"]) for n in page["items"]] == [
        (PHONE_NUMBER_ID, True, "settings", "unlimited")
    ]
    status, added = await call(session, "POST", "/api/numbers", json={**SALES, "tier": 2000})
    assert status == 201
    assert (added["throughput"], added["tier"], added["default"], added["source"]) == (80, 2000, False, "api")
    assert app[NUMBERS].serves(SALES["id"])
    status, changed = await call(
        session, "PATCH", f"/api/numbers/{SALES['id']}", json={"throughput": 5, "token_env": None}
    )
    assert (status, changed["throughput"], changed["token_env"], changed["tier"]) == (200, 5, None, 2000)
    assert app[NUMBERS].get(SALES["id"]).throughput == 5
    status, first = await call(session, "GET", "/api/numbers", params={"limit": "1"})
    status, rest = await call(session, "GET", "/api/numbers", params={"after": first["next_after"]})
    assert [n["id"] for n in first["items"] + rest["items"]] == sorted([PHONE_NUMBER_ID, SALES["id"]])
    assert rest["next_after"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SALES, "id": 200000000000001}, "id"),
        ({**SALES, "id": "1' OR '1'='1"}, "id"),
        ({**SALES, "id": "9" * 33}, "id"),
        ({**SALES, "id": "123\n"}, "id"),
        ({**SALES, "display_number": "<script>"}, "display_number"),
        ({**SALES, "token_env": "PATH; rm -rf /"}, "token_env"),
        ({**SALES, "throughput": 0}, "throughput"),
        ({**SALES, "throughput": True}, "throughput"),
        ({**SALES, "throughput": 1e308}, "throughput"),
        ({**SALES, "tier": 300}, "tier"),
        ({**SALES, "tier": None}, "tier"),
        ({**SALES, "main_flow": "../etc/passwd"}, "main_flow"),
        ({**SALES, "token": "EAAG..."}, "token"),
        ({"display_number": "+1 555 0100"}, "id"),
    ],
)
async def test_hostile_bodies_are_refused_naming_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    """Each wrong value is a 400 that names its field, and nothing is stored."""
    session, _ = api
    status, answer = await call(session, "POST", "/api/numbers", json=body)
    assert status == 400, answer
    assert field in [f["field"] for f in answer["error"]["fields"]]
    _, page = await call(session, "GET", "/api/numbers")
    assert len(page["items"]) == 1


async def test_wrong_paths_and_bodies_are_4xx_never_500(api: Any) -> None:
    """Unknown ids are 404, malformed ids and cursors 400, a taken id 409, a null display number 400."""
    session, _ = api
    assert (await call(session, "GET", "/api/numbers/999"))[0] == 404
    assert (await call(session, "GET", "/api/numbers/x%00y"))[0] == 400
    assert (await call(session, "GET", "/api/numbers", params={"after": "a'"}))[0] == 400
    assert (await call(session, "PATCH", "/api/numbers/999", json={"throughput": 5}))[0] == 404
    assert (await call(session, "PATCH", f"/api/numbers/{PHONE_NUMBER_ID}", json={"display_number": None}))[0] == 400
    assert (await call(session, "PATCH", f"/api/numbers/{PHONE_NUMBER_ID}", data=b"[1, 2"))[0] == 400
    assert (await call(session, "POST", "/api/numbers", json={**SALES, "id": PHONE_NUMBER_ID}))[0] == 409


async def test_a_notification_names_a_served_number_or_is_refused(api: Any) -> None:
    """`phone_number_id` on a notification: a number not served is a 400; a served one is queued from it."""
    session, app = api
    await call(session, "POST", "/api/numbers", json=SALES)
    notice = {"wa_id": "31612345678", "template": "payment_received", "parameters": {
        "customer_name": "Ana", "amount": "€1.00", "invoice_number": "INV-1", "payment_date": "1 May"}}  # fmt: skip
    status, answer = await call(session, "POST", "/api/notifications", json={**notice, "phone_number_id": "999"})
    assert status == 400
    assert "phone_number_id '999' is not a number this deployment serves" in answer["error"]["message"]
    status, _ = await call(session, "POST", "/api/notifications", json={**notice, "phone_number_id": SALES["id"]})
    assert status == 202
    async with app[keys.REPOSITORY].reading() as conn:
        numbers = (await conn.execute(select(OUTBOX.c.phone_number_id))).scalars().all()
    assert numbers == [SALES["id"]]
