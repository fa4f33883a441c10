"""Specification of bot.sandbox.app: the fake Graph API, Meta's limits, status webhooks and the customer simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from bot.errors import PairRateLimited, ReEngagementRequired, ThroughputExceeded
from bot.sandbox.app import SANDBOX_IO, SANDBOX_STATE, SandboxState, StatusDelays, setup_sandbox
from bot.sandbox.rules import (
    FREE_SERVICE_PER_MONTH,
    PairBucket,
    Pricing,
    ServiceCount,
    ThroughputWindow,
    service_pricing,
    template_pricing,
)
from bot.settings import Settings
from bot.whatsapp.client import AiohttpTransport, CloudAPIClient
from bot.whatsapp.message_body import buttons_message, list_message, read_receipt, template_message, text_message
from bot.whatsapp.signature import HEADER, verify
from bot.whatsapp.webhook_parser import InboundMessage, parse_payload

SECRET = "test-app-secret"
PHONE_ID = "106540352242922"
ALICE = "16505551234"
BOB = "447700900123"
SEND_PATH = f"/sandbox/v25.0/{PHONE_ID}/messages"
AUTH = {"Authorization": "Bearer sandbox-token"}
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
NO_DELAYS = StatusDelays(0, 0, 0)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(throughput: int = 80) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        admin_token="admin",
        secret_key="key",
        access_token=None,
        phone_number_id=PHONE_ID,
        app_secret=SECRET,
        verify_token="verify",
        api_url=None,
        api_version="v25.0",
        throughput=throughput,
    )


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Hook:
    """The stand-in ``/webhook``: checks each signature, records the raw body, answers ``answers`` in turn."""

    bodies: list[bytes] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(SECRET, raw, request.headers.get(HEADER)):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        self.bodies.append(raw)
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text="refused" if status != 200 else "ok")

    def statuses(self) -> list[dict[str, Any]]:
        return [s for b in self.bodies for s in json.loads(b)["entry"][0]["changes"][0]["value"].get("statuses", [])]

    def last_inbound(self) -> InboundMessage:
        """The latest customer message as the service's parser reads it (statuses may arrive after it)."""
        return [m for b in self.bodies for m in parse_payload(b).messages][-1]

    def messages(self) -> list[dict[str, Any]]:
        return [m for b in self.bodies for m in json.loads(b)["entry"][0]["changes"][0]["value"].get("messages", [])]


@dataclass
class Sandbox:
    client: TestClient[Any, Any]
    hook: Hook
    clock: FakeClock
    state: SandboxState

    async def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.client.post(SEND_PATH, json=body, headers=AUTH if headers is None else headers)
        return response.status, await response.json()

    async def customer(self, wa_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await self.client.post(f"/sandbox/users/{wa_id}/messages", json=body)
        return response.status, await response.json()

    async def chat(self, wa_id: str, **params: str) -> tuple[int, Any]:
        response = await self.client.get(f"/sandbox/users/{wa_id}/messages", params=params)
        return response.status, await response.json()

    async def settle(self) -> None:
        """Wait until every status report spawned so far has been posted."""
        async with asyncio.timeout(5):
            await asyncio.gather(*self.client.app[SANDBOX_IO].tasks)

    def cloud_client(self) -> CloudAPIClient:
        return CloudAPIClient(
            transport=AiohttpTransport(self.client.session),
            base_url=str(self.client.make_url("/sandbox")),
            version="v25.0",
            phone_number_id=PHONE_ID,
            access_token="sandbox-token",
        )


@pytest.fixture
def make_sandbox(aiohttp_client: ClientFactory) -> Callable[..., Awaitable[Sandbox]]:
    async def make(throughput: int = 80, delays: StatusDelays = NO_DELAYS) -> Sandbox:
        hook, clock = Hook(), FakeClock()
        app = web.Application()
        setup_sandbox(app, make_settings(throughput), clock=clock)
        app.router.add_post("/webhook", hook.handle)
        state = app[SANDBOX_STATE]
        state.status_delays = delays
        state.webhook_retry_delays = (0.01, 0.01)
        client = await aiohttp_client(app)
        return Sandbox(client, hook, clock, state)

    return make


@pytest.fixture
async def sandbox(make_sandbox: Callable[..., Awaitable[Sandbox]]) -> Sandbox:
    return await make_sandbox()


# --- the fake Graph API -----------------------------------------------------------------------------


async def test_send_answers_with_metas_shape(sandbox: Sandbox) -> None:
    """An accepted send answers Meta's body: the input as given, the normalised wa_id and a wamid."""
    await sandbox.customer(ALICE, {"text": "hi"})
    status, body = await sandbox.send(text_message("+1 650-555-1234", "Hello"))
    assert status == 200
    assert body == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+1 650-555-1234", "wa_id": ALICE}],
        "messages": [{"id": body["messages"][0]["id"]}],
    }
    assert body["messages"][0]["id"].startswith("wamid.")


