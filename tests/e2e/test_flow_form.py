"""WhatsApp Flows through the whole service in sandbox mode, on a real port, on SQLite and PostgreSQL.

The customer opens the feedback Flow from the menu and submits it through the simulator, as the chat page does;
a hostile answer posted straight to /webhook is acknowledged, noted, and asked again; a stale one is ignored.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import select

from storage.models import WEBHOOK_NOTICE
from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN, envelope, signed
from tests.e2e.test_sandbox_service import poll, service

__all__ = ["service"]  # the service fixture: `bot serve` in sandbox mode on a free port
CUSTOMER = "31612345678"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _chat(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
        return list((await r.json())["items"])


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [i["text"] for i in items if i["direction"] == "out"]


async def _open_form(http: aiohttp.ClientSession) -> dict[str, Any]:
    """Hello, then the menu's Give feedback row: the bot's Flow message, once the sandbox has it."""
    resp = await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "hello", "name": "Ana"})
    assert resp.status == 200, await resp.text()
    await poll(lambda: _chat(http), lambda items: any((i["interactive"] or {}).get("type") == "list" for i in items))
    resp = await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"list": "feedback"})
    assert resp.status == 200, await resp.text()
    items = await poll(
        lambda: _chat(http), lambda items: any((i["interactive"] or {}).get("type") == "flow" for i in items)
    )
    return next(i for i in items if (i["interactive"] or {}).get("type") == "flow")


async def test_a_submitted_flow_fills_the_slots_and_the_bot_answers_with_them(service: str) -> None:
    """The Flow goes out by name with a token; the simulator's nfm_reply fills the slots; the thanks uses them."""
    async with aiohttp.ClientSession(service) as http:
        sent = await _open_form(http)
        parameters = sent["interactive"]["action"]["parameters"]
        assert parameters["flow_name"] == "feedback"
        assert parameters["flow_cta"] == "Rate us"
        assert parameters["flow_action_payload"] == {"screen": "RATE", "data": {"name": "Ana"}}
        assert parameters["flow_token"].startswith("feedback.")
        async with http.get("/sandbox/flows/feedback") as r:
            assert r.status == 200
            assert [s["id"] for s in (await r.json())["screens"]] == ["RATE"]

        answers = {"rating": "4", "topic": "delivery", "comment": "On time", "liked": ["speed"], "contact_me": False}
        resp = await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"flow": answers})
        assert resp.status == 200, await resp.text()
        items = await poll(lambda: _chat(http), lambda items: any("Thank you!" in (t or "") for t in _texts(items)))
        assert "Thank you! You gave us 4 out of 5 and wrote: “On time”." in _texts(items)
        mine = [i for i in items if i["direction"] == "in"][-1]
        assert (
            mine["text"]
            == "Form answers: rating: 4 · topic: delivery · comment: On time · liked: speed · contact_me: no"
        )

        async with http.get("/api/messages", params={"wa_id": CUSTOMER, "direction": "in"}, headers=AUTH) as r:
            stored = (await r.json())["items"]
        assert stored[0]["type"] == "interactive"  # newest first: the Flow's answer


async def test_hostile_answers_are_acknowledged_noted_and_asked_again(service: str, database_url: str) -> None:
    """Deep, bad or stale response_json: the webhook answers 200, a notice keeps why, the form is offered again."""
    async with aiohttp.ClientSession(service) as http:
        sent = await _open_form(http)
        token = sent["interactive"]["action"]["parameters"]["flow_token"]
        hostile = [
            "[" * 20_000 + "]" * 20_000,
            '{"flow_token": "' + token + '", "rating": NaN}',
            json.dumps({"flow_token": token, "topic": "store"}),  # no rating, which is required
        ]
        for n, response_json in enumerate(hostile):
            reply = {"name": "flow", "body": "Sent", "response_json": response_json}
            message = {
                "from": CUSTOMER,
                "id": f"wamid.hostile.{n}",
                "timestamp": "1775822400",
                "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": reply},
            }
            body, headers = signed(envelope({"contacts": [{"wa_id": CUSTOMER}], "messages": [message]}))
            async with http.post("/webhook", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
        want = "Please use the form to rate us, or type menu to go back."
        gave_up = "No problem. You can rate us any time from the menu."  # the third wrong try ends it
        items = await poll(lambda: _chat(http), lambda items: gave_up in _texts(items))
        assert _texts(items).count(want) == 2
        flows = [i for i in items if (i["interactive"] or {}).get("type") == "flow"]
        assert len(flows) == 3  # the form, then again after each of the first two wrong tries

        resp = await http.post(
            f"/sandbox/users/{CUSTOMER}/messages", json={"flow": {"flow_token": token, "rating": "5", "topic": "store"}}
        )
        assert resp.status == 200
        closed = "That form is no longer open, so we kept nothing from it."
        await poll(lambda: _chat(http), lambda items: closed in _texts(items))

    repository = Repository.connect(database_url)
    try:
        async with repository.engine.connect() as conn:
            query = select(WEBHOOK_NOTICE.c.reason, WEBHOOK_NOTICE.c.payload).where(
                WEBHOOK_NOTICE.c.kind == "flow_reply"
            )
            notices = sorted((await conn.execute(query)).all())
    finally:
        await repository.close()
    assert [reason.split(": ", 1)[0] for reason, _ in notices] == ["wamid.hostile.0", "wamid.hostile.1"]
    assert "nested 20000 deep" in notices[0][0]
    assert "not JSON" in notices[1][0]
    assert notices[0][1] == {"id": "wamid.hostile.0", "type": "interactive"}  # never the text a second time


async def test_the_sandbox_serves_only_flow_json_and_refuses_what_meta_would(service: str) -> None:
    """Flow JSON names are identifiers (no path leaves whatsapp_flows/); a Flow send Meta would refuse is refused."""
    async with aiohttp.ClientSession(service) as http:
        for name in ("nothing_here", "..%2Fflows%2Fmain", "Feedback", "%2Fetc%2Fpasswd"):
            async with http.get(f"/sandbox/flows/{name}") as r:
                assert r.status == 404, name
                assert (await r.json())["error"]["code"] == "not_found"
    base = "/sandbox/v25.0/106540352242922/messages"
    graph = {"Authorization": "Bearer sandbox-access-token"}
    parameters = {"flow_message_version": "3", "flow_token": "t", "flow_name": "feedback", "flow_cta": "Rate us"}
    async with aiohttp.ClientSession(service) as http:
        await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "hello"})  # opens the window
        for broken in ({"flow_cta": ""}, {"flow_id": "123"}, {"flow_message_version": "2"}):
            interactive = {
                "type": "flow",
                "body": {"text": "Rate us"},
                "action": {"name": "flow", "parameters": {**parameters, **broken}},
            }
            send = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive", "interactive": interactive}
            async with http.post(base, json=send, headers=graph) as r:
                assert r.status == 400, broken
                assert (await r.json())["error"]["code"] == 131009
