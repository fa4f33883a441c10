"""Property: any sequence of customer messages through the whole app gets well-formed replies and never an error.

Hypothesis writes the customer's side (texts from the flows' vocabulary and anything else, taps on what
the bot last offered and on ids it never offered, media, locations, reactions, STOP and START, hours
and days of silence) against the real app on SQLite with the shipped flows and templates; each example
is a new customer. After every message: the turn was handled (a failed turn stays unhandled), no
error was logged, the replies are at most a handful and each fits WhatsApp's limits, and text the
customer wrote is never evaluated as a template.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import keys
from bot.app import create_app
from bot.inbound.dispatcher import DISPATCHER
from bot.whatsapp.client import RecordingTransport
from storage.models import MESSAGE, OUTBOX
from tests.conftest import FakeClock, envelope, serve, settings_for, signed

START = datetime(2026, 4, 13, 9, 0, tzinfo=UTC)  # a Monday morning: the business is open
MAX_REPLIES = 6  # a turn's replies: e.g. a confirmation, a summary, a menu; more would be a loop
INJECTION = "{{ 7 * 7 }}{% if true %}yes{% endif %}"
WORDS = [
    "hi", "menu", "cancel", "help", "agent", "human", "1", "2", "3", "4", "10482", "99999", "yes", "no",
    "STOP", "start", "tomorrow", "monday", "10:00", "2026-04-20", "ana@example.com", "+31612345678", "000000",
    "123456", INJECTION, "", " ", "é" * 300,
]  # fmt: skip


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Tap:
    pick: int  # an index into what the bot last offered; past the end taps an id it never offered


@dataclass(frozen=True)
class Other:
    kind: str  # image, location, reaction, sticker, unsupported


@dataclass(frozen=True)
class Wait:
    minutes: int


@dataclass(frozen=True)
class Submit:
    response_json: str  # a WhatsApp Flow's answer; "TOKEN" becomes the latest form's flow_token


ANSWERS = [
    '{"flow_token": "TOKEN", "rating": "5", "topic": "store", "comment": "{{ 7 * 7 }}yes"}',
    '{"flow_token": "TOKEN", "rating": 5, "topic": ["store"]}',
    '{"flow_token": "feedback.0000", "rating": "1", "topic": "store"}',
    '{"flow_token": "TOKEN", "rating": NaN}',
    "[" * 40 + "]" * 40,
]


ACTIONS = st.one_of(
    st.builds(Say, st.sampled_from(WORDS) | st.text(max_size=40)),
    st.builds(Tap, st.integers(0, 12)),
    st.builds(Other, st.sampled_from(["image", "location", "reaction", "sticker", "unsupported"])),
    st.builds(Wait, st.sampled_from([1, 10, 45, 60 * 25, 60 * 24 * 3])),
    st.builds(Submit, st.sampled_from(ANSWERS) | st.text(max_size=30)),
)


class Harness:
    """The real app on a SQLite file, driven by hand: post a signed webhook, run one dispatcher round."""

    def __init__(self, runner: asyncio.Runner, database: Path) -> None:
        self.runner = runner
        self.clock = FakeClock(START)
        self.transport = RecordingTransport()
        settings = settings_for(f"sqlite+aiosqlite:///{database}", business_timezone="Europe/Amsterdam")
        app = create_app(settings, clock=self.clock, transport=self.transport, migrate=True, roles={"web"})
        self.client: TestClient[Any, Any] = self.runner.run(serve(app))
        self.ids = itertools.count(1)
        self.seen = 0

    def close(self) -> None:
        self.runner.run(self.client.close())

    def send(self, wa_id: str, message: dict[str, Any]) -> list[dict[str, Any]]:
        """One customer message through the webhook and one dispatcher round; the replies it queued."""
        stamped = {"from": wa_id, "id": f"wamid.prop.{next(self.ids)}", "timestamp": self._now(), **message}
        payload = envelope({"contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}], "messages": [stamped]})
        body, headers = signed(payload)
        return self.runner.run(self._deliver(body, headers))

    def wait(self, minutes: int) -> list[dict[str, Any]]:
        """Silence: time passes and the dispatcher's sweep times out whatever was waiting."""
        self.clock.advance(minutes=minutes)
        return self.runner.run(self._round())

    async def _deliver(self, body: bytes, headers: dict[str, str]) -> list[dict[str, Any]]:
        response = await self.client.post("/webhook", data=body, headers=headers)
        assert response.status == 200, await response.text()
        return await self._round()

    async def _round(self) -> list[dict[str, Any]]:
        app = self.client.server.app
        await app[DISPATCHER].run_once()
        async with app[keys.REPOSITORY].engine.connect() as conn:
            rows = (await conn.execute(select(OUTBOX.c.id, OUTBOX.c.payload).where(OUTBOX.c.id > self.seen))).all()
            waiting = MESSAGE.c.handled_at.is_(None) & (MESSAGE.c.direction == "in")
            unhandled = (await conn.execute(select(func.count()).select_from(MESSAGE).where(waiting))).scalar_one()
        assert unhandled == 0, "a turn failed: its message is still unhandled"
        self.seen = max([self.seen, *(r.id for r in rows)])
        return [r.payload for r in rows]

    def _now(self) -> str:
        return str(int(self.clock.now.timestamp()))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with asyncio.Runner() as runner:
        harness = Harness(runner, tmp_path_factory.mktemp("property") / "bot.db")
        yield harness
        harness.close()


