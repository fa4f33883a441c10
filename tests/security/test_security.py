"""The security claims, each pinned by a test named after it; claims other suites already pin are referenced.

Pinned elsewhere, and not repeated here:
- a missing or wrong signature gets 401 and stores nothing, and non-ASCII text is signed as received
  (tests/inbound/test_webhook.py: test_bad_signature_is_refused_and_nothing_stored,
  test_signature_covers_the_exact_bytes);
- a delivery's exact bytes sent three times are one message with one reply
  (tests/inbound/test_webhook.py: test_redelivery_is_stored_once_and_answered_once);
- wrong tokens, other schemes and tokens that differ by a character on the first /api routes
  (tests/api/test_app.py: test_no_token_is_401_with_error_shape, test_wrong_token_is_401);
- tampered and expired session cookies, CSRF and cross-origin refusal on the inbox reply
  (tests/dashboard/test_app.py);
- five wrong codes end a code, and failures carry over to a resent one
  (tests/otp/test_service.py: test_five_wrong_tries_end_the_code, test_failures_carry_over_to_a_resent_code);
- no secret, token or issued code in any test's logs, for the whole run (tests/conftest.py: suite_logs);
- random conversations never render customer text as Jinja (tests/e2e/test_flow_property.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from structlog.testing import capture_logs

from bot import keys
from bot.api.token import WrongGuesses
from bot.dashboard.app import PREFIX, campaign_routes, contact_routes, inbox_routes, overview_routes, page_routes
from bot.errors import OTPRefused
from bot.message_templates.library import TemplateLibrary
from bot.otp import core as otp
from bot.otp.service import OtpService
from bot.settings import Settings
from bot.whatsapp import signature
from bot.whatsapp.client import RecordingTransport
from storage.models import MESSAGE, OUTBOX, WEBHOOK_EVENT
from storage.repository import Repository
from tests.api.test_app import ClientFactory, start_app, wait_until
from tests.conftest import ADMIN_TOKEN, APP_SECRET, FakeClock, envelope, signed, text_webhook
from tests.dashboard.test_app import ANA, csrf_of, log_in
from tests.e2e.test_flow_property import INJECTION
from tests.harness import drained
from tests.inbound.test_webhook import count
from tests.otp.test_service import KEY, NUMBER, latest_code, wrong

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    started, _ = await start_app(aiohttp_client, settings, clock)
    return started


# --- the webhook's signature ------------------------------------------------------------------------------


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every comparison `bot.whatsapp.signature` makes through `hmac.compare_digest`, recorded as it passes through."""
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", recording)
    return calls


@pytest.mark.parametrize(
    "header",
    ["sha256=" + "0" * 64, "sha256=" + "f" * 63, "sha256=" + "0" * 65, "sha256=abc", "sha256=" + "0" * 640],
    ids=["equal-length", "one-shorter", "one-longer", "short", "ten-times-longer"],
)
def test_signature_is_compared_in_constant_time_whatever_its_length(
    compared: list[tuple[str, str]], header: str
) -> None:
    """A wrong signature of equal or other length is refused by `hmac.compare_digest`, never by `==` first."""
    body = json.dumps(text_webhook()).encode()
    assert signature.verify(APP_SECRET, body, header) is False
    assert compared == [(signature.sign(APP_SECRET, body), header)]
    assert signature.verify(APP_SECRET, body, signature.sign(APP_SECRET, body)) is True


@pytest.mark.parametrize("header", ["sha256=" + "0" * 64, "sha256=" + "0" * 10], ids=["equal-length", "shorter"])
async def test_a_wrong_signature_of_any_length_is_401(client: Client, header: str) -> None:
    """Over HTTP, a wrong signature of the right length and one of another length both get 401, nothing stored."""
    body, headers = signed(text_webhook())
    resp = await client.post("/webhook", data=body, headers={**headers, "X-Hub-Signature-256": header})
    assert resp.status == 401
    assert await count(client, WEBHOOK_EVENT) == 0


@pytest.mark.parametrize(
    "reserialise",
    [
        lambda doc: json.dumps(doc, indent=2),
        lambda doc: json.dumps(doc, separators=(",", ":")),
        lambda doc: json.dumps(doc, sort_keys=True),
        lambda doc: json.dumps(doc, ensure_ascii=False),
    ],
    ids=["indented", "compact", "sorted-keys", "unescaped"],
)
async def test_the_signature_covers_the_raw_body_not_its_json(client: Client, reserialise: Any) -> None:
    """The same JSON in other bytes (spacing, key order, escapes) under the original's signature gets 401."""
    payload = text_webhook(body="olá 👋", name="José")
    _, headers = signed(payload)
    other = reserialise(payload).encode()
    assert other != json.dumps(payload).encode()
    resp = await client.post("/webhook", data=other, headers=headers)
    assert resp.status == 401
    assert await count(client, WEBHOOK_EVENT) == 0
    assert (await client.post("/webhook", data=other, headers=signed(other)[1])).status == 200


