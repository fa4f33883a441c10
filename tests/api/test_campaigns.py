"""Campaigns through the real app: create, dry-run, run once per occurrence, send only where allowed, control, log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.api.campaigns import CAMPAIGNER
from bot.app import create_app
from bot.inbound.dispatcher import DISPATCHER
from bot.message_templates.library import TEMPLATES
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.rate_card import example_rate_card
from storage.models import OUTBOX
from storage.session import load_sessions
from tests.api.test_app import ClientFactory, assert_error, post_webhook
from tests.conftest import FakeClock, envelope

Client = TestClient[web.Request, web.Application]
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OPTED_IN = ("31612345001", "31612345002", "5511912345678")
VALUES = {
    "customer_name": {"field": "name", "default": "there"}, "discount": "20%", "promo_code": "SPRING20",
    "expiry_date": "30 November",
}  # fmt: skip
PROMO = {"template": "promotion_code", "parameters": VALUES}


@pytest.fixture
def monday() -> FakeClock:
    return FakeClock(MONDAY)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, make_settings: Any, monday: FakeClock, transport: RecordingTransport
) -> Client:
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam", rate_card=example_rate_card())
    app = create_app(settings, clock=monday, transport=transport, migrate=True, roles={"web"})
    return await aiohttp_client(app)


async def call(client: Client, auth: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth)
    return resp.status, await resp.json()


async def contacts(client: Client, auth: dict[str, str]) -> None:
    """Three opted-in customers tagged spring, one who opted out, one never asked, and a US number."""
    for wa_id in OPTED_IN:
        body = {
            "wa_id": wa_id,
            "name": "Ana",
            "tags": ["spring"],
            "consent": {"marketing": "opt_in", "evidence": "form"},
        }
        assert (await call(client, auth, "POST", "/api/contacts", body))[0] == 201
    out = {"wa_id": "31612345003", "tags": ["spring"], "consent": {"marketing": "opt_out", "evidence": "email"}}
    never = {"wa_id": "31612345004", "tags": ["spring"]}
    american = {"wa_id": "14155552671", "tags": ["spring"], "consent": {"marketing": "opt_in", "evidence": "form"}}
    other = {"wa_id": "31612345005", "tags": ["autumn"], "consent": {"marketing": "opt_in", "evidence": "form"}}
    for body in (out, never, american, other):
        assert (await call(client, auth, "POST", "/api/contacts", body))[0] == 201


async def promotion(client: Client, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    template = next(t for t in client.server.app[TEMPLATES] if t.name == "promotion_code")
    values = {
        name: {"field": "name", "default": "there"} if name == "customer_name" else "X" for name in template.variables
    }
    body = {"name": "Spring sale", **PROMO, "parameters": values, "audience": {"tags": ["spring"]}, **extra}
    status, campaign = await call(client, auth, "POST", "/api/campaigns", body)
    assert status == 201, campaign
    return campaign


async def work(client: Client, rounds: int = 5) -> None:
    """Let the campaigner and the sender do their rounds, as their loops would."""
    app = client.server.app
    for _ in range(rounds):
        await app[CAMPAIGNER].run_once()
        await app[SENDER].run_once()


async def test_a_campaign_is_refused_unless_it_sends_a_marketing_template(client: Client, auth: dict[str, str]) -> None:
    """A utility template, an unknown one, a missing value, an unknown flow and a bad cron are each a clear 400."""
    cases = [
        ({"template": "shipping_window"}, "template 'shipping_window' is a utility template"),
        ({"template": "nope"}, "no template 'nope'; the marketing templates are"),
        ({"template": "promotion_code"}, "parameters lack customer_name, discount, promo_code, expiry_date"),
        ({**PROMO, "flow": "nowhere"}, "flow 'nowhere' does not exist"),
        ({**PROMO, "cron": "every monday"}, "cron"),
        ({**PROMO, "frequency_cap": 0}, "frequency_cap must be"),
    ]
    for body, message in cases:
        status, answer = await call(client, auth, "POST", "/api/campaigns", {"name": "x", **body})
        assert status == 400, (body, answer)
        assert message in assert_error(answer, "invalid_request"), body


async def test_a_campaign_with_three_bad_fields_gets_all_three_in_one_answer(
    client: Client, auth: dict[str, str]
) -> None:
    """A campaign body checked against its model answers 400 naming each wrong field, in the API's own words."""
    body = {"name": "x", **PROMO, "frequency_cap": 0, "audience": {"tags": ["vip", 3]}, "flow": []}
    status, answer = await call(client, auth, "POST", "/api/campaigns", body)
    assert status == 400, answer
    error = answer["error"]
    assert (error["code"], [f["field"] for f in error["fields"]]) == (
        "invalid_request",
        ["audience.tags[1]", "frequency_cap", "flow"],
    )
    assert error["fields"][1]["message"] == "frequency_cap must be a whole number of messages per 7 days, 1 to 50"
    assert error["message"] == f"audience.tags[1]: {error['fields'][0]['message']}"
    assert (await call(client, auth, "GET", "/api/campaigns"))[1]["items"] == []


