"""The dashboard's campaign pages: the list, the create form checked as the API checks, the preview, and control."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from markupsafe import escape
from sqlalchemy import select

from bot import keys
from bot.api.campaigns import CAMPAIGNER
from bot.app import create_app
from bot.dashboard.campaign_form import campaign_body
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.rate_card import example_rate_card
from storage.models import CONTACT, MESSAGE
from tests.api.test_app import ClientFactory, post_webhook
from tests.api.test_campaigns import MONDAY, call, contacts, work
from tests.conftest import FakeClock, status_webhook
from tests.dashboard.test_app import csrf_of, logged_in, post_form

Client = TestClient[web.Request, web.Application]
__all__ = ["logged_in"]  # the fixture, over this module's `client`
VARIABLES = ("customer_name", "discount", "promo_code", "expiry_date")
FORM = {
    "name": "Spring sale", "template": "promotion_code", "language": "en",
    "value_customer_name": "there", "field_customer_name": "name", "value_discount": "20%",
    "value_promo_code": "SPRING20", "value_expiry_date": "30 November", "tags": "spring", "schedule": "now",
    "time_zone": "Europe/Amsterdam", "confirm": "yes",
}  # fmt: skip


@pytest.fixture
def monday() -> FakeClock:
    return FakeClock(MONDAY)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, monday: FakeClock) -> Client:
    """The real app with the example rate card; no background loops, so a test moves the campaign itself."""
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam", rate_card=example_rate_card())
    app = create_app(settings, clock=monday, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


async def api_error(client: Client, auth: dict[str, str], fields: dict[str, str]) -> str:
    """What the admin API answers to the body this form would send."""
    status, answer = await call(client, auth, "POST", "/api/campaigns", campaign_body(fields, VARIABLES, "UTC"))
    assert status == 400, answer
    message: str = answer["error"]["message"]
    return message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"value_discount": ""}, "parameters lack discount for template 'promotion_code'"),
        ({"frequency_cap": "0"}, "frequency_cap must be a whole number of messages per 7 days, 1 to 50"),
        ({"schedule": "cron", "cron": "every monday"}, "cron"),
        ({"schedule": "at", "send_at": "tomorrow"}, "send_at 'tomorrow' is not an ISO 8601 time"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"test_numbers": "12ab"}, "test_numbers[]"),
    ],
)
async def test_a_wrong_form_shows_the_apis_own_message(
    logged_in: Client, auth: dict[str, str], change: dict[str, str], expected: str
) -> None:
    """Each mistake is shown next to the form in the API's words, the form keeps what was typed, nothing is stored."""
    fields = {**FORM, **change}
    message = await api_error(logged_in, auth, fields)
    assert expected in message
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**fields, "action": "create"})
    assert resp.status == 400
    page = await resp.text()
    assert f'<p class="error" role="alert" id="campaign-error">{escape(message)}</p>' in page
    assert 'value="Spring sale"' in page
    assert (await call(logged_in, auth, "GET", "/api/campaigns"))[1]["items"] == []


async def test_the_form_offers_marketing_templates_and_a_field_per_value(logged_in: Client) -> None:
    """Choosing a template shows its values, each typed or taken from the contact, and its preview from examples."""
    page = await (await logged_in.get("/dashboard/campaigns/new")).text()
    assert '<option value="promotion_code">promotion_code</option>' in page
    assert "shipping_window" not in page  # a utility template
    page = await (await logged_in.get("/dashboard/campaigns/new", params={"template": "promotion_code"})).text()
    for variable in VARIABLES:
        assert f'name="value_{variable}"' in page
        assert f'name="field_{variable}"' in page
    assert "Hi Lena, thanks for shopping with us. Enjoy 15% off" in page


async def test_preview_renders_the_message_and_creates_nothing(logged_in: Client, auth: dict[str, str]) -> None:
    """Preview fills the typed values in (contact fields show the example) and stores no campaign."""
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**FORM, "action": "preview"})
    assert resp.status == 200
    page = await resp.text()
    assert "Hi Lena, thanks for shopping with us. Enjoy 20% off your next order with code SPRING20" in page
    assert "valid until 30 November" in page
    assert (await call(logged_in, auth, "GET", "/api/campaigns"))[1]["items"] == []


