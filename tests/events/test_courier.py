"""Events out through the real service to a real receiver on a port: every type, signatures, retries, order, replay."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.events import signature
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.api.test_app import ClientFactory, post_webhook
from tests.conftest import SuiteLogs, status_webhook, text_webhook

Client = TestClient[web.Request, web.Application]
ServerFactory = Callable[..., Awaitable[TestServer]]
ANA, BEN, CAL = "31612345001", "31612345002", "31612345003"
ALL_TYPES = [
    "message.received", "message.status", "conversation.opened", "handoff.requested", "handoff.released",
    "consent.changed", "order.changed", "appointment.changed", "campaign.finished", "otp.verified",
]  # fmt: skip
WAIT = 30.0
_wamids = itertools.count(1)


@dataclass
class Receiver:
    """The business's endpoint: records every request, answers 500 to the first `failures`; /hang never answers."""

    url: str = ""
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures: int = 0

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies of the requests answered 2xx, in arrival order."""
        return [json.loads(body) for headers, body in self.got if headers.get("answered") == "200"]


@pytest.fixture
async def receiver(aiohttp_server: ServerFactory) -> Receiver:
    found = Receiver()

    async def hook(request: web.Request) -> web.Response:
        headers = dict(request.headers)
        body = await request.read()
        found.got.append((headers, body))
        if found.failures > 0:
            found.failures -= 1
            headers["answered"] = "500"
            return web.Response(status=500, text="not now")
        headers["answered"] = "200"
        return web.Response(status=204)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/hang", hang)
    server = await aiohttp_server(app)
    found.url = str(server.make_url("/hook"))
    return found


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], transport: RecordingTransport
) -> Client:
    """The whole service (every loop running, the shipped flows) on the real clock; retries 0.2 s apart."""
    settings = make_settings(events_retry=0.2, events_timeout=1.0, business_timezone="Europe/Amsterdam")
    return await aiohttp_client(create_app(settings, transport=transport, migrate=True))


async def call(client: Client, auth: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth)
    return resp.status, await resp.json()


async def subscribe(client: Client, auth: dict[str, str], url: str, types: list[str]) -> dict[str, Any]:
    status, answer = await call(client, auth, "POST", "/api/subscriptions", {"url": url, "events": types})
    assert status == 201, answer
    return dict(answer)


async def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return found


async def says(client: Client, wa_id: str, text: str) -> str:
    wamid = f"wamid.events.{wa_id}.{next(_wamids)}"
    await post_webhook(client, text_webhook(wa_id, text, wamid=wamid))
    return wamid


async def outbound_wamid(client: Client, auth: dict[str, str], wa_id: str) -> str:
    async def sent() -> list[Any]:
        _, page = await call(client, auth, "GET", f"/api/messages?wa_id={wa_id}&direction=out")
        return list(page["items"])

    deadline = time.monotonic() + WAIT
    while not (items := await sent()):
        assert time.monotonic() < deadline, "timed out waiting for the bot's reply"
        await asyncio.sleep(0.05)
    return str(items[-1]["wamid"])


async def settled(client: Client, auth: dict[str, str], subscription_id: int) -> dict[str, Any]:
    """The delivery log once every delivery is settled (the receiver answers a moment before it is recorded)."""
    deadline = time.monotonic() + WAIT
    while True:
        status, log = await call(client, auth, "GET", f"/api/subscriptions/{subscription_id}/deliveries?limit=1000")
        assert status == 200
        if {d["status"] for d in log["items"]} <= {"delivered", "failed"}:
            return dict(log)
        assert time.monotonic() < deadline, "timed out waiting for the deliveries to settle"
        await asyncio.sleep(0.05)


def types_seen(receiver: Receiver) -> set[str]:
    return {body["type"] for body in receiver.delivered()}


async def campaign_cancelled(client: Client, auth: dict[str, str]) -> None:
    values = {"customer_name": "Ana", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "30 November"}
    body = {
        "name": "Spring sale", "template": "promotion_code", "parameters": values, "audience": {"tags": ["spring"]},
        "send_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
    }  # fmt: skip
    status, campaign = await call(client, auth, "POST", "/api/campaigns", body)
    assert status == 201, campaign
    assert (await call(client, auth, "POST", f"/api/campaigns/{campaign['id']}/cancel"))[0] == 200


async def code_verified(client: Client, auth: dict[str, str], transport: RecordingTransport) -> str:
    assert (await call(client, auth, "POST", "/api/otp", {"wa_id": BEN, "purpose": "login"}))[0] == 202
    sent = await eventually(lambda: [r for r in transport.requests if r.json.get("to") == BEN], "the code's send")
    [body] = [c for c in sent[0].json["template"]["components"] if c["type"] == "body"]
    code = str(body["parameters"][0]["text"])
    status, answer = await call(
        client, auth, "POST", "/api/otp/verify", {"wa_id": BEN, "purpose": "login", "code": code}
    )
    assert (status, answer) == (200, {"verified": True})
    return code


async def test_each_event_type_is_delivered_signed_from_the_action_that_causes_it(
    client: Client,
    auth: dict[str, str],
    receiver: Receiver,
    transport: RecordingTransport,
    suite_logs: SuiteLogs,
    request: pytest.FixtureRequest,
) -> None:
    """Texts, a status, a handoff and its release, STOP, an order, a booking, a campaign and a code each fire theirs."""
    subscription = await subscribe(client, auth, receiver.url, ALL_TYPES)
    secret = subscription["secret"]
    assert secret.startswith("whsec_")
    hi = await says(client, ANA, "hi")
    await post_webhook(client, status_webhook(await outbound_wamid(client, auth, ANA), "delivered", recipient=ANA))
    await says(client, ANA, "agent")
    await eventually(lambda: "handoff.requested" in types_seen(receiver), "the handoff")
    assert (await call(client, auth, "POST", f"/api/conversations/{ANA}/release"))[0] == 200
    await says(client, ANA, "STOP")
    order = {"number": "A-1", "wa_id": ANA, "name": "Ana", "total": "84.90", "currency": "EUR"}
    assert (await call(client, auth, "POST", "/api/orders", order))[0] == 201
    visit = {
        "wa_id": ANA, "service": "check-up", "location": "Rua 1",
        "starts_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }  # fmt: skip
    assert (await call(client, auth, "POST", "/api/appointments", visit))[0] == 201
    await campaign_cancelled(client, auth)
    code = await code_verified(client, auth, transport)

    await eventually(lambda: types_seen(receiver) == set(ALL_TYPES), "every event type")
    now = time.time()
    for headers, body in receiver.got:
        assert signature.verify(secret, body, headers["X-Bot-Signature"], now), headers
        assert not signature.verify(secret, body + b" ", headers["X-Bot-Signature"], now)
        event = json.loads(body)
        assert (headers["X-Bot-Event"], headers["X-Bot-Event-Id"]) == (event["type"], event["id"])
    by_type = {body["type"]: body for body in receiver.delivered()}
    received = [b for b in receiver.delivered() if b["type"] == "message.received"]
    assert received[0]["data"]["wamid"] == hi
    assert received[0]["contact"]["wa_id"] == ANA
    opened = {
        (b["contact"]["wa_id"], b["data"]["category"])
        for b in receiver.delivered()
        if b["type"] == "conversation.opened"
    }
    assert opened == {(ANA, "service"), (BEN, "authentication")}
    assert by_type["message.status"]["data"]["status"] == "delivered"
    assert by_type["consent.changed"]["data"] | {"at": None} == {
        "purpose": "marketing", "action": "opt_out", "source": "keyword", "at": None,
    }  # fmt: skip
    assert (by_type["order.changed"]["data"]["number"], by_type["order.changed"]["contact"]["wa_id"]) == ("A-1", ANA)
    assert by_type["appointment.changed"]["data"]["service"] == "check-up"
    assert by_type["campaign.finished"]["data"]["state"] == "cancelled"
    assert by_type["campaign.finished"]["contact"] is None
    assert by_type["otp.verified"]["data"]["purpose"] == "login"
    otp_bodies = [body for _, body in receiver.got if json.loads(body)["type"] == "otp.verified"]
    assert all(code.encode() not in body for body in otp_bodies)
    log = await settled(client, auth, subscription["id"])
    assert {d["status"] for d in log["items"]} == {"delivered"}
    assert all(d["log"][-1]["status_code"] == 204 for d in log["items"])
    assert secret not in suite_logs.stream_for(request.node.nodeid).getvalue()
    listed = (await call(client, auth, "GET", "/api/subscriptions"))[1]["items"]
    assert [s["id"] for s in listed] == [subscription["id"]]
    assert "secret" not in listed[0]


async def test_retries_after_a_500_keep_each_contacts_order_and_a_dead_url_blocks_nobody_else(
    client: Client, auth: dict[str, str], receiver: Receiver
) -> None:
    """The first delivery gets a 500 and is retried; each contact's texts arrive in order; a hanging URL waits alone."""
    receiver.failures = 1
    live = await subscribe(client, auth, receiver.url, ["message.received"])
    hanging = await subscribe(client, auth, receiver.url.replace("/hook", "/hang"), ["message.received"])
    sent: dict[str, list[str]] = {ANA: [], BEN: [], CAL: []}
    for _ in range(4):
        for wa_id in sent:
            sent[wa_id].append(await says(client, wa_id, "hello"))
    await eventually(lambda: len({b["id"] for b in receiver.delivered()}) == 12, "12 delivered events")
    first_time: dict[str, list[str]] = {ANA: [], BEN: [], CAL: []}
    seen: set[str] = set()
    for body in receiver.delivered():
        if body["id"] not in seen:
            seen.add(body["id"])
            first_time[body["contact"]["wa_id"]].append(body["data"]["wamid"])
    assert first_time == sent
    failed_first = receiver.bodies()[0]
    assert receiver.got[0][0]["answered"] == "500"
    log = await settled(client, auth, live["id"])
    retried = next(d for d in log["items"] if d["event_id"] == failed_first["id"])
    assert [a["status_code"] for a in retried["log"]] == [500, 204]
    assert retried["log"][0]["error"] == "the receiver answered 500"
    assert retried["status"] == "delivered"

    status, replay = await call(
        client, auth, "POST", f"/api/subscriptions/{live['id']}/deliveries/{retried['id']}/replay"
    )
    assert (status, replay["replay_of"], replay["event_id"]) == (202, retried["id"], retried["event_id"])
    await eventually(lambda: [b for b in receiver.delivered() if b["id"] == retried["event_id"]][1:], "the replay")
    _, counts = await call(client, auth, "GET", f"/api/subscriptions/{hanging['id']}")
    assert counts["deliveries"].get("delivered", 0) == 0  # the hanging URL got nothing through, and held no one up

    while (erased := await call(client, auth, "POST", f"/api/contacts/{CAL}/erase"))[0] == 409:  # a reply in flight
        await asyncio.sleep(0.05)
    assert erased[0] == 200, erased
    assert erased[1]["deleted"]["event_deliveries"] == 8  # 4 texts, to two URLs: their payloads held the words
    log = await settled(client, auth, live["id"])
    assert CAL not in {(d["payload"]["contact"] or {}).get("wa_id") for d in log["items"]}


