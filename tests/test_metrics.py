"""/metrics: Prometheus text with webhook, send and outbox figures that move with traffic and never name a number."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import Acknowledger
from bot.metrics import Metrics
from bot.outbound.sender import SENDER
from bot.settings import Settings
from bot.whatsapp.client import RecordedRequest, RecordingTransport
from tests.api.test_app import post_webhook, start_app, wait_for_replies, wait_until
from tests.conftest import FakeClock, signed, status_webhook, text_webhook

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

NUMBERS = ["31612345678", "447700900123", "5511987654321"]


async def scrape(client: Client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await resp.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_lists_the_service_families(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """/metrics is public Prometheus text naming webhooks by outcome, messages sent by category and outbox depth."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    text = await scrape(client)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["bot_webhooks_received"].type == "counter"
    assert families["bot_messages_sent"].type == "counter"
    assert families["bot_messages_failed"].type == "counter"
    assert families["bot_outbox_depth"].type == "gauge"
    assert families["bot_webhook_seconds"].type == "histogram"
    assert families["bot_turns"].type == "counter"
    assert "# TYPE bot_webhooks_received_total counter" in text
    assert "# TYPE bot_messages_sent_total counter" in text
    assert "# TYPE bot_outbox_depth gauge" in text


async def test_metrics_needs_no_admin_token(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """The scrape endpoint answers without a bearer token, as Prometheus scrapers send none."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    resp = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 200


async def test_webhook_outcomes_are_counted(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Each webhook POST counts under its outcome: stored, bad_signature or malformed."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await post_webhook(client, text_webhook(NUMBERS[0], "a", wamid="wamid.m.1"))
    await post_webhook(client, text_webhook(NUMBERS[0], "b", wamid="wamid.m.2"))
    body, headers = signed(text_webhook(NUMBERS[0]))
    resp = await client.post("/webhook", data=body, headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert resp.status == 401
    resp = await client.post("/webhook", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 401
    garbage, garbage_headers = signed(b"{not json")
    resp = await client.post("/webhook", data=garbage, headers=garbage_headers)
    assert resp.status == 400
    text = await scrape(client)
    assert value(text, "bot_webhooks_received_total", outcome="stored") == 2
    assert value(text, "bot_webhooks_received_total", outcome="bad_signature") == 2
    assert value(text, "bot_webhooks_received_total", outcome="malformed") == 1
    assert value(text, "bot_webhook_seconds_count") == 2
    assert value(text, "bot_inbound_messages_total") == 2


async def test_unreadable_parts_of_a_stored_webhook_are_counted(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Entries and items a stored webhook could not read are counted, the webhook itself as stored."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    payload = text_webhook(NUMBERS[0], "a", wamid="wamid.u.1")
    payload["entry"] += [7, {"id": "no changes"}]
    await post_webhook(client, payload)
    text = await scrape(client)
    assert value(text, "bot_webhooks_received_total", outcome="stored") == 1
    assert value(text, "bot_webhook_unreadable_items_total") == 2
    assert value(text, "bot_inbound_messages_total") == 1


async def test_redelivered_messages_are_not_counted_twice(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Meta's retry of a stored message counts as a received webhook but not as a new inbound message."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    payload = text_webhook(NUMBERS[0], "again", wamid="wamid.dup")
    await post_webhook(client, payload)
    await post_webhook(client, payload)
    text = await scrape(client)
    assert value(text, "bot_webhooks_received_total", outcome="stored") == 2
    assert value(text, "bot_inbound_messages_total") == 1


async def test_replies_move_sent_and_turn_counters(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A handled text and its reply count as one turn and one service message sent."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    before = await scrape(client)
    assert value(before, "bot_messages_sent_total", category="service") == 0
    for number in NUMBERS[:2]:
        await post_webhook(client, text_webhook(number, "hi"))
    for number in NUMBERS[:2]:
        await wait_for_replies(client, auth, number)
    text = await scrape(client)
    assert value(text, "bot_messages_sent_total", category="service") == 2
    assert value(text, "bot_turns_total") == 2
    for category in ("utility", "authentication", "marketing"):
        assert value(text, "bot_messages_sent_total", category=category) == 0


async def test_failed_and_retried_sends_are_counted_by_reason(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """A refused send counts as failed with Meta's reason; a throttled one counts as a retry with its reason."""

    def answer(request: RecordedRequest) -> tuple[int, Any]:
        code = 131026 if request.json["to"] == NUMBERS[0] else 130429
        return 400, {"error": {"message": "refused", "type": "OAuthException", "code": code, "fbtrace_id": "A1"}}

    transport = RecordingTransport(answer)
    app = create_app(settings, clock=clock, transport=transport, migrate=True, handler=Acknowledger())  # one reply each
    client = await aiohttp_client(app)
    await post_webhook(client, text_webhook(NUMBERS[0], "hi"))
    await post_webhook(client, text_webhook(NUMBERS[1], "hi"))

    async def settled() -> str | None:
        text = await scrape(client)
        failed = value(text, "bot_messages_failed_total", category="service", reason="undeliverable")
        retried = value(text, "bot_send_retries_total", reason="throughput_exceeded")
        return text if failed and retried else None

    text = await wait_until(settled, what="a failed and a retried send")
    assert value(text, "bot_messages_failed_total", category="service", reason="undeliverable") == 1
    assert value(text, "bot_send_retries_total", reason="throughput_exceeded") == 1
    assert value(text, "bot_messages_sent_total", category="service") == 0


async def test_outbox_depth_shows_queued_rows(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Replies waiting in the outbox show as bot_outbox_depth by kind and status once the sender takes stock."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web", "dispatcher"})
    for number in NUMBERS:
        await post_webhook(client, text_webhook(number, "hi"))

    async def queued() -> bool:
        await client.app[SENDER].reap()  # the sender's periodic stock-take, run now instead of in 10 s
        return value(await scrape(client), "bot_outbox_depth", kind="reply", status="queued") == len(NUMBERS)

    await wait_until(queued, what="three queued replies")