async def test_wamids_are_unique(sandbox: Sandbox) -> None:
    """Every message, the bot's and the customer's, gets its own wamid."""
    wamids = [(await sandbox.customer(ALICE, {"text": f"m{i}"}))[1]["wamid"] for i in range(10)]
    for i in range(10):
        wamids.append((await sandbox.send(text_message(ALICE, f"r{i}")))[1]["messages"][0]["id"])
    assert len(set(wamids)) == 20


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}])
async def test_send_without_a_bearer_token_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    """A send without a non-empty bearer token is refused with 401 and Meta's OAuth error 190."""
    status, body = await sandbox.send(text_message(ALICE, "hi"), headers=headers)
    assert status == 401
    assert body["error"]["code"] == 190
    assert body["error"]["type"] == "OAuthException"
    assert body["error"]["fbtrace_id"]


async def test_wrong_phone_number_id_is_code_100(sandbox: Sandbox) -> None:
    """A send to another phone number id answers 400 with Meta's "Unsupported post request" (code 100)."""
    response = await sandbox.client.post("/sandbox/v25.0/999/messages", json=text_message(ALICE, "x"), headers=AUTH)
    body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == 100
    assert body["error"]["error_subcode"] == 33
    assert "'999'" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": ALICE, "type": "text", "text": {"body": "x"}}, 100),
        ({"messaging_product": "sms", "to": ALICE, "text": {"body": "x"}}, 100),
        ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}, 100),
        ({"messaging_product": "whatsapp", "to": ALICE, "type": "fax", "fax": {}}, 100),
        ({"messaging_product": "whatsapp", "to": ALICE, "type": "text", "text": {}}, 100),
        ({"messaging_product": "whatsapp", "to": "12ab", "type": "text", "text": {"body": "x"}}, 100),
        ({"messaging_product": "whatsapp", "to": ALICE, "type": "template", "template": {"name": "x"}}, 100),
        (
            {
                "messaging_product": "whatsapp",
                "to": ALICE,
                "type": "interactive",
                "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": []}},
            },
            131009,
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": ALICE,
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "x"},
                    "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "http://x.example"}},
                },
            },
            131009,
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": ALICE,
                "type": "interactive",
                "interactive": {"type": "location_request_message", "body": {"text": "x"}, "action": {"name": "x"}},
            },
            131009,
        ),
    ],
)
async def test_malformed_sends_get_metas_errors(sandbox: Sandbox, body: dict[str, Any], code: int) -> None:
    """A body Meta would not accept answers 400 with Meta's error shape and code."""
    await sandbox.customer(ALICE, {"text": "hi"})
    status, answer = await sandbox.send(body)
    assert status == 400
    assert answer["error"]["code"] == code
    assert set(answer["error"]) >= {"message", "type", "code", "fbtrace_id"}