# --- replays -----------------------------------------------------------------------------------------------


async def test_a_replayed_message_in_a_new_envelope_is_stored_and_answered_once(client: Client) -> None:
    """The same message replayed byte for byte and inside other envelopes is one message with one reply."""
    first = text_webhook(wamid="wamid.replayed", body="where is my order?")
    message = first["entry"][0]["changes"][0]["value"]["messages"][0]
    contacts = [{"profile": {"name": "Someone else"}, "wa_id": "31612345678"}]
    again = envelope({"contacts": contacts, "messages": [message, {**message}]})
    again["entry"][0]["id"] = "another-entry"
    again["entry"].append(text_webhook(wamid="wamid.replayed")["entry"][0])
    for payload in (first, again, first):
        body, headers = signed(payload)
        assert (await client.post("/webhook", data=body, headers=headers)).status == 200

    async def answered() -> bool:
        return await count(client, OUTBOX) >= 1

    await wait_until(answered, what="the reply")
    await asyncio.sleep(0.3)  # room for a wrongly repeated turn to show itself
    assert await count(client, WEBHOOK_EVENT) == 3
    assert await count(client, MESSAGE, MESSAGE.c.direction == "in") == 1
    assert await count(client, OUTBOX) == 1


# --- the admin API -----------------------------------------------------------------------------------------


def _filled(path: str) -> str:
    """A documented path with its parameters filled in: a number for wa_id, otherwise 1."""
    return re.sub(r"\{([^}]+)\}", lambda m: "31612345678" if m[1] == "wa_id" else "1", path)


async def test_every_documented_api_route_refuses_a_missing_or_wrong_token(client: Client, clock: FakeClock) -> None:
    """Each operation in /api/openapi.json gets 401 without a token or with a wrong one, and not with the right one."""
    document = await (await client.get("/api/openapi.json")).json()
    operations = [
        (method.upper(), _filled(path))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and path != "/api/openapi.json"
    ]
    assert len(operations) >= 15, operations
    for method, path in operations:
        clock.advance(seconds=61)  # the wrong tokens of the route before are out of the count (see the next test)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"}):
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status == 401, (method, path, headers)
        right = await client.request(method, path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={})
        assert right.status != 401, (method, path)


async def test_guessing_the_api_token_is_stopped_for_a_minute(client: Client, clock: FakeClock) -> None:
    """After 10 wrong tokens in a minute from one address, even the right one gets 429 until the minute has passed."""
    right, wrong = {"Authorization": f"Bearer {ADMIN_TOKEN}"}, {"Authorization": "Bearer guess"}
    for _ in range(20):  # no token at all guesses nothing, and is not counted
        assert (await client.get("/api/conversations")).status == 401
    for n in range(10):
        assert (await client.get("/api/conversations", headers=wrong)).status == 401, n
        clock.advance(seconds=1)
    refused = await client.get("/api/conversations", headers=right)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "50"  # the first wrong one leaves the minute in 50 s
    error = (await refused.json())["error"]
    assert error == {
        "code": "too_many_attempts",
        "message": "too many wrong admin tokens from this address; try again in 50 s",
    }
    clock.advance(seconds=50)
    assert (await client.get("/api/conversations", headers=right)).status == 200
    assert (await client.get("/api/conversations", headers=wrong)).status == 401  # the tenth again, within the minute
    assert (await client.get("/api/conversations", headers=right)).status == 429


async def test_guessing_the_dashboard_token_is_stopped_for_a_minute(client: Client, clock: FakeClock) -> None:
    """The login form counts wrong tokens with the API: past 10 a minute it says so, and lets no one in."""
    for n in range(10):
        assert (await log_in(client, "guess")).status == 401, n
    refused = await log_in(client)
    assert refused.status == 429
    assert "Too many wrong tokens from this address. Try again in 60 seconds." in await refused.text()
    clock.advance(seconds=60)
    assert (await log_in(client)).status == 303