async def test_outbox_depth_drops_rows_that_left(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Once every reply is sent, the next stock-take shows no waiting rows rather than the old count."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    client.app[keys.METRICS].set_outbox_depth({"reply:queued": 5})
    await post_webhook(client, text_webhook(NUMBERS[0], "hi"))
    await wait_for_replies(client, auth, NUMBERS[0])
    await client.app[SENDER].reap()
    text = await scrape(client)
    assert not [key for key in samples(text) if key[0] == "bot_outbox_depth"]


async def test_metrics_never_show_a_phone_number(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """After traffic in and out (and status webhooks), no contact's number appears anywhere in the metrics text."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    for number in NUMBERS:
        await post_webhook(client, text_webhook(number, f"call me on {number}"))
    for number in NUMBERS:
        (reply,) = await wait_for_replies(client, auth, number)
        await post_webhook(client, status_webhook(reply["wamid"], "delivered", recipient=number))
    await client.app[SENDER].reap()
    text = await scrape(client)
    assert value(text, "bot_messages_sent_total", category="service") == len(NUMBERS)
    for number in NUMBERS:
        assert number not in text
        assert number[-8:] not in text
    for (_name, labels), _value in samples(text).items():
        for _label, label_value in labels:
            assert not re.search(r"\d{6,}", label_value), f"label value {label_value!r} looks like a number"


async def test_each_app_has_its_own_registry(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Two apps in one process keep separate counts: the registry is per app, not global."""
    first, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await post_webhook(first, text_webhook(NUMBERS[0], "hi"))
    assert value(Metrics().render().decode(), "bot_webhooks_received_total", outcome="stored") == 0
    assert value(await scrape(first), "bot_webhooks_received_total", outcome="stored") == 1