async def test_a_test_send_whose_numbers_are_not_a_list_is_a_400_naming_wa_ids(
    client: Client, auth: dict[str, str]
) -> None:
    """`wa_ids` that is not a list of text is refused, naming the field, before any campaign is looked up."""
    campaign = await promotion(client, auth, test_numbers=["31612345001"])
    for wa_ids in ("31612345001", [31612345001]):
        status, answer = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/test", {"wa_ids": wa_ids})
        assert status == 400, answer
        assert assert_error(answer, "invalid_request").startswith("wa_ids")


async def test_dry_run_counts_recipients_suppressions_and_cost(client: Client, auth: dict[str, str]) -> None:
    """The dry run reaches the opted-in spring contacts, names why each other one is left out, and prices them."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, send_at="2026-12-01T10:00:00+01:00")
    status, report = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/dry-run")
    assert status == 200
    assert (report["audience"], report["would_send"]) == (6, 3)
    assert report["suppressed"] == {"opted_out": 1, "no_consent": 1, "us_number": 1}
    by_country = {c["country_calling_code"]: c for c in report["by_country"]}
    assert {code: c["recipients"] for code, c in by_country.items()} == {"31": 2, "55": 1}
    assert report["rate_card"]["example"] is True
    assert by_country["31"]["estimated_cost"] is not None


async def test_a_run_sends_only_to_opted_in_recipients(
    client: Client, auth: dict[str, str], monday: FakeClock, transport: RecordingTransport
) -> None:
    """At its time the run queues the audience; consent and Meta's +1 block decide at send time, all logged."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, send_at="2026-11-23T11:00:00+01:00")  # 10:00 UTC
    await work(client)
    assert (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]["progress"] == {}
    monday.advance(hours=1)
    await work(client)
    status, detail = await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}")
    assert status == 200
    assert [r["state"] for r in detail["runs"]] == ["queued"]
    assert detail["progress"] == {"sent": 3, "cancelled": 2, "failed": 1}
    assert detail["state"] == "completed"
    assert sorted(r.json["to"] for r in transport.requests) == sorted(OPTED_IN)  # Meta saw only these
    _, log = await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}/recipients")
    reasons = {item["wa_id"]: (item["status"], item["reason"]) for item in log["items"]}
    assert reasons == {
        "31612345001": ("sent", None), "31612345002": ("sent", None), "5511912345678": ("sent", None),
        "31612345003": ("cancelled", "opted_out"), "31612345004": ("cancelled", "no_consent"),
        "14155552671": ("failed", "us_number"),
    }  # fmt: skip
    assert {item["wa_id"]: item["name"] for item in log["items"]}["31612345001"] == "Ana"  # recipients by name