async def test_wrong_tokens_beyond_the_limit_keep_the_address_waiting_from_the_tenth_latest(
    repository: Repository, clock: FakeClock
) -> None:
    """Wrong tokens that slip in past the limit (concurrent logins) count: the wait runs from the tenth latest."""
    guesses = WrongGuesses(repository, clock)
    for _ in range(12):
        await guesses.wrong("203.0.113.9")
        clock.advance(seconds=1)
    assert await guesses.wait("203.0.113.9") == 50.0  # the third of twelve, sent at 2 s, leaves the minute at 62 s
    assert await guesses.wait("198.51.100.7") == 0.0
    clock.advance(seconds=50)
    assert await guesses.wait("203.0.113.9") == 0.0


async def test_reaching_the_limit_is_logged_once_per_spell(repository: Repository, clock: FakeClock) -> None:
    """`auth.throttled` is logged when an address's wrong tokens reach ten in a minute, not again for more in it."""
    guesses = WrongGuesses(repository, clock)
    with capture_logs() as logs:
        for _ in range(12):
            await guesses.wrong("203.0.113.9")
        clock.advance(seconds=60)
        for _ in range(10):
            await guesses.wrong("203.0.113.9")
    throttled = [entry for entry in logs if entry["event"] == "auth.throttled"]
    assert [(entry["address"], entry["wrong"]) for entry in throttled] == [("203.0.113.9", 10)] * 2


# --- the dashboard ---------------------------------------------------------------------------------------


def _dashboard_routes(method: str) -> list[str]:
    """Every dashboard path served by `method` but the login form, its parameters filled in."""
    defs = [*overview_routes, *campaign_routes, *contact_routes, *page_routes, *inbox_routes]
    paths = [d.path for d in defs if getattr(d, "method", None) == method]
    paths += [] if method == "GET" else ["/logout"]
    return [PREFIX + re.sub(r"\{[^}]+\}", ANA, p) for p in paths]


@pytest.fixture
async def dashboard(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    started, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    return started


async def test_every_dashboard_route_refuses_without_a_session(dashboard: Client) -> None:
    """No session: every page redirects to the login form and every form POST is refused with 403."""
    pages, forms = _dashboard_routes("GET"), _dashboard_routes("POST")
    assert len(pages) >= 6, pages
    assert len(forms) >= 4, forms
    for path in pages:
        resp = await dashboard.get(path, allow_redirects=False)
        assert (resp.status, resp.headers.get("Location")) == (303, f"{PREFIX}/login"), path
    for path in forms:
        resp = await dashboard.post(path, data={"text": "hi", "csrf": "0" * 64}, allow_redirects=False)
        assert resp.status == 403, path
    assert await count(dashboard, OUTBOX) == 0


async def test_every_dashboard_form_refuses_a_cross_site_post(dashboard: Client) -> None:
    """Logged in and with a valid CSRF token, a POST from another site is refused with 403 on every form, login too."""
    assert (await log_in(dashboard)).status == 303
    token = await csrf_of(dashboard, f"{PREFIX}/inbox")
    for path in [*_dashboard_routes("POST"), f"{PREFIX}/login"]:
        for origin in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}):
            data = {"csrf": token, "text": "hi", "token": ADMIN_TOKEN}
            resp = await dashboard.post(path, data=data, headers=origin, allow_redirects=False)
            assert resp.status == 403, (path, origin)
            assert "another website" in await resp.text()
    assert await count(dashboard, OUTBOX) == 0


# --- one-time codes ----------------------------------------------------------------------------------------

GUESSES = 10_000
START = datetime(2026, 4, 13, 9, 0, tzinfo=UTC)


def guess(code: str, n: int) -> str:
    """The attacker's n-th guess: wrong, but every hundredth the real code, as if luck struck."""
    return code if n % 100 == 99 else wrong(code or "000000")


def test_ten_thousand_guesses_from_one_number_never_verify() -> None:
    """10,000 guesses over a day, with a new code whenever pacing allows, never verify; five tries per code at most.

    The pure rules (`bot.otp.core`): each new code inherits the failures of the last while a send is in the window,
    so the number stays locked; every lucky guess arrives after five wrong ones and fails.
    """
    challenges: list[otp.Challenge] = []
    now, code, counted = START, "", 0
    for n in range(GUESSES):
        if n % 20 == 0:
            now += timedelta(minutes=3)
            history = otp.SendHistory.from_challenges(challenges)
            if otp.may_send(history, now).allowed:
                challenge, secret = otp.issue(KEY, purpose="login", contact=NUMBER, now=now, history=history)
                challenges.append(challenge)
                code = secret.reveal()
        result = otp.verify(challenges[-1] if challenges else None, KEY, code=guess(code, n), now=now)
        assert not result.verified, n
        if result.challenge is not None:
            challenges[-1] = result.challenge
        counted += result.outcome == "wrong"
    assert len(challenges) > 1
    assert counted <= otp.MAX_FAILURES * len(challenges)


