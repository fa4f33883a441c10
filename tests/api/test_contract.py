"""The OpenAPI document against the real API over a real socket: every operation's answers validate against it.

A scenario calls every documented operation with valid requests (and a few refusals), then each answer
body is validated with jsonschema against the schema the document gives for the answer's status. The
document and the app's router list the same routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import keys
from bot.api.campaigns import CAMPAIGNER
from bot.app import create_app
from bot.inbound.dispatcher import Acknowledger
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.contacts import ensure_contacts
from storage.session import save_sessions
from tests.api.test_app import HTTP_METHODS, wait_until
from tests.conftest import FakeClock, signed, text_webhook

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
ANA = "5511987654321"
BEN = "31612345678"
PAYMENT = {"customer_name": "Ana", "amount": "€120.00", "invoice_number": "INV-1", "payment_date": "12 April"}
INVOICE = {
    "customer_name": "Ana", "invoice_number": "INV-2", "amount": "€120.00", "due_date": "30 April 2026",
    "payment_id": "7f3c9a",
}  # fmt: skip
PROMO = {
    "customer_name": {"field": "name", "default": "there"}, "discount": "20%", "promo_code": "SPRING20",
    "expiry_date": "30 November",
}  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """One call of the scenario: the documented operation, the status and the JSON body that came back."""

    path: str  # the document's path template
    method: str
    status: int
    body: Any


@dataclass
class Api:
    """A client session on the real app's port, recording every answer."""

    base: str
    session: aiohttp.ClientSession
    answers: list[Answer]

    async def call(self, method: str, template: str, path: str | None = None, **kwargs: Any) -> Answer:
        async with self.session.request(method, self.base + (path or template), **kwargs) as response:
            assert response.content_type == "application/json", (method, path or template, response.content_type)
            answer = Answer(template, method.lower(), response.status, await response.json())
        assert answer.status < 500, answer
        self.answers.append(answer)
        return answer


@pytest.fixture
def noon() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(aiohttp_server: Any, make_settings: Any, noon: FakeClock) -> tuple[TestServer, web.Application]:
    """The real app with every role, on a real port, sending through a transport that accepts every message."""
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    app = create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, handler=Acknowledger())
    return await aiohttp_server(app), app