async def test_the_rate_spaces_only_recipients_expected_to_be_sent(client: Client, auth: dict[str, str]) -> None:
    """Recipients the send-time checks will drop are queued (their reasons logged) but take no send slot.

    Before, each took one: a campaign at `rate: 1000` whose audience had 15% without consent sent 850 a second.
    """
    dropped = [
        {"wa_id": "31612345003", "tags": ["spring"], "consent": {"marketing": "opt_out", "evidence": "email"}},
        {"wa_id": "31612345004", "tags": ["spring"]},
        {"wa_id": "14155552671", "tags": ["spring"], "consent": {"marketing": "opt_in", "evidence": "form"}},
    ]
    opted_in = [
        {"wa_id": wa_id, "tags": ["spring"], "consent": {"marketing": "opt_in", "evidence": "form"}}
        for wa_id in OPTED_IN
    ]
    for body in dropped + opted_in:  # the dropped first, so they come first in the audience
        assert (await call(client, auth, "POST", "/api/contacts", body))[0] == 201
    campaign = await promotion(client, auth, rate=0.001)  # one send every 1,000 s
    await client.server.app[CAMPAIGNER].run_once()
    _, log = await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}/recipients?status=queued")
    due = {item["wa_id"]: datetime.fromisoformat(item["due_at"]) for item in log["items"]}
    first = min(due.values())
    offsets = {wa_id: (at - first).total_seconds() for wa_id, at in due.items()}
    assert offsets == {
        "31612345003": 0, "31612345004": 0, "14155552671": 0,
        OPTED_IN[0]: 0, OPTED_IN[1]: 1000, OPTED_IN[2]: 2000,
    }  # fmt: skip


async def test_a_campaign_with_a_rate_is_queued_a_page_at_a_time_as_its_sends_come_near(
    client: Client, auth: dict[str, str], monday: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two contacts at one send a second: a page is queued once its first send is 2 s away, not before."""
    monkeypatch.setattr("bot.campaigns.runner.PAGE", 2)
    await contacts(client, auth)  # in id order: three opted in, then opted out, never asked, +1, another tag
    campaign = await promotion(client, auth, rate=1)
    campaigner = client.server.app[CAMPAIGNER]

    async def queued() -> list[str]:
        _, log = await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}/recipients")
        return sorted(item["wa_id"] for item in log["items"])

    for _ in range(4):
        await campaigner.run_once()
    # Page 1 (sends at +0 s and +1 s) and page 2 (its first send at +2 s); page 3 would start at +3 s.
    assert await queued() == sorted([*OPTED_IN, "31612345003"])
    monday.advance(seconds=1)
    for _ in range(3):
        await campaigner.run_once()
    assert await queued() == sorted([*OPTED_IN, "31612345003", "31612345004", "14155552671"])
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert [r["state"] for r in detail["runs"]] == ["queued"]  # the whole audience is queued


async def test_pause_holds_the_queue_and_resume_sends_it(client: Client, auth: dict[str, str]) -> None:
    """Paused, nothing more goes out; resumed, the rest is sent; cancelled, what is left never goes."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, rate=0.001)  # one message every 1,000 s: most wait their turn
    app = client.server.app
    await app[CAMPAIGNER].run_once()
    status, paused = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/pause")
    assert (status, paused["state"]) == (200, "paused")
    await work(client)
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert detail["progress"] == {"paused": 6}
    status, answer = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/pause")
    assert status == 409
    assert "is paused" in assert_error(answer, "conflict")
    await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/resume")
    await work(client)
    progress = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]["progress"]
    assert progress.get("sent") == 1  # the first is due now, the rest spaced 1,000 s apart
    status, cancelled = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/cancel")
    assert cancelled["state"] == "cancelled"
    progress = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]["progress"]
    assert progress.get("queued", 0) == 0
    assert progress["sent"] == 1