async def test_free_form_needs_the_customer_service_window(sandbox: Sandbox) -> None:
    """A free-form message to a customer who never wrote, or wrote over 24 h ago, is 131047; inside it is accepted."""
    status, body = await sandbox.send(text_message(ALICE, "hi"))
    assert status == 400
    assert body == {
        "error": {
            "message": "Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Message failed to send because more than 24 hours have passed since the customer "
                "last replied to this number.",
            },
            "fbtrace_id": body["error"]["fbtrace_id"],
        }
    }
    await sandbox.customer(ALICE, {"text": "hello"})
    sandbox.clock.advance(hours=23, minutes=59)
    assert (await sandbox.send(text_message(ALICE, "inside")))[0] == 200
    sandbox.clock.advance(minutes=2)
    status, body = await sandbox.send(text_message(ALICE, "outside"))
    assert (status, body["error"]["code"]) == (400, 131047)
    assert (await sandbox.send(template_message(ALICE, "order_update", "en")))[0] == 200


async def test_the_real_client_maps_sandbox_errors_to_typed_errors(sandbox: Sandbox) -> None:
    """The bot's own Cloud API client, sending to the sandbox, gets the typed errors of Meta's codes."""
    client = sandbox.cloud_client()
    with pytest.raises(ReEngagementRequired):
        await client.send(text_message(ALICE, "hi"))
    result = await client.send(template_message(ALICE, "order_update", "en"))
    assert result.wamid.startswith("wamid.")
    assert result.wa_id == ALICE


async def test_throughput_over_the_limit_is_130429(make_sandbox: Callable[..., Awaitable[Sandbox]]) -> None:
    """More sends in one second than the number's throughput answer 400 with code 130429 until the second passes."""
    sandbox = await make_sandbox(throughput=3)
    for _ in range(3):
        assert (await sandbox.send(template_message(ALICE, "t", "en")))[0] == 200
    status, body = await sandbox.send(template_message(BOB, "t", "en"))
    assert (status, body["error"]["code"]) == (400, 130429)
    assert body["error"]["error_data"]["details"] == "Cloud API message throughput has been reached."
    with pytest.raises(ThroughputExceeded):
        await sandbox.cloud_client().send(template_message(BOB, "t", "en"))
    sandbox.clock.advance(seconds=1)
    assert (await sandbox.send(template_message(BOB, "t", "en")))[0] == 200


async def test_inbound_messages_count_towards_throughput(make_sandbox: Callable[..., Awaitable[Sandbox]]) -> None:
    """Customers' messages share the number's throughput (Meta counts both ways) though they are never refused."""
    sandbox = await make_sandbox(throughput=2)
    for text in ("one", "two", "three"):
        assert (await sandbox.customer(ALICE, {"text": text}))[0] == 200
    status, body = await sandbox.send(text_message(ALICE, "reply"))
    assert (status, body["error"]["code"]) == (400, 130429)


async def test_pair_rate_limits_one_recipient_only(sandbox: Sandbox) -> None:
    """After a burst of 45 to one user the next is 131056, another user is unaffected, and 6 s buys one more."""
    for _ in range(45):
        assert (await sandbox.send(template_message(ALICE, "t", "en")))[0] == 200
    status, body = await sandbox.send(template_message(ALICE, "t", "en"))
    assert (status, body["error"]["code"]) == (400, 131056)
    with pytest.raises(PairRateLimited):
        await sandbox.cloud_client().send(template_message(ALICE, "t", "en"))
    assert (await sandbox.send(template_message(BOB, "t", "en")))[0] == 200
    sandbox.clock.advance(seconds=6)
    assert (await sandbox.send(template_message(ALICE, "t", "en")))[0] == 200
    assert (await sandbox.send(template_message(ALICE, "t", "en")))[1]["error"]["code"] == 131056


# --- status webhooks --------------------------------------------------------------------------------