BAD = [
    ({"url": "ftp://example.com/hook", "events": ["message.received"]}, "url", "http"),
    ({"url": "not a url", "events": ["message.received"]}, "url", "http"),
    ({"url": "https://user:pw@example.com/hook", "events": ["message.received"]}, "url", "password"),
    ({"url": "https://example.com/hook", "events": ["message.sent"]}, "events[0]", "message.received"),
    ({"url": "https://example.com/hook", "events": []}, "events", "at least 1"),
    ({"url": "https://example.com/hook", "events": ["otp.verified", "otp.verified"]}, "events", "repeats"),
    ({"url": "https://example.com/hook", "events": ["otp.verified"], "secret": "mine"}, "secret", "not a field"),
    ({"events": ["otp.verified"]}, "url", "required"),
]


async def test_a_bad_subscription_is_a_400_naming_the_field_and_an_unknown_one_a_404(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], auth: dict[str, str]
) -> None:
    """A wrong URL or event type is refused with the field named and nothing stored; unknown ids are 404s."""
    client = await aiohttp_client(create_app(make_settings(), migrate=True, roles={"web"}))
    for body, name, words in BAD:
        status, answer = await call(client, auth, "POST", "/api/subscriptions", body)
        assert status == 400, answer
        assert answer["error"]["fields"][0]["field"] == name, answer
        assert words in answer["error"]["message"], answer
    assert (await call(client, auth, "GET", "/api/subscriptions"))[1]["items"] == []
    for method, path in [("GET", "/api/subscriptions/7"), ("DELETE", "/api/subscriptions/7"),
                         ("GET", "/api/subscriptions/7/deliveries"),
                         ("POST", "/api/subscriptions/7/deliveries/1/replay")]:  # fmt: skip
        assert (await call(client, auth, method, path))[0] == 404
    created = await subscribe(client, auth, "https://example.com/hook", ["otp.verified"])
    assert (await call(client, auth, "DELETE", f"/api/subscriptions/{created['id']}"))[0] == 200
    assert (await call(client, auth, "GET", f"/api/subscriptions/{created['id']}"))[0] == 404