async def test_a_recurring_campaign_runs_once_per_occurrence(
    client: Client, auth: dict[str, str], monday: FakeClock
) -> None:
    """A weekly cron campaign runs at each Monday 10:00 in its zone, once, and the cap stops a third in a week."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, cron="0 11 * * MON", time_zone="Europe/Amsterdam", frequency_cap=1)
    assert campaign["next_run_at"].startswith("2026-11-23T10:00:00")  # 11:00 in Amsterdam
    monday.advance(hours=1)
    await work(client)
    await work(client)
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert len(detail["runs"]) == 1
    assert detail["progress"]["sent"] == 3
    monday.advance(days=7)
    await work(client)
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert len(detail["runs"]) == 2
    assert detail["progress"]["sent"] == 6  # a week later the cap allows one again
    assert detail["state"] == "running"


async def test_the_frequency_cap_counts_the_rolling_week(
    client: Client, auth: dict[str, str], monday: FakeClock
) -> None:
    """With a cap of one per 7 days, a second campaign the same week is cancelled for each recipient."""
    await contacts(client, auth)
    await promotion(client, auth, frequency_cap=1)
    await work(client)
    second = await promotion(client, auth, name="Second", frequency_cap=1)
    await work(client)
    _, log = await call(client, auth, "GET", f"/api/campaigns/{second['id']}/recipients", None)
    capped = [i for i in log["items"] if i["reason"] == "frequency_cap"]
    assert len(capped) == 3


async def test_test_sends_go_to_the_allow_list_only(client: Client, auth: dict[str, str]) -> None:
    """A test send to a number off the allow-list is refused; to one on it, it is queued now."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, send_at="2027-01-01T10:00:00Z", test_numbers=["31612345001"])
    status, answer = await call(
        client, auth, "POST", f"/api/campaigns/{campaign['id']}/test", {"wa_ids": ["31612345002"]}
    )
    assert status == 400
    assert "not on it: 31612345002" in assert_error(answer, "invalid_request")
    status, answer = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/test", {})
    assert (status, answer["queued"]) == (202, 1)