async def test_statuses_arrive_signed_in_order_with_pmp_pricing(sandbox: Sandbox) -> None:
    """Each accepted message is reported sent, delivered and read, signed, with PMP pricing on sent and delivered."""
    await sandbox.customer(ALICE, {"text": "hi"})
    _, body = await sandbox.send({**text_message(ALICE, "Hello"), "biz_opaque_callback_data": "tag-1"})
    wamid = body["messages"][0]["id"]
    await sandbox.settle()
    assert sandbox.hook.bad_signatures == 0
    statuses = sandbox.hook.statuses()
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    service = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    for status in statuses:
        assert status["id"] == wamid
        assert status["recipient_id"] == ALICE
        assert status["timestamp"] == str(int(START.timestamp()))
        assert status["biz_opaque_callback_data"] == "tag-1"
    assert [s.get("pricing") for s in statuses] == [service, service, None]
    parsed = parse_payload(sandbox.hook.bodies[-1])
    assert parsed.object == "whatsapp_business_account"
    assert [(s.wamid, s.status, s.phone_number_id) for s in parsed.statuses] == [(wamid, "read", PHONE_ID)]
    _, chat = await sandbox.chat(ALICE)
    assert chat["items"][-1]["status"] == "read"


async def test_templates_are_priced_by_their_category(sandbox: Sandbox) -> None:
    """A template is billed as "regular" in the category the lookup gives it; an unknown template is utility."""
    sandbox.state.template_category = {"summer_sale": "MARKETING", "login_code": "authentication"}.get
    for name in ("summer_sale", "login_code", "order_update"):
        await sandbox.send(template_message(ALICE, name, "en"))
    await sandbox.settle()
    sent = [s["pricing"] for s in sandbox.hook.statuses() if s["status"] == "sent"]
    assert [(p["category"], p["billable"], p["type"]) for p in sent] == [
        ("marketing", True, "regular"),
        ("authentication", True, "regular"),
        ("utility", True, "regular"),
    ]
    _, chat = await sandbox.chat(ALICE)
    assert [i["template"]["category"] for i in chat["items"]] == ["marketing", "authentication", "utility"]


async def test_service_messages_are_free_for_the_first_thousand_each_month(sandbox: Sandbox) -> None:
    """The 1,000th service message of a month is free, the 1,001st billed, and a new month starts free again."""
    await sandbox.customer(ALICE, {"text": "hi"})
    sandbox.state.service_count = ServiceCount((2026, 11), FREE_SERVICE_PER_MONTH - 1)
    await sandbox.send(text_message(ALICE, "last free"))
    await sandbox.send(text_message(ALICE, "first billed"))
    sandbox.clock.now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    await sandbox.customer(ALICE, {"text": "still there?"})
    sandbox.clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    await sandbox.send(text_message(ALICE, "new month"))
    await sandbox.settle()
    sent = [s["pricing"] for s in sandbox.hook.statuses() if s["status"] == "sent"]
    assert [(p["billable"], p["type"]) for p in sent] == [
        (False, "free_customer_service"),
        (True, "regular"),
        (False, "free_customer_service"),
    ]


async def test_a_failing_webhook_is_retried_then_logged(sandbox: Sandbox) -> None:
    """A status post that fails is retried with backoff; when every attempt fails it is logged, never raised."""
    sandbox.hook.answers = [500, 503]
    await sandbox.send(template_message(ALICE, "t", "en"))
    await sandbox.settle()
    assert [s["status"] for s in sandbox.hook.statuses()] == ["sent", "sent", "sent", "delivered", "read"]
    sandbox.hook.answers = [500] * 9
    with capture_logs() as logs:
        await sandbox.send(template_message(BOB, "t", "en"))
        await sandbox.settle()
    failed = [e for e in logs if e["event"] == "sandbox.webhook_failed"]
    assert failed[0]["attempts"] == 3
    assert failed[0]["outcome"] == "HTTP 500"


async def test_shutdown_cancels_pending_status_reports(
    make_sandbox: Callable[..., Awaitable[Sandbox]],
) -> None:
    """Status reports still waiting when the app stops are cancelled and awaited, and none is posted."""
    sandbox = await make_sandbox(delays=StatusDelays(60, 60, 60))
    await sandbox.send(template_message(ALICE, "t", "en"))
    io = sandbox.client.app[SANDBOX_IO]
    tasks = set(io.tasks)
    assert len(tasks) == 1
    await sandbox.client.close()
    assert all(t.cancelled() for t in tasks)
    assert not io.tasks
    assert sandbox.hook.statuses() == []