def offered(bodies: list[dict[str, Any]]) -> list[str]:
    """The reply ids the bot's latest interactive message offers, buttons or list rows."""
    for body in reversed(bodies):
        if body.get("type") != "interactive":
            continue
        action = body["interactive"]["action"]
        if "parameters" in action:  # a WhatsApp Flow: its token, to answer it with
            return [f"flow_token:{action['parameters']['flow_token']}"]
        if "buttons" in action:
            return [b["reply"]["id"] for b in action["buttons"]]
        return [row["id"] for section in action["sections"] for row in section["rows"]]
    return []


def check_reply(body: dict[str, Any]) -> None:
    """One reply is a Cloud API body within WhatsApp's limits, and no customer text was run as a template."""
    kind = body["type"]
    assert kind in ("text", "interactive", "template"), kind
    if kind == "text":
        text = body["text"]["body"]
        assert 0 < len(text) <= 4096
        assert "49yes" not in text  # a customer's Jinja was not rendered
        assert "{%" not in text.replace(INJECTION, "")
    elif kind == "interactive":
        interactive = body["interactive"]
        assert 0 < len(interactive["body"]["text"]) <= 1024
        action = interactive["action"]
        if interactive["type"] == "flow":
            assert 0 < len(action["parameters"]["flow_cta"]) <= 30
            assert action["parameters"]["flow_token"]
        elif interactive["type"] == "button":
            assert 1 <= len(action["buttons"]) <= 3
            assert all(0 < len(b["reply"]["title"]) <= 20 for b in action["buttons"])
        elif interactive["type"] == "cta_url":  # a link button (a store's map, say)
            assert action["name"] == "cta_url"
            assert 0 < len(action["parameters"]["display_text"]) <= 20
            assert action["parameters"]["url"].startswith("https://")
        else:
            assert interactive["type"] == "list", interactive["type"]
            rows = [row for section in action["sections"] for row in section["rows"]]
            assert 1 <= len(rows) <= 10
            assert all(0 < len(row["title"]) <= 24 for row in rows)
            assert 0 < len(action["button"]) <= 20


def message_for(action: Say | Tap | Other | Submit, last: list[str]) -> dict[str, Any]:
    if isinstance(action, Submit):
        token = next((o.removeprefix("flow_token:") for o in last if o.startswith("flow_token:")), "none")
        reply = {"name": "flow", "body": "Sent", "response_json": action.response_json.replace("TOKEN", token)}
        return {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": reply}}
    if isinstance(action, Say):
        return {"type": "text", "text": {"body": action.text}}
    if isinstance(action, Tap):
        reply_id = last[action.pick] if action.pick < len(last) else f"never_offered_{action.pick}"
        tapped = {"type": "list_reply", "list_reply": {"id": reply_id, "title": "x"}}
        return {"type": "interactive", "interactive": tapped}
    media = {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x"}
    return {
        "image": {"type": "image", "image": media},
        "sticker": {"type": "sticker", "sticker": {**media, "mime_type": "image/webp", "animated": False}},
        "location": {"type": "location", "location": {"latitude": 52.37, "longitude": 4.89}},
        "reaction": {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "\N{THUMBS UP SIGN}"}},
        "unsupported": {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
    }[action.kind]


_customers = itertools.count(1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ACTIONS, min_size=1, max_size=12))
def test_any_conversation_gets_well_formed_replies_and_no_error(harness: Harness, actions: list[Any]) -> None:
    """Whatever a new customer sends, each turn is handled, logs no error, and answers within WhatsApp's limits."""
    wa_id = f"3161{next(_customers):07d}"
    last: list[str] = []
    with structlog.testing.capture_logs() as logs:
        for action in actions:
            if isinstance(action, Wait):  # earlier customers' sessions may time out in this round too
                bodies = harness.wait(action.minutes)
            else:
                bodies = harness.send(wa_id, message_for(action, last))
            for body in bodies:
                check_reply(body)
            mine = [b for b in bodies if b.get("to") == wa_id]
            assert len(mine) <= MAX_REPLIES, [b.get("type") for b in mine]
            last = offered(mine) or last
    errors = [entry for entry in logs if entry.get("log_level") in ("error", "critical")]
    assert errors == []