async def test_the_form_creates_and_schedules_a_campaign(logged_in: Client, auth: dict[str, str]) -> None:
    """A time typed in the campaign's zone is stored with its offset; the values, audience and limits as the API's."""
    fields = {**FORM, "schedule": "at", "send_at": "2026-11-23T11:00", "frequency_cap": "3", "rate": "0.5"}
    fields["test_numbers"] = "31612345001, +31612345002"
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**fields, "action": "create"})
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/dashboard/campaigns/1?done=campaign_created"
    status, campaign = await call(logged_in, auth, "GET", "/api/campaigns/1")
    assert status == 200
    assert campaign["send_at"] == "2026-11-23T10:00:00+00:00"
    assert campaign["parameters"]["customer_name"] == {"field": "name", "default": "there"}
    assert campaign["audience"] == {"tags": ["spring"]}
    assert (campaign["frequency_cap"], campaign["rate"]) == (3, 0.5)
    assert campaign["test_numbers"] == ["31612345001", "31612345002"]
    page = await (await logged_in.get(resp.headers["Location"])).text()
    assert "The campaign is created and scheduled." in page
    assert 'id="campaign-state">scheduled<' in page
    assert "once, at 23 Nov 2026, 10:00 UTC" in page
    assert "http-equiv" not in page  # an hour before its start: nothing to watch yet
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**fields, "action": "create"})
    assert resp.status == 400
    assert "a campaign named &#39;Spring sale&#39; already exists" in await resp.text()


@pytest.mark.parametrize(
    ("send_at", "reloads"), [(None, True), ("2026-11-23T10:09", True), ("2026-11-23T10:11", False)]
)
async def test_a_campaign_about_to_start_reloads_until_it_starts(
    logged_in: Client, send_at: str | None, reloads: bool
) -> None:
    """Created for now or the next few minutes, the page reloads until the campaign runs, to show it starting.

    The dashboard shows the new campaign before the campaigner's next round has started it; a page that
    reloaded only while "running" stayed at "scheduled, 0 sent" for good (the clock here is 10:00 in Amsterdam).
    """
    fields = {**FORM, "schedule": "now"} if send_at is None else {**FORM, "schedule": "at", "send_at": send_at}
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**fields, "action": "create"})
    page = await (await logged_in.get(resp.headers["Location"])).text()
    assert 'id="campaign-state">scheduled<' in page
    refresh = '<meta http-equiv="refresh" content="5; url=/dashboard/campaigns/1">'
    assert (refresh in page, "reloads every 5 seconds until the campaign starts" in page) == (reloads, reloads)


async def test_the_list_shows_state_and_progress(logged_in: Client, auth: dict[str, str]) -> None:
    """Each campaign with its state and its messages counted, with a progress bar."""
    assert "No campaigns yet." in await (await logged_in.get("/dashboard/campaigns")).text()
    await contacts(logged_in, auth)
    await post_form(logged_in, "/dashboard/campaigns/new", {**FORM, "action": "create"})
    await work(logged_in)
    page = await (await logged_in.get("/dashboard/campaigns")).text()
    assert '<a href="/dashboard/campaigns/1">Spring sale</a>' in page
    assert '<span class="state state-completed">completed</span>' in page
    assert '<progress max="6" value="6"' in page
    assert "3 sent of 6" in page