async def test_retry_failed_queues_the_failed_again(
    client: Client, auth: dict[str, str], monday: FakeClock, transport: RecordingTransport
) -> None:
    """Failed messages (here: Meta refused them) are queued again by retry-failed and sent."""
    await contacts(client, auth)
    error = (400, {"error": {"message": "x", "type": "OAuthException", "code": 131055, "fbtrace_id": "T"}})
    accepted = [(200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.retry.{n}"}]}) for n in range(3)]
    transport.answer(*[error] * 3, *accepted)
    campaign = await promotion(client, auth)
    await work(client)
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert detail["progress"]["failed"] == 4  # three refused by Meta, one +1 number
    status, answer = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/retry-failed")
    assert (status, answer) == (202, {"requeued": 4})
    monday.advance(seconds=1)
    await work(client)
    detail = (await call(client, auth, "GET", f"/api/campaigns/{campaign['id']}"))[1]
    assert detail["progress"] == {"sent": 3, "failed": 1, "cancelled": 2}


async def test_unknown_campaign_is_404(client: Client, auth: dict[str, str]) -> None:
    """Every route answers 404 for a campaign that does not exist, and 400 for an id that is not one."""
    for method, path in [("GET", "/api/campaigns/99"), ("POST", "/api/campaigns/99/pause"),
                         ("POST", "/api/campaigns/99/dry-run"), ("GET", "/api/campaigns/99/recipients")]:  # fmt: skip
        status, answer = await call(client, auth, method, path)
        assert status == 404, path
        assert "no campaign 99" in assert_error(answer, "not_found")
    status, _ = await call(client, auth, "GET", "/api/campaigns/abc")
    assert status == 400


async def test_campaigns_are_listed_newest_first_with_progress(client: Client, auth: dict[str, str]) -> None:
    """The list shows each campaign's state and counts."""
    await contacts(client, auth)
    await promotion(client, auth, send_at="2027-01-01T10:00:00Z")
    await promotion(client, auth, name="Later", send_at="2027-02-01T10:00:00Z")
    status, listed = await call(client, auth, "GET", "/api/campaigns")
    assert status == 200
    assert [(c["name"], c["state"], c["progress"]) for c in listed["items"]] == [
        ("Later", "scheduled", {}), ("Spring sale", "scheduled", {})
    ]  # fmt: skip
    assert listed["items"][0]["next_run_at"].startswith("2027-02-01")


async def test_a_tap_on_a_campaigns_quick_reply_enters_its_flow(client: Client, auth: dict[str, str]) -> None:
    """Shop now on the campaign's message starts the flow the campaign names, with the campaign in the session."""
    await contacts(client, auth)
    campaign = await promotion(client, auth, flow="orders")
    await work(client)
    app = client.server.app
    async with app[keys.REPOSITORY].engine.connect() as conn:
        row = (await conn.execute(select(OUTBOX).where(OUTBOX.c.recipient == OPTED_IN[0]))).one()
    tap = {
        "from": OPTED_IN[0], "id": "wamid.tap.shop", "timestamp": str(int(MONDAY.timestamp())), "type": "button",
        "context": {"from": "15550783881", "id": row.wamid}, "button": {"payload": "SHOP_NOW", "text": "Shop now"},
    }  # fmt: skip
    await post_webhook(
        client, envelope({"contacts": [{"profile": {"name": "Ana"}, "wa_id": OPTED_IN[0]}], "messages": [tap]})
    )
    await app[DISPATCHER].run_once()
    contact = await app[keys.REPOSITORY].contact_by_wa_id(OPTED_IN[0])
    assert contact is not None
    assert contact.id is not None
    async with app[keys.REPOSITORY].engine.connect() as conn:
        [current] = (await load_sessions(conn, [contact.id])).values()
    assert current.flow == "orders"
    assert current.slots is not None
    assert (current.slots["campaign"], current.slots["campaign_name"]) == (campaign["id"], "Spring sale")
    assert current.step == "ask_number"  # no recent orders: the orders flow asks for a number


async def test_quiet_hours_show_in_the_dry_run_and_do_not_hold_a_test(
    aiohttp_client: ClientFactory, make_settings: Any, auth: dict[str, str], transport: RecordingTransport
) -> None:
    """At 08:30 in Amsterdam, 04:30 in São Paulo: the dry run says who quiet hours hold, until when; a test goes."""
    from datetime import time

    from bot.settings import QuietHours

    settings = make_settings(business_timezone="Europe/Amsterdam", quiet_hours=QuietHours(time(21), time(8)))
    clock = FakeClock(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    client = await aiohttp_client(create_app(settings, clock=clock, transport=transport, migrate=True, roles={"web"}))
    await contacts(client, auth)
    campaign = await promotion(client, auth, send_at="2026-12-01T10:00:00+01:00", test_numbers=["5511912345678"])
    status, report = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/dry-run")
    assert status == 200, report
    assert report["summary"] == "3 would get it: 2 now, 1 held by quiet hours until 08:00 in their time zone"
    assert (report["would_send"], report["now"], report["held_by_quiet_hours"]) == (3, 2, 1)
    assert report["held"] == [
        {
            "until_local": "08:00",
            "time_zone": "America/Sao_Paulo",
            "recipients": 1,
            "until": "2026-11-23T11:00:00+00:00",
        }
    ]
    status, answer = await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/test")
    assert (status, answer) == (
        202, {"queued": 1, "note": "a test goes at once: quiet hours don't hold a test to the business's own numbers"}
    )  # fmt: skip
    await client.server.app[SENDER].run_once()
    assert [r.json["to"] for r in transport.requests] == ["5511912345678"]  # 04:30 there, and sent
    now = await promotion(client, auth, name="Now", send_at="2026-11-23T07:30:00+00:00")
    await work(client)
    _, log = await call(client, auth, "GET", f"/api/campaigns/{now['id']}/recipients?status=queued")
    assert [(r["wa_id"], r["reason"], r["due_at"]) for r in log["items"]] == [
        ("5511912345678", "quiet_hours", "2026-11-23T11:00:00+00:00")  # the recipients list says when it goes
    ]
