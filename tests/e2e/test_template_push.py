"""`bot templates push` and `sync` against the sandbox's review: Meta's verdicts arrive, are enforced and priced.

The pushed folder holds edited copies of two shipped utility templates: `payment_received` now ends with a
placeholder (Meta rejects that), `order_delayed` now offers a discount (Meta approves it as marketing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, unused_port

from bot import keys
from bot.app import create_app
from bot.message_templates.meta_sync import run_command
from bot.outbound.sender import SENDER
from bot.sandbox.http import SANDBOX_STATE
from bot.sandbox.review import SANDBOX_REVIEWS
from bot.sandbox.state import StatusDelays
from bot.settings import Settings
from bot.whatsapp.rate_card import example_rate_card
from storage import lifecycle
from tests.conftest import ADMIN_TOKEN

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = "31612345001"
DELAYED = {"order_number": "10482", "customer_name": "Ana", "new_delivery_date": "Tuesday", "reason": "snow"}
PAID = {"customer_name": "Ana", "amount": "€12.00", "invoice_number": "INV-1", "payment_date": "today"}


def pushed_folder(tmp_path: Path) -> Path:
    """Edited copies of two shipped utility templates, as a developer might have changed them."""
    folder = tmp_path / "templates" / "utility"
    folder.mkdir(parents=True)
    for name, old, new in (
        (
            "payment_received",
            "Thank you. Your receipt is available in your account.",
            "Your receipt: {{ invoice_number }}",
        ),
        ("order_delayed", "You do not need to do anything;", "As a sorry, enjoy 20% off your next order;"),
    ):
        text = (ROOT / "templates" / "utility" / f"{name}.en.md.j2").read_text(encoding="utf-8")
        assert old in text
        (folder / f"{name}.en.md.j2").write_text(text.replace(old, new), encoding="utf-8")
    return folder.parent


@pytest.fixture
async def service(aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]) -> Client:
    """The app in sandbox mode on a port of its own, with an example rate card; Meta reviews in 50 ms."""
    port = unused_port()
    settings = make_settings(
        access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", rate_card=example_rate_card()
    )
    app = create_app(settings, migrate=True, roles={"web"})
    client = await aiohttp_client(app, server_kwargs={"port": port})
    app[SANDBOX_REVIEWS].delay = 0.05
    app[SANDBOX_STATE].status_delays = StatusDelays(0.02, 0.05, 0.08)
    return client


async def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=AUTH)
    return resp.status, await resp.json()


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    for _ in range(100):
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def sent_and_delivered(client: Client, template: str, parameters: dict[str, str], nth: int) -> dict[str, Any]:
    """Notify the customer, let the sender send it, and wait for Meta's delivered status; the message as stored."""
    body = {"wa_id": CUSTOMER, "template": template, "parameters": parameters, "idempotency_key": f"n{nth}"}
    status, answer = await call(client, "POST", "/api/notifications", body)
    assert status == 202, answer
    await client.app[SENDER].run_once()  # the web role's sender may have taken it first: either sends it

    async def delivered() -> dict[str, Any] | None:
        items = (await call(client, "GET", f"/api/messages?wa_id={CUSTOMER}&direction=out"))[1]["items"]
        done = len(items) == nth and items[0]["status"] in ("delivered", "read") and items[0]["pricing"]
        return items[0] if done else None  # newest first

    return dict(await eventually(delivered, f"{template} delivered"))


async def test_push_review_and_sync_enforce_and_price_metas_verdicts(service: Client, tmp_path: Path) -> None:
    """Rejected: refused by the API with Meta's reason. Re-categorised: sent as marketing and costed so."""
    contact = {"wa_id": CUSTOMER, "name": "Ana", "consent": {"marketing": "opt_in", "evidence": "form"}}
    assert (await call(service, "POST", "/api/contacts", contact))[0] == 201
    before = await sent_and_delivered(service, "order_delayed", DELAYED, 1)
    assert (before["category"], before["pricing"]["category"]) == ("utility", "utility")

    api = str(service.make_url("/sandbox"))
    config = service.app[keys.SETTINGS]
    code, report = await run_command(config, job="push", templates=pushed_folder(tmp_path), api_url=api)
    assert (code, report) == (0, "created   order_delayed (en): PENDING\ncreated   payment_received (en): PENDING")

    await eventually(lambda: _both_reviewed(service), "Meta's verdicts")
    status, answer = await call(service, "POST", "/api/notifications",
                                {"wa_id": CUSTOMER, "template": "payment_received", "parameters": PAID})  # fmt: skip
    assert status == 409
    assert answer["error"]["code"] == "template_not_approved"
    assert (
        "payment_received (en) is REJECTED at Meta: INVALID_FORMAT: Variable parameters are not allowed"
        in (answer["error"]["message"])
    )

    listed = (await call(service, "GET", "/api/templates?limit=100"))[1]["items"]
    said = {(i["name"], i["language"]): i["meta"] for i in listed}
    assert said["order_confirmation", "en"] is None  # never pushed: Meta never said, and it is sent
    assert {k: said["payment_received", "en"][k] for k in ("status", "category", "refused")} == {
        "status": "REJECTED",
        "category": "utility",
        "refused": True,
    }
    assert said["order_delayed", "en"]["category"] == "marketing"
    after = await sent_and_delivered(service, "order_delayed", DELAYED, 2)
    assert (after["category"], after["pricing"]["category"]) == ("marketing", "marketing")
    today = datetime.now(UTC).date()
    stats = (await call(service, "GET", f"/api/stats?from={today}&to={today + timedelta(days=1)}"))[1]
    assert set(stats["totals"]["cost"]) == {"utility", "marketing"}
    assert Decimal(stats["totals"]["cost"]["marketing"]) > Decimal(stats["totals"]["cost"]["utility"])

    code, report = await run_command(config, job="sync", templates=tmp_path, api_url=api)
    assert (code, report) == (0, "number_quality    15550783881: - -> TIER_250 (quality GREEN)")
    code, report = await run_command(config, job="push", templates=pushed_folder(tmp_path / "again"), api_url=api)
    assert report == "unchanged order_delayed (en)\nunchanged payment_received (en)"


async def _both_reviewed(client: Client) -> bool:
    async with client.app[keys.REPOSITORY].engine.connect() as conn:
        word = await lifecycle.meta_word(conn)
    delayed, paid = word.get(("order_delayed", "en")), word.get(("payment_received", "en"))
    return bool(delayed and delayed.category == "marketing" and paid and paid.status == "REJECTED")