async def fetch_document(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with session.get(f"{base}/api/openapi.json") as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()
    return document


def schema_for(document: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """The schema the document gives for `answer`'s status, with the components its references point into."""
    responses = document["paths"][answer.path][answer.method]["responses"]
    response = responses.get(str(answer.status)) or responses.get(f"{answer.status // 100}XX")
    assert response is not None, f"{answer.method} {answer.path}: status {answer.status} is not documented"
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def problems(document: dict[str, Any], answer: Answer) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        schema_for(document, answer), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{answer.method} {answer.path} {answer.status}: {e.json_path}: {e.message[:160]}"
        for e in validator.iter_errors(answer.body)
    ]


async def scenario(api: Api, webhook: Any, hand_off: Any, run_campaigns: Any) -> None:
    """Every operation of the API, with valid requests, in an order that gives each a record to act on."""
    c = api.call
    hook = {"url": "http://127.0.0.1:9/events", "events": ["message.received"], "description": "the shop"}
    subscription = await c("POST", "/api/subscriptions", json=hook)
    await c("POST", "/api/subscriptions", json={**hook, "events": ["message.sent"]})  # 400
    await webhook(text_webhook(ANA, "hi", wamid="wamid.in.1", name="Ana"))  # opens Ana's service window
    await hand_off(ANA)
    consent = {"marketing": "opt_in", "evidence": "signed up at the till"}
    contact = {"wa_id": BEN, "name": "Ben", "tags": ["vip"], "time_zone": "Europe/Amsterdam", "consent": consent}
    await c("POST", "/api/contacts", json=contact)
    await c("POST", "/api/contacts", json={"wa_id": BEN, "language": "nl"})
    await c("POST", "/api/contacts", json={"wa_id": 1, "tags": "vip"})  # 400 with each field
    csv = (
        f"wa_id,name,tags,marketing,consent_evidence\n{BEN},Ben,vip,opt_in,web form\n+44 7700 900123,Cy,,,\nnope,,,,\n"
    )
    await c("POST", "/api/contacts", data=csv.encode(), headers={"Content-Type": "text/csv"})
    await c("GET", "/api/contacts", params={"limit": "1"})
    await c("GET", "/api/contacts", params={"q": "Ben", "tag": "vip"})
    await c("GET", "/api/contacts/{wa_id}", f"/api/contacts/{BEN}")
    await c("GET", "/api/contacts/{wa_id}", "/api/contacts/15550001111")
    await c("GET", "/api/conversations")
    await c("GET", "/api/messages", params={"wa_id": ANA})
    await c("POST", "/api/otp", json={"wa_id": ANA, "purpose": "login"})
    await c("POST", "/api/otp", json={"wa_id": ANA, "purpose": "login"})  # too soon: 429
    await c("POST", "/api/otp/verify", json={"wa_id": ANA, "purpose": "login", "code": "000000"})
    order = {"number": "A1", "wa_id": ANA, "name": "Ana", "total": 84.9, "currency": "eur"}
    await c("POST", "/api/orders", json=order)
    await c("POST", "/api/orders", json=order)
    await c("PATCH", "/api/orders/{number}", "/api/orders/A1",
            json={"status": "confirmed", "delivery_start": "2026-04-17T10:00:00-03:00"})  # fmt: skip
    await c("PATCH", "/api/orders/{number}", "/api/orders/B2", json={"status": "confirmed"})
    visit = {"wa_id": ANA, "service": "check-up", "starts_at": "2026-04-14T09:30:00-03:00", "location": "Rua 1"}
    booked = await c("POST", "/api/appointments", json=visit)
    await c("GET", "/api/appointments", params={"wa_id": ANA})
    path = f"/api/appointments/{booked.body['appointment']['id']}"
    await c("PATCH", "/api/appointments/{id}", path, json={"starts_at": "2026-04-16T15:00:00-03:00"})
    await c("PATCH", "/api/appointments/{id}", path, json={"status": "cancelled"})
    await c("PUT", "/api/accounts/{wa_id}", f"/api/accounts/{ANA}",
            json={"balance": "10", "currency": "EUR", "low_threshold": "25"})  # fmt: skip
    single = {"wa_id": ANA, "template": "payment_received", "parameters": PAYMENT}
    await c("POST", "/api/notifications", json=single)
    await c("POST", "/api/notifications", json={"items": [single, {**single, "template": "login_code"}, "nope"]})
    await c("POST", "/api/notifications", json={"wa_id": ANA})
    schedule = {"name": "invoices", "cron": "30 2 * * *", "time_zone": "Europe/Amsterdam", "template": "payment_link",
                "parameters": INVOICE, "wa_ids": [ANA, BEN]}  # fmt: skip
    created = await c("POST", "/api/schedules", json=schedule)
    await c("POST", "/api/schedules", json=schedule)  # the name is taken: 409
    await c("POST", "/api/schedules", json={**schedule, "name": "weekly", "language": "en"})
    bad = {**schedule, "name": "", "cron": "61 * * * *", "time_zone": "Mars/Base", "wa_ids": [ANA, 1], "timezone": "x"}
    refused = await c("POST", "/api/schedules", json=bad)
    assert [f["field"] for f in refused.body["error"]["fields"]] == [
        "name",
        "cron",
        "time_zone",
        "wa_ids[1]",
        "timezone",
    ]
    await c("GET", "/api/schedules", params={"limit": "1"})
    await c("GET", "/api/schedules", params={"before": "2147483648"})  # 400
    await c("GET", "/api/schedules/{id}", f"/api/schedules/{created.body['id']}")
    await c("DELETE", "/api/schedules/{id}", f"/api/schedules/{created.body['id']}")
    await c("DELETE", "/api/schedules/{id}", "/api/schedules/999")
    await c("GET", "/api/schedules/{id}", "/api/schedules/999")
    await c("GET", "/api/schedules/{id}", "/api/schedules/abc")  # 400
    await c("GET", "/api/templates", params={"limit": "2"})
    await c("GET", "/api/templates", params={"after": "order_shipped.en"})
    await c("GET", "/api/templates", params={"after": "not a cursor"})  # 400
    await c("POST", "/api/templates/{name}/unblock", "/api/templates/payment_link/unblock", json={})
    await c("POST", "/api/templates/{name}/unblock", "/api/templates/payment_link/unblock", json={"language": "en"})
    await c("POST", "/api/templates/{name}/unblock", "/api/templates/payment_link/unblock")
    refused = await c("POST", "/api/templates/{name}/unblock", "/api/templates/payment_link/unblock",
                      json={"language": "English", "force": True})  # fmt: skip
    assert [f["field"] for f in refused.body["error"]["fields"]] == ["language", "force"]
    await c("POST", "/api/templates/{name}/unblock", "/api/templates/no_such/unblock", json={})
    await c("GET", "/api/stats", params={"from": "2026-04-01", "to": "2026-04-11"})
    sales = {"id": "200000000000001", "display_number": "+31 20 555 0101", "account_id": "300", "tier": "unlimited"}
    await c("POST", "/api/numbers", json=sales)
    await c("POST", "/api/numbers", json=sales)  # served already: 409
    await c("POST", "/api/numbers", json={**sales, "id": 2, "throughput": 5000})  # 400
    await c("GET", "/api/numbers", params={"limit": "1"})
    await c("GET", "/api/numbers/{id}", f"/api/numbers/{sales['id']}")
    await c("GET", "/api/numbers/{id}", "/api/numbers/999")  # 404
    await c("PATCH", "/api/numbers/{id}", f"/api/numbers/{sales['id']}", json={"throughput": 200, "tier": 2000})
    await c("PATCH", "/api/numbers/{id}", "/api/numbers/abc", json={})  # 400
    inbox = await c("GET", "/api/handoffs")
    assert [w["wa_id"] for w in inbox.body["items"]] == [ANA]
    await c("POST", "/api/conversations/{wa_id}/reply", f"/api/conversations/{ANA}/reply", json={"text": "Hi Ana"})
    await c("POST", "/api/conversations/{wa_id}/reply", f"/api/conversations/{BEN}/reply", json={"text": "Hi Ben"})
    await c("POST", "/api/conversations/{wa_id}/reply", f"/api/conversations/{ANA}/reply", json={"text": " "})
    released = await c("POST", "/api/conversations/{wa_id}/release", f"/api/conversations/{ANA}/release")
    assert released.body == {"wa_id": ANA, "released": True}
    await c("POST", "/api/conversations/{wa_id}/release", f"/api/conversations/{ANA}/release")
    await c("POST", "/api/conversations/{wa_id}/release", "/api/conversations/15550001111/release")  # 404
    spring = {"name": "spring", "template": "promotion_code", "parameters": PROMO, "audience": {"tags": ["vip"]}}
    campaign = await c(
        "POST", "/api/campaigns", json={**spring, "send_at": "2026-05-01T09:00:00+02:00", "test_numbers": [BEN]}
    )
    one = f"/api/campaigns/{campaign.body['id']}"
    await c("GET", "/api/campaigns")
    await c("GET", "/api/campaigns/{id}", one)
    await c("POST", "/api/campaigns/{id}/dry-run", f"{one}/dry-run")
    await c("POST", "/api/campaigns/{id}/test", f"{one}/test", json={"wa_ids": [BEN]})
    flash = await c("POST", "/api/campaigns", json={**spring, "name": "flash", "send_at": "2026-04-10T14:01:00+02:00"})
    await run_campaigns()  # a minute later: the flash campaign's run queues Ben's message
    recipients = await c("GET", "/api/campaigns/{id}/recipients", f"/api/campaigns/{flash.body['id']}/recipients")
    assert [r["wa_id"] for r in recipients.body["items"]] == [BEN]  # sending or sent: the sender loop runs too
    await c("GET", "/api/campaigns/{id}/recipients", f"{one}/recipients", params={"status": "lost"})  # 400
    await c("POST", "/api/campaigns/{id}/retry-failed", f"{one}/retry-failed")
    await c("POST", "/api/campaigns/{id}/pause", f"{one}/pause")
    await c("POST", "/api/campaigns/{id}/resume", f"{one}/resume")
    await c("POST", "/api/campaigns/{id}/cancel", f"{one}/cancel")
    await c("POST", "/api/campaigns/{id}/pause", f"{one}/pause")  # cancelled: 409
    await c("GET", "/api/campaigns/{id}", "/api/campaigns/999")
    await c("POST", "/api/contacts/{wa_id}/erase", f"/api/contacts/{BEN}/erase")
    await c("POST", "/api/contacts/{wa_id}/erase", f"/api/contacts/{BEN}/erase")
    await events_scenario(api, f"/api/subscriptions/{subscription.body['id']}")
    await c("GET", "/api/messages", headers={"Authorization": "Bearer wrong"})
    await c("GET", "/api/messages", params={"limit": "0"})


async def events_scenario(api: Api, one: str) -> None:
    """The subscription routes, on the subscription the scenario began with and the event it was owed."""
    c = api.call
    await c("GET", "/api/subscriptions")
    await c("GET", "/api/subscriptions/{id}", one)
    log = await c("GET", "/api/subscriptions/{id}/deliveries", f"{one}/deliveries")
    await c("GET", "/api/subscriptions/{id}/deliveries", f"{one}/deliveries", params={"status": "failed"})
    await c("GET", "/api/subscriptions/{id}/deliveries", f"{one}/deliveries", params={"status": "lost"})  # 400
    delivery = f"{one}/deliveries/{log.body['items'][0]['id']}"
    await c("GET", "/api/subscriptions/{id}/deliveries/{delivery}", delivery)
    await c("POST", "/api/subscriptions/{id}/deliveries/{delivery}/replay", f"{delivery}/replay")
    await c("GET", "/api/subscriptions/{id}/deliveries/{delivery}", f"{one}/deliveries/999")  # 404
    await c("DELETE", "/api/subscriptions/{id}", one)
    await c("DELETE", "/api/subscriptions/{id}", one)  # 404


async def test_every_answer_of_every_operation_validates_against_the_document(
    server: tuple[TestServer, web.Application], auth: dict[str, str], noon: FakeClock
) -> None:
    """Each operation answers a valid request with a 2xx, and every answer's body is what the document says."""
    test_server, app = server
    base = str(test_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(headers=auth) as session:
        api = Api(base, session, [])

        async def webhook(payload: dict[str, Any]) -> None:
            body, headers = signed(payload)
            async with session.post(f"{base}/webhook", data=body, headers=headers) as response:
                assert response.status == 200

            async def stored() -> bool:
                async with session.get(f"{base}/api/contacts/{ANA}") as response:
                    return response.status == 200

            await wait_until(stored, what="the webhook's contact")

        async def hand_off(wa_id: str) -> None:
            async with app[keys.REPOSITORY].transaction() as conn:
                contacts = await ensure_contacts(conn, [wa_id], NOW)
                await save_sessions(conn, {contacts[wa_id]: {"handed_off": True}}, NOW)

        async def run_campaigns() -> None:
            noon.advance(minutes=2)
            await app[CAMPAIGNER].run_once()
            await app[SENDER].run_once()

        await scenario(api, webhook, hand_off, run_campaigns)
        document = (await api.call("GET", "/api/openapi.json")).body
    found = [problem for answer in api.answers for problem in problems(document, answer)]
    assert found == [], "\n".join(found)
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    succeeded = {(a.path, a.method) for a in api.answers if 200 <= a.status < 300}
    assert documented - succeeded == set(), "operations the scenario never got a 2xx from"


async def test_the_document_lists_exactly_the_routes_the_api_registers(
    server: tuple[TestServer, web.Application],
) -> None:
    """Every route of the API sub-application is in the document, and every documented operation is routed."""
    test_server, app = server
    async with aiohttp.ClientSession() as session:
        document = await fetch_document(session, str(test_server.make_url("")).rstrip("/"))
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
    }
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    assert routed - documented == set(), "routes the document does not describe"
    assert documented - routed == set(), "documented operations no route serves"


def body_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every JSON request and answer body schema of the document, by where it is."""
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            bodies = {"request": operation.get("requestBody", {}), **operation["responses"]}
            for status, body in bodies.items():
                if "application/json" in body.get("content", {}):
                    found[f"{method} {path} {status}"] = body["content"]["application/json"]["schema"]
    return found


async def test_every_operation_has_a_unique_operation_id_a_tag_and_bodies_from_models(
    server: tuple[TestServer, web.Application],
) -> None:
    """Client generators name methods by operationId and group them by tag: each operation has both, ids unique.

    Every body is a model's schema, referenced by name (one of two for POST /api/contacts and POST
    /api/notifications): nothing is described by hand beside the models the handlers check with.
    """
    test_server, _ = server
    async with aiohttp.ClientSession() as session:
        document = await fetch_document(session, str(test_server.make_url("")).rstrip("/"))
    operations = [op for item in document["paths"].values() for method, op in item.items() if method in HTTP_METHODS]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(op["tags"] for op in operations)
    assert document["paths"]["/api/campaigns/{id}/dry-run"]["post"]["operationId"] == "post_campaigns_id_dry_run"
    by_hand = {
        where: schema
        for where, schema in body_schemas(document).items()
        if set(schema) != {"$ref"}
        and not (set(schema) == {"oneOf"} and all(set(s) == {"$ref"} for s in schema["oneOf"]))
    }
    assert list(by_hand) == ["get /api/openapi.json 200"]
    schemas = document["components"]["schemas"]
    assert {"Order", "Appointment", "Account", "Recipient", "ScheduleCreate", "Unblock", "Waiting"} <= set(schemas)
    assert schemas["ScheduleCreate"]["required"] == ["name", "cron", "time_zone", "template", "wa_ids"]