# --- read receipts ----------------------------------------------------------------------------------


async def test_read_receipt_marks_the_customers_messages_read(sandbox: Sandbox) -> None:
    """A read receipt answers {"success": true} and marks that message and the earlier ones read."""
    first = (await sandbox.customer(ALICE, {"text": "one"}))[1]["wamid"]
    second = (await sandbox.customer(ALICE, {"text": "two"}))[1]["wamid"]
    third = (await sandbox.customer(ALICE, {"text": "three"}))[1]["wamid"]
    status, body = await sandbox.send(read_receipt(second, typing=True))
    assert (status, body) == (200, {"success": True})
    _, chat = await sandbox.chat(ALICE)
    assert {i["wamid"]: i["status"] for i in chat["items"]} == {
        first: "read",
        second: "read",
        third: "delivered",
    }
    assert chat["typing"] is True
    await sandbox.send(text_message(ALICE, "answer"))
    assert (await sandbox.chat(ALICE))[1]["typing"] is False


async def test_read_receipt_for_an_unknown_message_is_code_100(sandbox: Sandbox) -> None:
    """Marking read a wamid the customer never sent answers 400 with code 100."""
    status, body = await sandbox.send(read_receipt("wamid.nope"))
    assert (status, body["error"]["code"]) == (400, 100)


# --- the customer simulator -------------------------------------------------------------------------