async def test_the_detail_page_pauses_resumes_cancels_and_logs_recipients(
    logged_in: Client, auth: dict[str, str]
) -> None:
    """Controls move the campaign; one its state forbids says why; the log filters by status; it reloads running."""
    await contacts(logged_in, auth)
    await post_form(logged_in, "/dashboard/campaigns/new", {**FORM, "rate": "0.001", "action": "create"})
    await logged_in.server.app[CAMPAIGNER].run_once()
    page = await (await logged_in.get("/dashboard/campaigns/1")).text()
    assert '<meta http-equiv="refresh" content="5; url=/dashboard/campaigns/1">' in page
    assert 'id="campaign-state">running<' in page
    assert ">Pause</button>" in page
    assert ">Resume</button>" not in page

    resp = await post_form(logged_in, "/dashboard/campaigns/1/pause", {})
    assert resp.headers["Location"] == "/dashboard/campaigns/1?done=campaign_paused"
    page = await (await logged_in.get("/dashboard/campaigns/1")).text()
    assert 'id="campaign-state">paused<' in page
    assert "6 paused" in page
    assert "http-equiv" not in page
    assert (">Pause</button>" in page, ">Resume</button>" in page) == (False, True)
    resp = await post_form(logged_in, "/dashboard/campaigns/1/pause", {})
    assert resp.status == 409
    assert "Campaign 1 is paused; it cannot pause now" in await resp.text()

    assert (await post_form(logged_in, "/dashboard/campaigns/1/resume", {})).status == 303
    await work(logged_in)
    page = await (await logged_in.get("/dashboard/campaigns/1", params={"status": "sent"})).text()
    assert page.count('<td class="status-sent">sent</td>') == 1
    page = await (await logged_in.get("/dashboard/campaigns/1", params={"status": "queued"})).text()
    assert page.count('<td class="status-queued">queued</td>') == 5
    assert '<a href="/dashboard/contacts/31612345003">31612345003</a>' in page
    page = await (await logged_in.get("/dashboard/campaigns/1")).text()
    assert '<td><a href="/dashboard/contacts/31612345001">Ana</a></td>' in page  # recipients by name and number
    page = await (await post_form(logged_in, "/dashboard/campaigns/1/cancel", {})).text()
    assert "Cancel &#39;Spring sale&#39; for good?" in page  # the confirmation step: nothing cancelled yet
    assert 'id="campaign-state">running<' in await (await logged_in.get("/dashboard/campaigns/1")).text()
    assert (await post_form(logged_in, "/dashboard/campaigns/1/cancel", {"confirm": "yes"})).status == 303
    page = await (await logged_in.get("/dashboard/campaigns/1")).text()
    assert 'id="campaign-state">cancelled<' in page
    assert "0 queued" in page


async def test_send_now_asks_first_and_a_later_start_does_not(logged_in: Client, auth: dict[str, str]) -> None:
    """Creating a campaign that starts at once shows a confirmation carrying the form; only its button creates it."""
    unconfirmed = {k: v for k, v in FORM.items() if k != "confirm"}
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**unconfirmed, "action": "create"})
    page = await resp.text()
    assert resp.status == 200
    assert "Send &#39;Spring sale&#39; now?" in page
    assert '<input type="hidden" name="value_promo_code" value="SPRING20">' in page
    assert '<input type="hidden" name="confirm" value="yes">' in page
    assert (await call(logged_in, auth, "GET", "/api/campaigns"))[1]["items"] == []
    resp = await post_form(logged_in, "/dashboard/campaigns/new", {**unconfirmed, "action": "create", "confirm": "yes"})
    assert resp.headers["Location"] == "/dashboard/campaigns/1?done=campaign_created"
    later = {**unconfirmed, "name": "Later", "schedule": "at", "send_at": "2026-12-01T10:00", "action": "create"}
    assert (await post_form(logged_in, "/dashboard/campaigns/new", later)).status == 303


