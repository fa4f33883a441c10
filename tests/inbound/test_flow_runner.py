"""The shipped flows through the real app: webhook in, a flow turn, replies queued (orders, balance, handoff)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import DISPATCHER
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage.outbox import OutboxBase
from tests.api.test_app import ClientFactory, assert_error, post_webhook
from tests.conftest import FakeClock, envelope, text_webhook
from tests.otp.test_service import code_in, outbox_rows

Client = TestClient[web.Request, web.Application]
ANA, BEN = "31612345001", "31612345002"
NOON = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def noon() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, noon: FakeClock) -> Client:
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    app = create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


_count = iter(range(10**6))


async def says(client: Client, wa_id: str, text: str) -> list[dict[str, Any]]:
    """The customer writes; one dispatcher round runs; the replies it queued (Cloud API bodies) come back."""
    now = client.server.app[keys.CLOCK]()
    await post_webhook(
        client, text_webhook(wa_id, text, wamid=f"wamid.{wa_id}.{next(_count)}", name="Ana", timestamp=now)
    )
    return await _turn(client)


async def taps(client: Client, wa_id: str, reply_id: str, title: str = "x") -> list[dict[str, Any]]:
    """The customer taps a list row (or a button) with `reply_id`."""
    ts = str(int(client.server.app[keys.CLOCK]().timestamp()))
    message = {
        "from": wa_id, "id": f"wamid.{wa_id}.{next(_count)}", "timestamp": ts, "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": reply_id, "title": title}},
    }  # fmt: skip
    await post_webhook(
        client, envelope({"contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}], "messages": [message]})
    )
    return await _turn(client)


async def _turn(client: Client) -> list[dict[str, Any]]:
    app = client.server.app
    before = {r.id for r in await outbox_rows(app[keys.REPOSITORY])}
    await app[DISPATCHER].run_once()
    return [r.payload for r in await outbox_rows(app[keys.REPOSITORY]) if r.id not in before]


def texts(bodies: list[dict[str, Any]]) -> list[str]:
    found = []
    for body in bodies:
        if body["type"] == "text":
            found.append(body["text"]["body"])
        elif body["type"] == "interactive":
            found.append(body["interactive"]["body"]["text"])
        else:
            found.append(f"template:{body['template']['name']}")
    return found


async def api(client: Client, auth: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth)
    return resp.status, await resp.json()


async def test_the_menu_leads_to_the_customers_own_recent_orders(client: Client, auth: dict[str, str]) -> None:
    """Greeting by name, the menu as a list, then the contact's recent orders, and the status of the one picked."""
    start = datetime(2026, 4, 11, 8, 0, tzinfo=UTC)
    order = {"number": "10482", "wa_id": ANA, "name": "Ana", "total": "84.90", "currency": "EUR"}
    assert (await api(client, auth, "POST", "/api/orders", order))[0] == 201
    end = start + timedelta(hours=4)
    fields = {"status": "shipped", "delivery_start": start.isoformat(), "delivery_end": end.isoformat()}
    fields["tracking_number"] = "PX1"
    assert (await api(client, auth, "PATCH", "/api/orders/10482", fields))[0] == 200

    first = await says(client, ANA, "hello")
    assert texts(first) == ["Hi Ana! I'm the assistant of Example Store.", "What can I help you with?"]
    assert [r["id"] for r in first[1]["interactive"]["action"]["sections"][0]["rows"]] == [
        "orders", "appointments", "balance", "agent", "stores",
    ]  # fmt: skip
    recent = await taps(client, ANA, "orders")
    rows = recent[0]["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in rows] == ["10482", "other"]
    status = await taps(client, ANA, "10482")
    assert texts(status)[0] == (
        "Order 10482 is on its way: it should arrive on Saturday 11 April between 10:00 and 14:00. "
        "Tracking number: PX1."
    )
    assert texts(status)[1] == "Anything else I can help with?"


async def test_one_customer_never_sees_anothers_order(client: Client, auth: dict[str, str]) -> None:
    """Ben typing Ana's order number is told it cannot be found for his number."""
    order = {"number": "20001", "wa_id": ANA, "name": "Ana"}
    assert (await api(client, auth, "POST", "/api/orders", order))[0] == 201
    await says(client, BEN, "hi")
    asked = await taps(client, BEN, "orders")  # Ben has no orders: he is asked for the number
    assert texts(asked) == ["What is your order number? You find it in your order confirmation."]
    answer = await says(client, BEN, "20001")
    assert texts(answer)[0].startswith("I can't find order 20001 for this WhatsApp number.")
    assert "20001" not in str(await says(client, ANA, "hi"))  # and Ana's session is her own


async def test_an_invalid_order_number_is_reprompted_then_offered_a_person(client: Client) -> None:
    """Wrong answers get the distinct re-prompt, and after three the flow offers a person instead of asking again."""
    await says(client, BEN, "hi")
    await taps(client, BEN, "orders")
    assert texts(await says(client, BEN, "my order")) == [
        "Order numbers have 4 to 10 digits, like 10482. What is yours?"
    ]
    await says(client, BEN, "12")
    assert texts(await says(client, BEN, "abc")) == ["Shall I pass you to a person?"]


async def test_the_balance_needs_a_code_and_wrong_codes_are_bounded(client: Client, auth: dict[str, str]) -> None:
    """The balance shows only after the right one-time code; three wrong codes end the attempt."""
    assert (await api(client, auth, "PUT", f"/api/accounts/{ANA}", {"balance": "12.50", "currency": "EUR"}))[0] == 200
    await says(client, ANA, "hi")
    asked = await taps(client, ANA, "balance")
    assert asked[0]["type"] == "template"  # the code itself, ahead of the prompt
    assert texts(asked)[1].startswith("To keep your account safe")
    repository = client.server.app[keys.REPOSITORY]
    code = code_in(next(r for r in await outbox_rows(repository) if r.kind == "otp"))
    assert texts(await says(client, ANA, "000000"))[0].startswith("That code isn't right")
    shown = await says(client, ANA, code)
    assert texts(shown)[0] == "Your account balance is €12.50."
    again = await says(client, ANA, "menu")
    assert texts(await taps(client, ANA, "balance"))[0] == "Your account balance is €12.50."  # verified minutes ago
    assert again

    await says(client, BEN, "hi")
    await taps(client, BEN, "balance")
    for _ in range(2):
        await says(client, BEN, "111111")
    assert texts(await says(client, BEN, "222222"))[0].startswith("That didn't work")


async def test_handoff_silences_the_bot_until_released(client: Client, auth: dict[str, str]) -> None:
    """ "agent" hands the chat to a person: the bot is silent, an agent replies through the API, release ends it."""
    await says(client, ANA, "hi")
    assert texts(await says(client, ANA, "agent")) == ["A person from our team will reply here shortly."]
    assert await says(client, ANA, "hello?") == []
    status, inbox = await api(client, auth, "GET", "/api/handoffs")
    assert (status, [i["wa_id"] for i in inbox["items"]]) == (200, [ANA])
    status, queued = await api(client, auth, "POST", f"/api/conversations/{ANA}/reply", {"text": "Hi Ana, Tom here."})
    assert (status, queued["queued"]) == (202, True)
    rows: list[OutboxBase] = await outbox_rows(client.server.app[keys.REPOSITORY])
    assert rows[-1].payload["text"]["body"] == "Hi Ana, Tom here."
    assert (await api(client, auth, "POST", f"/api/conversations/{ANA}/release"))[1]["released"] is True
    rows = await outbox_rows(client.server.app[keys.REPOSITORY])
    assert rows[-1].payload["text"]["body"] == "You're chatting with our assistant again. Type menu to see the options."
    assert texts(await says(client, ANA, "thanks"))[0] == "Hi Ana! I'm the assistant of Example Store."
    assert (await api(client, auth, "POST", f"/api/conversations/{ANA}/release"))[1]["released"] is False
    assert len(await outbox_rows(client.server.app[keys.REPOSITORY])) == len(rows) + 2  # greeting and menu only


async def test_a_release_outside_the_window_tells_the_customer_nothing(
    client: Client, auth: dict[str, str], noon: FakeClock
) -> None:
    """A day after the customer's last message a release sends no free-form text (only templates could go)."""
    await says(client, ANA, "agent")
    before = len(await outbox_rows(client.server.app[keys.REPOSITORY]))
    noon.advance(hours=25)
    assert (await api(client, auth, "POST", f"/api/conversations/{ANA}/release"))[1]["released"] is True
    assert len(await outbox_rows(client.server.app[keys.REPOSITORY])) == before


async def test_an_agent_cannot_reply_outside_the_window(client: Client, auth: dict[str, str], noon: FakeClock) -> None:
    """A day after the customer's last message the agent's free-form reply is refused with a clear error."""
    await says(client, ANA, "agent")
    noon.advance(hours=25)
    status, body = await api(client, auth, "POST", f"/api/conversations/{ANA}/reply", {"text": "Still there?"})
    assert status == 409
    assert "send a template" in assert_error(body, "outside_service_window")
    status, body = await api(client, auth, "POST", "/api/conversations/31600000000/reply", {"text": "x"})
    assert status == 404


async def test_an_agent_reply_body_names_every_wrong_field(client: Client, auth: dict[str, str]) -> None:
    """A reply of blanks with a field the API does not know is one 400 naming both, and nothing is queued."""
    await says(client, ANA, "agent")
    before = len(await outbox_rows(client.server.app[keys.REPOSITORY]))
    body = {"text": "   ", "urgent": True}
    status, answer = await api(client, auth, "POST", f"/api/conversations/{ANA}/reply", body)
    assert status == 400
    assert assert_error(answer, "invalid_request") == "text must be a non-empty message of at most 4096 characters"
    assert [f["field"] for f in answer["error"]["fields"]] == ["text", "urgent"]
    assert len(await outbox_rows(client.server.app[keys.REPOSITORY])) == before


async def test_a_waiting_menu_times_out_politely(client: Client, noon: FakeClock) -> None:
    """Half an hour without an answer at the menu ends the chat with the flow's goodbye."""
    await says(client, ANA, "hi")
    noon.advance(minutes=29)
    assert await _turn(client) == []
    noon.advance(minutes=2)
    assert texts(await _turn(client)) == ["Thanks for chatting with us. Write anytime!"]
    assert await _turn(client) == []  # once


async def test_rapid_messages_are_handled_in_order_and_customers_never_mix(
    client: Client, auth: dict[str, str]
) -> None:
    """Three quick messages from each of two customers, stored before one dispatcher round, read as two chats."""
    for number, wa_id in (("30001", ANA), ("30002", BEN)):
        assert (await api(client, auth, "POST", "/api/orders", {"number": number, "wa_id": wa_id}))[0] == 201
    now = client.server.app[keys.CLOCK]()
    for n, text in enumerate(("hi", "1", "other")):
        for wa_id in (ANA, BEN):
            sent_at = now + timedelta(seconds=n)
            await post_webhook(client, text_webhook(wa_id, text, wamid=f"wamid.rapid.{wa_id}.{n}", timestamp=sent_at))
    await _turn(client)
    for wa_id, own, other in ((ANA, "30001", "30002"), (BEN, "30002", "30001")):
        replies = await says(client, wa_id, own)
        assert texts(replies)[0] == f"Order {own} is placed. We message you when it ships."
        assert other not in str(replies)