async def test_customer_text_arrives_as_metas_inbound_webhook(sandbox: Sandbox) -> None:
    """A customer's text reaches /webhook signed, in Meta's envelope, and parses to one text message."""
    status, body = await sandbox.customer(ALICE, {"text": "héllo 👋 a/b", "name": "Sheena"})
    assert status == 200
    raw = sandbox.hook.bodies[-1]
    assert b"\\u00e9" in raw
    assert b"a\\/b" in raw
    value = json.loads(raw)["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PHONE_ID
    assert value["contacts"] == [{"profile": {"name": "Sheena"}, "wa_id": ALICE}]
    parsed = parse_payload(raw)
    assert len(parsed.messages) == 1
    message = parsed.messages[0]
    assert (message.wamid, message.wa_id, message.type, message.text) == (body["wamid"], ALICE, "text", "héllo 👋 a/b")
    assert (message.profile_name, message.phone_number_id, message.timestamp) == ("Sheena", PHONE_ID, START)


async def test_customer_taps_a_reply_button(sandbox: Sandbox) -> None:
    """A tap on the bot's reply button arrives as interactive button_reply with the button's title and context."""
    await sandbox.customer(ALICE, {"text": "hi"})
    buttons = buttons_message(ALICE, "Confirm?", [("confirm-yes", "Yes, confirm"), ("confirm-no", "No")])
    bot_wamid = (await sandbox.send(buttons))[1]["messages"][0]["id"]
    status, _ = await sandbox.customer(ALICE, {"button": "confirm-yes"})
    assert status == 200
    raw = sandbox.hook.messages()[-1]
    assert raw["type"] == "interactive"
    assert raw["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "confirm-yes", "title": "Yes, confirm"},
    }
    parsed = sandbox.hook.last_inbound()
    assert (parsed.type, parsed.text, parsed.reply_id, parsed.context_wamid) == (
        "interactive",
        "Yes, confirm",
        "confirm-yes",
        bot_wamid,
    )


async def test_a_tap_takes_the_title_from_the_latest_message_with_that_button(sandbox: Sandbox) -> None:
    """When two of the bot's messages share a button id, the tap answers the latest one."""
    await sandbox.customer(ALICE, {"text": "hi"})
    await sandbox.send(buttons_message(ALICE, "First", [("ok", "Old title")]))
    latest = (await sandbox.send(buttons_message(ALICE, "Second", [("ok", "New title")])))[1]["messages"][0]["id"]
    await sandbox.customer(ALICE, {"button": "ok"})
    raw = sandbox.hook.messages()[-1]
    assert raw["interactive"]["button_reply"]["title"] == "New title"
    assert raw["context"]["id"] == latest


async def test_customer_picks_a_list_row(sandbox: Sandbox) -> None:
    """A pick from the bot's list arrives as interactive list_reply with the row's id, title and description."""
    await sandbox.customer(ALICE, {"text": "hi"})
    slots = list_message(ALICE, "Pick a time", "Times", [(None, [("slot-0930", "09:30", "Tuesday morning")])])
    await sandbox.send(slots)
    assert (await sandbox.customer(ALICE, {"list": "slot-0930"}))[0] == 200
    raw = sandbox.hook.messages()[-1]
    assert raw["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "slot-0930", "title": "09:30", "description": "Tuesday morning"},
    }
    parsed = sandbox.hook.last_inbound()
    assert (parsed.type, parsed.text, parsed.reply_id) == ("interactive", "09:30", "slot-0930")


async def test_customer_taps_a_template_quick_reply(sandbox: Sandbox) -> None:
    """A tap on a template's quick-reply button arrives as type button with its payload."""
    promo = template_message(ALICE, "summer_sale", "en", button_params=[("quick_reply", 0, ["STOP_PROMOTIONS"])])
    await sandbox.send(promo)
    assert (await sandbox.customer(ALICE, {"button": "STOP_PROMOTIONS"}))[0] == 200
    raw = sandbox.hook.messages()[-1]
    assert raw["type"] == "button"
    assert raw["button"] == {"payload": "STOP_PROMOTIONS", "text": "STOP_PROMOTIONS"}
    parsed = sandbox.hook.last_inbound()
    assert (parsed.type, parsed.reply_id) == ("button", "STOP_PROMOTIONS")


@pytest.mark.parametrize("wa_id", ["12345", "1234567890123456", "1650555abcd", "+16505551234"])
async def test_an_invalid_wa_id_is_400(sandbox: Sandbox, wa_id: str) -> None:
    """A wa_id that is not 6 to 15 digits is refused with 400 and an error naming it."""
    status, body = await sandbox.customer(wa_id, {"text": "hi"})
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert repr(wa_id) in body["error"]["message"]
    assert (await sandbox.chat(wa_id))[0] == 400


@pytest.mark.parametrize(("body", "named"), [({"button": "nope"}, "'nope'"), ({"list": "row-x"}, "'row-x'")])
async def test_an_unknown_button_or_row_is_400(sandbox: Sandbox, body: dict[str, str], named: str) -> None:
    """A tap on a button or row the bot never sent is refused with 400 naming the id, and nothing is posted."""
    status, answer = await sandbox.customer(ALICE, body)
    assert status == 400
    assert named in answer["error"]["message"]
    assert sandbox.hook.bodies == []


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "a", "button": "b"}, {"text": 5}, {"text": "a", "name": ""}, ["text"]]
)
async def test_a_malformed_customer_message_is_400(sandbox: Sandbox, body: Any) -> None:
    """The simulator takes exactly one of text, button or list, as a non-empty string."""
    response = await sandbox.client.post(f"/sandbox/users/{ALICE}/messages", json=body)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"


async def test_a_refusing_webhook_makes_the_simulator_answer_502(sandbox: Sandbox) -> None:
    """When /webhook answers non-200 the simulator answers 502 with that status and body, and marks it failed."""
    sandbox.hook.answers = [503]
    status, body = await sandbox.customer(ALICE, {"text": "hi"})
    assert status == 502
    assert "503" in body["error"]["message"]
    assert "refused" in body["error"]["message"]
    assert (await sandbox.chat(ALICE))[1]["items"][0]["status"] == "failed"


# --- the chat -------------------------------------------------------------------------------------


