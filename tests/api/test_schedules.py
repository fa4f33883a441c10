"""The schedule routes of the admin API: create with a preview, list, read with runs, deactivate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.notifications.scheduler import SCHEDULER
from bot.settings import Settings
from tests.api.test_app import ClientFactory, assert_error, conforms, fetch_openapi, start_app
from tests.conftest import FakeClock

Client = TestClient[web.Request, web.Application]
NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Amsterdam moves to summer time
INVOICE = {
    "customer_name": "Tomás",
    "invoice_number": "INV-2031",
    "amount": "€120.00",
    "due_date": "30 April 2026",
    "payment_id": "7f3c9a",
}
BODY = {
    "name": "invoice reminder",
    "cron": "30 2 * * *",
    "time_zone": "Europe/Amsterdam",
    "template": "payment_link",
    "parameters": INVOICE,
    "wa_ids": ["31612345678", "447700900123"],
}


@pytest.fixture
def fixed_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, fixed_clock: FakeClock) -> Client:
    started, _ = await start_app(aiohttp_client, settings, fixed_clock, roles={"web"})
    return started


async def call(client: Client, method: str, path: str, auth: dict[str, str], body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    resp = await client.request(method, path, headers=auth, **kwargs)
    return resp.status, await resp.json()


async def test_creating_answers_the_schedule_and_its_next_three_runs(client: Client, auth: dict[str, str]) -> None:
    """POST answers 201 with the schedule as stored and its next runs in UTC, across the spring change."""
    status, answer = await call(client, "POST", "/api/schedules", auth, BODY)
    assert status == 201
    assert {k: answer[k] for k in ("name", "cron", "time_zone", "template", "parameters", "wa_ids")} == BODY
    assert (answer["active"], answer["language"], answer["last_run_at"]) == (True, None, None)
    assert answer["next_runs"] == [
        "2026-03-28T01:30:00+00:00",  # 02:30 CET
        "2026-03-29T01:00:00+00:00",  # 02:30 does not exist that night: 03:00 CEST
        "2026-03-30T00:30:00+00:00",  # 02:30 CEST
    ]
    assert answer["next_run_at"] == answer["next_runs"][0]
    document = await fetch_openapi(client)
    schema = document["paths"]["/api/schedules"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert conforms(answer, schema, document) == []


async def test_a_taken_name_is_a_conflict(client: Client, auth: dict[str, str]) -> None:
    """A second schedule under a name already used answers 409 conflict."""
    assert (await call(client, "POST", "/api/schedules", auth, BODY))[0] == 201
    status, answer = await call(client, "POST", "/api/schedules", auth, {**BODY, "cron": "0 9 * * *"})
    assert status == 409
    assert assert_error(answer, "conflict") == "a schedule named 'invoice reminder' already exists"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, "name is required"),
        ({"name": "two\nlines"}, "name: must be one line of at most 128 characters"),
        ({"cron": None}, "cron is required"),
        ({"cron": "61 * * * *"}, "cron '61 * * * *': bad minute '61'; expected 0-59"),
        ({"cron": "0 9 * *"}, "expected 5 fields"),
        ({"time_zone": None}, "time_zone is required"),
        ({"time_zone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
        ({"timezone": "Europe/Amsterdam"}, "a time zone is time_zone, everywhere in the API"),
        ({"template": "no_such_template"}, "no template 'no_such_template'; the utility templates are"),
        ({"template": "promotion_code"}, "template 'promotion_code' is marketing, not utility"),
        ({"parameters": {"customer_name": "Tomás"}}, "parameters lack invoice_number, amount, due_date, payment_id"),
        ({"parameters": ["x"]}, "parameters: must be an object"),
        ({"parameters": {**INVOICE, "amount": "\t"}}, "value for 'amount' must be non-empty text"),
        ({"wa_ids": None}, "wa_ids is required"),
        ({"wa_ids": "31612345678"}, "wa_ids: must be a list of 1 to 1000 WhatsApp numbers"),
        ({"wa_ids": []}, "wa_ids: must be a list of 1 to 1000 WhatsApp numbers"),
        ({"wa_ids": ["31612345678", "+31 6"]}, "wa_ids[1]: '+31 6' is not a WhatsApp number"),
        ({"wa_ids": ["31612345678", 31612345678]}, "wa_ids[1]: must be given as a string"),
        ({"wa_ids": ["31612345678", "31612345678"]}, "wa_ids: has 31612345678 twice, at [0] and [1]"),
    ],
)
async def test_bad_bodies_name_the_field(
    client: Client, auth: dict[str, str], changes: dict[str, Any], message: str
) -> None:
    """Each wrong or missing field is a 400 invalid_request whose message says which and why."""
    body = {key: value for key, value in {**BODY, **changes}.items() if value is not None}
    status, answer = await call(client, "POST", "/api/schedules", auth, body)
    assert status == 400
    assert message in assert_error(answer, "invalid_request")


async def test_a_body_that_is_not_json_is_refused(client: Client, auth: dict[str, str]) -> None:
    """A body that is not a JSON object answers 400."""
    status, answer = await call(client, "POST", "/api/schedules", auth, "{not json")
    assert (status, assert_error(answer, "invalid_request")) == (400, "the body is not valid JSON")


async def test_list_and_read_with_runs(client: Client, auth: dict[str, str], fixed_clock: FakeClock) -> None:
    """GET lists schedules newest first; GET one adds its runs, newest first, once the scheduler ran it."""
    _, created = await call(client, "POST", "/api/schedules", auth, BODY)
    await call(client, "POST", "/api/schedules", auth, {**BODY, "name": "weekly", "cron": "0 9 * * MON"})
    status, listed = await call(client, "GET", "/api/schedules", auth)
    assert (status, [s["name"] for s in listed["items"]]) == (200, ["weekly", "invoice reminder"])
    for moment in ("2026-03-28T01:30:00+00:00", "2026-03-29T01:00:00+00:00"):
        fixed_clock.now = datetime.fromisoformat(moment)
        await client.app[SCHEDULER].run_once()
    status, read = await call(client, "GET", f"/api/schedules/{created['id']}", auth)
    assert status == 200
    assert [(r["scheduled_for"], r["queued"]) for r in read["runs"]] == [
        ("2026-03-29T01:00:00+00:00", 2),
        ("2026-03-28T01:30:00+00:00", 2),
    ]
    assert (read["last_run_at"], read["next_run_at"]) == ("2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00")


async def test_delete_deactivates_and_repeats_harmlessly(client: Client, auth: dict[str, str]) -> None:
    """DELETE answers the schedule inactive with no upcoming runs; again, the same; it stays listed."""
    _, created = await call(client, "POST", "/api/schedules", auth, BODY)
    path = f"/api/schedules/{created['id']}"
    for _ in range(2):
        status, answer = await call(client, "DELETE", path, auth)
        assert (status, answer["active"], answer["next_run_at"], answer["next_runs"]) == (200, False, None, [])
    _, read = await call(client, "GET", path, auth)
    assert (read["active"], read["runs"]) == (False, [])


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unknown_and_malformed_ids(client: Client, auth: dict[str, str], method: str) -> None:
    """An unknown id is 404 not_found; one that is not a whole number in range is 400."""
    status, answer = await call(client, method, "/api/schedules/999", auth)
    assert (status, assert_error(answer, "not_found")) == (404, "no schedule 999")
    for bad in ("abc", "0", "99999999999"):
        status, answer = await call(client, method, f"/api/schedules/{bad}", auth)
        assert status == 400
        assert "the schedule id must be a whole number" in assert_error(answer, "invalid_request")


async def test_schedule_routes_need_the_admin_token(client: Client) -> None:
    """Every schedule route is admin API: no bearer token, 401."""
    for method, path in [
        ("POST", "/api/schedules"),
        ("GET", "/api/schedules"),
        ("GET", "/api/schedules/1"),
        ("DELETE", "/api/schedules/1"),
    ]:
        assert (await client.request(method, path, json={})).status == 401, path
