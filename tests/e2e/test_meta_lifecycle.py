"""Meta's word through the real app: refused templates refused at the API, a number's quality slowing marketing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.api.campaigns import CAMPAIGNER
from bot.app import create_app
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.api.test_app import ClientFactory, assert_error, post_webhook
from tests.conftest import FakeClock

Client = TestClient[web.Request, web.Application]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WABA = "102290129340398"
CUSTOMER = "31612345001"
PAYMENT = {"customer_name": "Ana", "amount": "€12.00", "invoice_number": "INV-1", "payment_date": "23 November"}
PROMO = {"customer_name": "Ana", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "30 November"}


def meta_webhook(field: str, value: dict[str, Any], at: datetime = NOW) -> dict[str, Any]:
    entry = {"id": WABA, "time": int(at.timestamp()), "changes": [{"field": field, "value": value}]}
    return {"object": "whatsapp_business_account", "entry": [entry]}


def template_status(name: str, event: str, reason: str = "NONE", **extra: Any) -> dict[str, Any]:
    value = {"event": event, "message_template_id": 7, "message_template_name": name,
             "message_template_language": "en", "reason": reason, **extra}  # fmt: skip
    return meta_webhook("message_template_status_update", value)


def quality(event: str, at: datetime = NOW) -> dict[str, Any]:
    value = {"display_phone_number": "15550783881", "event": event, "current_limit": "TIER_UNLIMITED"}
    return meta_webhook("phone_number_quality_update", value, at)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, make_settings: Any, clock: FakeClock, transport: RecordingTransport
) -> Client:
    clock.now = NOW
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    return await aiohttp_client(create_app(settings, clock=clock, transport=transport, migrate=True, roles={"web"}))


async def call(client: Client, auth: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth)
    return resp.status, await resp.json()


async def notify(client: Client, auth: dict[str, str]) -> tuple[int, Any]:
    body = {"wa_id": CUSTOMER, "template": "payment_received", "parameters": PAYMENT}
    return await call(client, auth, "POST", "/api/notifications", body)


async def test_a_rejected_template_is_refused_with_metas_reason_until_approved(
    client: Client, auth: dict[str, str]
) -> None:
    """Never heard of: sent. Rejected: a 409 naming Meta's reason. Approved again: sent."""
    assert (await notify(client, auth))[0] == 202
    rejection = {"rejection_info": {"reason": "The template's content is promotional", "recommendation": "Edit it"}}
    await post_webhook(client, template_status("payment_received", "REJECTED", "INCORRECT_CATEGORY", **rejection))
    status, answer = await notify(client, auth)
    assert status == 409
    assert assert_error(answer, "template_not_approved") == (
        "template payment_received (en) is REJECTED at Meta: INCORRECT_CATEGORY: The template's content is "
        "promotional: Edit it"
    )
    await post_webhook(client, template_status("payment_received", "APPROVED"))
    assert (await notify(client, auth))[0] == 202


async def test_a_campaign_of_a_paused_template_is_refused(client: Client, auth: dict[str, str]) -> None:
    """Meta paused the marketing template: a new campaign of it is a 409 saying so."""
    pause = {"other_info": {"title": "FIRST_PAUSE", "description": "Low quality"}}
    await post_webhook(client, template_status("promotion_code", "PAUSED", **pause))
    body = {"name": "Spring", "template": "promotion_code", "parameters": PROMO, "audience": {"tags": ["spring"]}}
    status, answer = await call(client, auth, "POST", "/api/campaigns", body)
    assert status == 409
    assert "promotion_code (en) is PAUSED at Meta: FIRST_PAUSE: Low quality" in assert_error(
        answer, "template_not_approved"
    )


async def test_quality_red_pauses_marketing_but_not_utility(
    client: Client, auth: dict[str, str], clock: FakeClock, transport: RecordingTransport
) -> None:
    """Flagged, the number sends its utility at once and holds its marketing; unflagged, the marketing goes."""
    contact = {"wa_id": CUSTOMER, "name": "Ana", "tags": ["spring"],
               "consent": {"marketing": "opt_in", "evidence": "form"}}  # fmt: skip
    assert (await call(client, auth, "POST", "/api/contacts", contact))[0] == 201
    await post_webhook(client, quality("FLAGGED"))
    body = {"name": "Spring", "template": "promotion_code", "parameters": PROMO, "audience": {"tags": ["spring"]}}
    status, campaign = await call(client, auth, "POST", "/api/campaigns", body)
    assert status == 201, campaign
    assert (await notify(client, auth))[0] == 202
    app = client.server.app
    await app[CAMPAIGNER].run_once()
    await app[SENDER].run_once()
    assert [r.json["template"]["name"] for r in transport.requests] == ["payment_received"]
    _, detail = await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}")
    assert detail["progress"] == {"queued": 1}

    await post_webhook(client, quality("UNFLAGGED", NOW + timedelta(minutes=5)))
    clock.advance(minutes=11)
    await app[SENDER].run_once()
    assert [r.json["template"]["name"] for r in transport.requests] == ["payment_received", "promotion_code"]


async def test_a_one_time_code_is_refused_while_its_template_is_disabled(client: Client, auth: dict[str, str]) -> None:
    """Disabled login template: `POST /api/otp` is a 409 with Meta's reason rather than a code that never arrives."""
    await post_webhook(client, template_status("login_code", "DISABLED", disable_info={"disable_date": 1765100000}))
    status, answer = await call(client, auth, "POST", "/api/otp", {"wa_id": CUSTOMER, "purpose": "login"})
    assert status == 409
    assert assert_error(answer, "template_not_approved") == "template login_code (en) is DISABLED at Meta"