async def test_chat_history_lists_both_sides_oldest_first(sandbox: Sandbox) -> None:
    """The chat shows the customer's and the bot's messages in order, with template and interactive details."""
    inbound = (await sandbox.customer(ALICE, {"text": "hi"}))[1]["wamid"]
    sandbox.clock.advance(seconds=5)
    await sandbox.send(buttons_message(ALICE, "Pick one", [("a", "A"), ("b", "B")]))
    await sandbox.send(template_message(ALICE, "order_update", "en_US", body_params=["Ana", "#123"]))
    await sandbox.settle()
    status, chat = await sandbox.chat(ALICE)
    assert status == 200
    first, buttons, template = chat["items"]
    assert first == {
        "direction": "in",
        "wamid": inbound,
        "timestamp": "2026-11-02T10:00:00+00:00",
        "type": "text",
        "text": "hi",
        "template": None,
        "interactive": None,
        "status": "delivered",
        "pricing": None,
    }
    assert (buttons["direction"], buttons["type"], buttons["text"], buttons["status"]) == (
        "out",
        "interactive",
        "Pick one",
        "read",
    )
    assert buttons["interactive"]["action"]["buttons"][1]["reply"] == {"id": "b", "title": "B"}
    assert buttons["timestamp"] == "2026-11-02T10:00:05+00:00"
    assert template["text"] == "order_update: Ana, #123"
    assert {k: template["template"][k] for k in ("name", "category", "language", "parameters")} == {
        "name": "order_update",
        "category": "utility",
        "language": "en_US",
        "parameters": ["Ana", "#123"],
    }


async def test_chat_history_after_a_wamid_returns_only_newer_items(sandbox: Sandbox) -> None:
    """``?after=<wamid>`` returns only the messages after it; an unknown wamid is 404."""
    first = (await sandbox.customer(ALICE, {"text": "one"}))[1]["wamid"]
    second = (await sandbox.customer(ALICE, {"text": "two"}))[1]["wamid"]
    _, chat = await sandbox.chat(ALICE, after=first)
    assert [i["wamid"] for i in chat["items"]] == [second]
    assert (await sandbox.chat(ALICE, after=second))[1]["items"] == []
    status, body = await sandbox.chat(ALICE, after="wamid.unknown")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await sandbox.chat(BOB))[1] == {"items": [], "typing": False}


async def test_users_lists_every_customer_latest_first(sandbox: Sandbox) -> None:
    """``GET /sandbox/users`` lists the customers the sandbox has seen, the latest chat first."""
    await sandbox.customer(ALICE, {"text": "hi"})
    sandbox.clock.advance(seconds=1)
    await sandbox.send(template_message(BOB, "t", "en"))
    response = await sandbox.client.get("/sandbox/users")
    assert (await response.json())["items"] == [
        {"wa_id": BOB, "name": "Sandbox User", "last_message_at": "2026-11-02T10:00:01+00:00", "known": False},
        {"wa_id": ALICE, "name": "Sandbox User", "last_message_at": "2026-11-02T10:00:00+00:00", "known": False},
    ]


async def test_the_chat_page_and_its_files_are_served(sandbox: Sandbox) -> None:
    """``GET /sandbox`` serves the chat page, which loads its script and style from /sandbox/static."""
    response = await sandbox.client.get("/sandbox")
    page = await response.text()
    assert response.status == 200
    assert response.content_type == "text/html"
    for path in ("/sandbox/static/sandbox.js", "/sandbox/static/sandbox.css"):
        assert path in page
        assert (await sandbox.client.get(path)).status == 200


# --- the pure rules ---------------------------------------------------------------------------------