async def test_a_thousand_guesses_through_the_service_never_verify(repository: Repository, clock: FakeClock) -> None:
    """The same attack through the service and its database: codes sent when allowed, no guess ever verifies."""
    service = OtpService(repository, TemplateLibrary.load(Path("templates")), KEY, clock)
    sent, code = 0, ""
    for n in range(GUESSES // 10):
        if n % 20 == 0:
            clock.advance(minutes=3)
            try:
                await service.request_code(NUMBER, "login")
            except OTPRefused:
                pass
            else:
                sent, code = sent + 1, await latest_code(repository)
        assert await service.verify_code(NUMBER, "login", guess(code, n)) is False, n
    assert sent > 1


# --- template injection ----------------------------------------------------------------------------------


class Conversation:
    """The customer ANA, named INJECTION, writing through the signed webhook and reading what the bot sent."""

    def __init__(self, client: Client, transport: RecordingTransport, clock: FakeClock) -> None:
        self.client, self.transport, self.clock = client, transport, clock
        self.seen = len(transport.requests)

    async def say(self, wamid: str, message: dict[str, Any]) -> list[str]:
        """Send one message; the replies it got, as the customer reads them."""
        stamped = {"from": ANA, "id": wamid, "timestamp": str(int(self.clock.now.timestamp())), **message}
        payload = envelope({"contacts": [{"profile": {"name": INJECTION}, "wa_id": ANA}], "messages": [stamped]})
        body, headers = signed(payload)
        assert (await self.client.post("/webhook", data=body, headers=headers)).status == 200

        repository = self.client.server.app[keys.REPOSITORY]

        async def turn_done() -> bool:
            """The message is handled and everything its turn queued has been sent: the turn's replies are all in."""
            async with repository.engine.connect() as conn:
                handled = await conn.scalar(select(MESSAGE.c.handled_at).where(MESSAGE.c.wamid == wamid))
            return handled is not None and await drained(repository) and len(self.transport.requests) > self.seen

        await wait_until(turn_done, what="the turn's replies")
        replies, self.seen = _texts(self.transport.requests[self.seen :]), len(self.transport.requests)
        return replies


def _texts(requests: list[Any]) -> list[str]:
    """What the bot sent that a customer reads: the text or interactive part of each message, as JSON."""
    return [json.dumps({k: r.json.get(k) for k in ("text", "interactive")}, ensure_ascii=False) for r in requests]


ECHO_FLOW = """
flow: main
description: Notes what the customer types and reads it back
start: ask
steps:
  - id: ask
    ask: What should I note?
    slot: note
    next: echo
  - id: echo
    say: "Noted for {{ contact.name }}: {{ note }}"
"""


async def test_free_text_a_flow_reads_back_is_sent_literally(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """A flow that echoes a free-text answer and the profile name sends Jinja in them as typed."""
    (tmp_path / "main.yaml").write_text(ECHO_FLOW, encoding="utf-8")
    client, transport = await start_app(aiohttp_client, settings, clock, handler=None, flows=tmp_path)
    conversation = Conversation(client, transport, clock)
    await conversation.say("wamid.echo.1", {"type": "text", "text": {"body": "hi"}})
    [echo] = await conversation.say("wamid.echo.2", {"type": "text", "text": {"body": INJECTION}})
    assert f"Noted for {INJECTION}: {INJECTION}" in echo, echo


async def test_customer_text_with_jinja_is_sent_back_literally(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Through the shipped flows, a profile name and an order number holding Jinja come back as typed, never run."""
    client, transport = await start_app(aiohttp_client, settings, clock, handler=None)
    number = "{{7*7}}"
    order = {"wa_id": ANA, "number": number, "status": "placed", "name": INJECTION}
    assert (await client.post("/api/orders", json=order, headers=auth)).status in (200, 201)
    conversation = Conversation(client, transport, clock)
    say = conversation.say

    def tap(reply_id: str) -> dict[str, Any]:
        return {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": reply_id}}}

    greeting = await say("wamid.inj.1", {"type": "text", "text": {"body": INJECTION}})
    assert any(f"Hi {INJECTION}!" in t for t in greeting), greeting
    status = await say("wamid.inj.2", tap("orders"))
    status += await say("wamid.inj.3", tap(number))
    assert any(f"Order {number} is placed" in t for t in status), status
    for text in greeting + status:
        assert "49yes" not in text
        assert "Order 49" not in text