async def test_dry_run_retry_and_test_sends_from_the_detail_page(logged_in: Client, auth: dict[str, str]) -> None:
    """The dry run's report shows on the page; retry and test sends go through the campaigner's rules."""
    await contacts(logged_in, auth)
    fields = {**FORM, "schedule": "at", "send_at": "2026-12-01T10:00", "test_numbers": "31612345001"}
    await post_form(logged_in, "/dashboard/campaigns/new", {**fields, "action": "create"})
    resp = await post_form(logged_in, "/dashboard/campaigns/1/dry-run", {})
    assert resp.headers["Location"] == "/dashboard/campaigns/1?dry_run=1"  # kept in the URL, so reloads keep it
    resp = await logged_in.get(resp.headers["Location"])
    page = await resp.text()
    assert resp.status == 200
    assert "Of 6 contacts in the audience, 3 would get it now." in page
    assert "1 (opted out), 1 (no consent), 1 (us number)" in page
    assert "EXAMPLE figures" in page
    assert "<td>+31</td><td>2</td>" in page
    resp = await post_form(logged_in, "/dashboard/campaigns/1/test", {"wa_ids": "31612345002"})
    assert resp.status == 400
    assert "Test sends go only to the campaign&#39;s test_numbers; not on it: 31612345002" in await resp.text()
    resp = await post_form(logged_in, "/dashboard/campaigns/1/test", {"wa_ids": ""})
    assert resp.headers["Location"] == "/dashboard/campaigns/1?done=campaign_tested"
    resp = await post_form(logged_in, "/dashboard/campaigns/1/retry-failed", {})
    assert resp.headers["Location"] == "/dashboard/campaigns/1?done=campaign_retried"
    assert (await logged_in.get("/dashboard/campaigns/99")).status == 404


async def test_a_campaign_form_without_the_csrf_token_is_refused(logged_in: Client, auth: dict[str, str]) -> None:
    """Creating or pausing without the session's token is refused, and nothing is created or changed."""
    resp = await logged_in.post("/dashboard/campaigns/new", data={**FORM, "action": "create"}, allow_redirects=False)
    assert resp.status == 403
    assert "did not come from the dashboard" in await resp.text()
    assert (await call(logged_in, auth, "GET", "/api/campaigns"))[1]["items"] == []
    await post_form(logged_in, "/dashboard/campaigns/new", {**FORM, "schedule": "at", "send_at": "2026-12-01T10:00"})
    resp = await logged_in.post("/dashboard/campaigns/1/cancel", data={"csrf": "x"}, allow_redirects=False)
    assert resp.status == 403
    assert (await call(logged_in, auth, "GET", "/api/campaigns/1"))[1]["state"] == "scheduled"
    assert await csrf_of(logged_in, "/dashboard/campaigns/1")


async def test_the_campaign_page_and_the_overview_show_messages_and_cost_by_category(
    logged_in: Client, auth: dict[str, str]
) -> None:
    """Delivered messages are priced (Meta's pricing, else the rate card) on the campaign's page and the overview."""
    await contacts(logged_in, auth)
    await post_form(logged_in, "/dashboard/campaigns/new", {**FORM, "action": "create"})
    assert "Nothing sent yet." in await (await logged_in.get("/dashboard/campaigns/1")).text()
    await work(logged_in)
    outbound = (
        select(MESSAGE.c.wamid, CONTACT.c.wa_id)
        .join(CONTACT, CONTACT.c.id == MESSAGE.c.contact_id)
        .where(MESSAGE.c.direction == "out")
    )
    async with logged_in.server.app[keys.REPOSITORY].engine.connect() as conn:
        sent = (await conn.execute(outbound)).all()
    assert len(sent) == 3
    pricing = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    for wamid, wa_id in sent:
        await post_webhook(logged_in, status_webhook(wamid, "delivered", recipient=wa_id, pricing=pricing))
    page = await (await logged_in.get("/dashboard/campaigns/1")).text()
    marketing = '<tr><td><span class="badge badge-marketing">marketing</span></td>'
    row = re.search(rf"{marketing}<td>3</td><td>3</td><td>0</td><td>3</td><td>([0-9.]+)</td></tr>", page)
    assert row is not None, page
    assert float(row[1]) > 0
    assert "EXAMPLE figures" in page
    page = await (await logged_in.get("/dashboard/")).text()
    assert f"{marketing}<td>3</td><td>3</td><td>3</td><td>3</td><td>{row[1]}</td></tr>" in page