def test_pair_bucket_allows_a_burst_of_45_then_one_per_6_seconds() -> None:
    """The pair-rate bucket takes 45 at once, then refills one token every 6 s, never above 45."""
    bucket: PairBucket | None = PairBucket.full(START)
    for _ in range(45):
        assert bucket is not None
        bucket = bucket.take(START)
    assert bucket is not None
    assert bucket.take(START) is None
    assert bucket.take(START + timedelta(seconds=5.9)) is None
    after_six = bucket.take(START + timedelta(seconds=6))
    assert after_six is not None
    assert after_six.take(START + timedelta(seconds=6)) is None
    assert bucket.at(START + timedelta(hours=1)).tokens == 45


def test_pair_bucket_ignores_a_clock_going_back() -> None:
    """A clock that steps back neither refills nor drains the bucket."""
    bucket = PairBucket(0.5, START)
    assert bucket.at(START - timedelta(minutes=5)) == bucket


def test_throughput_window_slides_over_any_second() -> None:
    """The throughput limit holds over any one-second window, not per calendar second."""
    window = ThroughputWindow(2)
    window.record(START + timedelta(seconds=0.6))
    window.record(START + timedelta(seconds=0.9))
    assert not window.allows(START + timedelta(seconds=1.2))
    assert not window.allows(START + timedelta(seconds=1.59))
    assert window.allows(START + timedelta(seconds=1.6))


def test_service_count_restarts_each_calendar_month() -> None:
    """Service messages are counted per UTC calendar month."""
    count = ServiceCount().plus_one(START).plus_one(START)
    assert count.used(START) == 2
    assert count.used(datetime(2026, 12, 1, tzinfo=UTC)) == 0
    assert count.plus_one(datetime(2026, 12, 1, tzinfo=UTC)).used(datetime(2026, 12, 31, tzinfo=UTC)) == 1


def test_service_pricing_bills_after_the_free_tier_since_october_2026() -> None:
    """Free-form messages were free before October 2026; since then the first 1,000 a month are."""
    free = Pricing("service", False, "free_customer_service")
    assert service_pricing(5000, datetime(2026, 9, 30, tzinfo=UTC)) == free
    assert service_pricing(FREE_SERVICE_PER_MONTH - 1, START) == free
    assert service_pricing(FREE_SERVICE_PER_MONTH, START) == Pricing("service", True, "regular")


def test_template_pricing_follows_the_category() -> None:
    """Templates are billed by category; utility inside the window was free only before October 2026."""
    before = datetime(2026, 9, 1, tzinfo=UTC)
    assert template_pricing("marketing", in_window=True, now=before) == Pricing("marketing", True, "regular")
    assert template_pricing("utility", in_window=True, now=before) == Pricing("utility", False, "free_customer_service")
    assert template_pricing("utility", in_window=False, now=before) == Pricing("utility", True, "regular")
    assert template_pricing("utility", in_window=True, now=START) == Pricing("utility", True, "regular")
    assert Pricing("authentication", True, "regular").as_json() == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "authentication",
        "type": "regular",
    }


# --- where webhooks go -------------------------------------------------------------------------------


async def test_a_hostile_host_header_makes_no_request_elsewhere(sandbox: Sandbox) -> None:
    """A request naming another port in its Host header gets its webhooks posted to this service, not there."""
    elsewhere = Hook()
    other = web.Application()
    other.router.add_post("/webhook", elsewhere.handle)
    other.router.add_route("*", "/{tail:.*}", elsewhere.handle)
    runner = web.AppRunner(other)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        hostile = {"Host": f"127.0.0.1:{port}"}
        customer = await sandbox.client.post(f"/sandbox/users/{ALICE}/messages", json={"text": "hi"}, headers=hostile)
        assert customer.status == 200, await customer.text()
        send = await sandbox.client.post(SEND_PATH, json=text_message(ALICE, "hello"), headers={**AUTH, **hostile})
        assert send.status == 200
        await sandbox.settle()
    finally:
        await runner.cleanup()
    assert elsewhere.bodies == []
    assert elsewhere.bad_signatures == 0
    assert [m["text"]["body"] for m in sandbox.hook.messages()] == ["hi"]
    assert [s["status"] for s in sandbox.hook.statuses()] == ["sent", "delivered", "read"]
