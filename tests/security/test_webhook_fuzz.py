"""Fuzzing the webhook through the real app, on SQLite and PostgreSQL.

Hypothesis builds valid Meta deliveries (every message type, statuses with pricing, errors and callback
data, user preferences, value errors, system messages, several entries and changes), mutates them (keys
dropped, retyped or duplicated, wrong nesting, huge strings, odd unicode, nulls, numbers as strings,
negative and huge timestamps, deep nesting) and sends raw bytes (invalid UTF-8, truncated JSON, gzip-like
junk), each signed, some with a wrong signature. Whatever arrives: the answer is never a 5xx; a 4xx means
nothing is stored, and comes only for a body with no envelope (not JSON, not an object, no list of
entries) or a wrong signature; a 200 means the raw body is stored, every good item in it (message, status,
preference) is stored, every entry, change or item that could not be read is a notice naming its path,
each part is one or the other, and nothing is stored twice; no task dies unobserved; and the dispatcher
then runs over everything stored without a failed turn or an error logged.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import keys
from bot.app import create_app
from bot.errors import MalformedPayload
from bot.inbound.dispatcher import DISPATCHER
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.webhook_parser import ParsedPayload, parse_payload, unreadable_paths
from storage.models import MESSAGE, STATUS_EVENT, WEBHOOK_EVENT, WEBHOOK_NOTICE
from tests.conftest import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    _reset_postgres,
    serve,
    settings_for,
    signed,
    status_webhook,
    text_webhook,
)
from tests.whatsapp.test_webhook_parser import JSONISH, items_accounted, items_listed, mutate

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
TABLES = {"webhook_event": WEBHOOK_EVENT, "message": MESSAGE, "status_event": STATUS_EVENT, "notice": WEBHOOK_NOTICE}

# --- valid deliveries ------------------------------------------------------------------------------------

PHONES = st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True)
WA_IDS = st.sampled_from(["31612345678", "447700900123", "16505551234"]) | PHONES
USER_IDS = st.from_regex(r"US\.[0-9]{10,20}", fullmatch=True)
# A small pool of wamids makes redeliveries and clashes between examples common.
WAMIDS = st.integers(0, 30).map(lambda n: f"wamid.fuzz.{n}") | st.uuids().map(lambda u: f"wamid.{u.hex}")
SECONDS = st.integers(1_500_000_000, 2_000_000_000)
TIMESTAMPS = SECONDS.map(str)
TEXTS = st.text(max_size=40) | st.sampled_from(
    ["hi", "menu", "STOP", "{{ 7 * 7 }}", "10482", "agent", "", "a\x00b", "\U0001f600"]
)
MEDIA = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=20), "mime_type": st.sampled_from(["image/jpeg", "audio/ogg", "video/mp4"])},
    optional={"sha256": st.text(max_size=10), "caption": TEXTS, "filename": TEXTS, "voice": st.booleans()},
)
REPLY = st.fixed_dictionaries({"id": st.text(max_size=30), "title": TEXTS}, optional={"description": TEXTS})
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "text": st.fixed_dictionaries({"body": TEXTS}),
    "button": st.fixed_dictionaries({"payload": TEXTS, "text": TEXTS}),
    "interactive": st.one_of(
        st.builds(lambda r: {"type": "button_reply", "button_reply": r}, REPLY),
        st.builds(lambda r: {"type": "list_reply", "list_reply": r}, REPLY),
        st.builds(
            lambda b: {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": b, "response_json": "{}"}}, TEXTS
        ),
    ),
    **{kind: MEDIA for kind in ("image", "video", "audio", "document", "sticker")},
    "location": st.fixed_dictionaries(
        {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)},
        optional={"name": TEXTS, "address": TEXTS},
    ),
    "contacts": st.lists(
        st.fixed_dictionaries({"name": st.fixed_dictionaries({"formatted_name": TEXTS}), "phones": st.just([])}),
        max_size=2,
    ),
    "reaction": st.fixed_dictionaries({"message_id": WAMIDS, "emoji": st.sampled_from(["", "\N{THUMBS UP SIGN}"])}),
    "order": st.fixed_dictionaries(
        {"catalog_id": st.just("1"), "product_items": st.just([{"product_retailer_id": "A", "quantity": 1}])}
    ),
    "system": st.fixed_dictionaries(
        {
            "type": st.sampled_from(["user_changed_number", "customer_identity_changed"]),
            "body": TEXTS,
            "new_wa_id": WA_IDS,
        }
    ),
}
META_ERRORS = st.lists(
    st.fixed_dictionaries(
        {"code": st.sampled_from([131051, 131026, 131047, 130429]), "title": TEXTS},
        optional={"message": TEXTS, "error_data": st.fixed_dictionaries({"details": TEXTS})},
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def messages(draw: st.DrawFn, wa_id: str) -> dict[str, Any]:
    """One entry of `value.messages[]` of any type Meta sends, from `wa_id`."""
    kind = draw(st.sampled_from([*BODIES, "unsupported", "unknown"]))
    message: dict[str, Any] = {"from": wa_id, "id": draw(WAMIDS), "timestamp": draw(TIMESTAMPS), "type": kind}
    if kind in BODIES:
        message[kind] = draw(BODIES[kind])
    else:
        message["errors"] = draw(META_ERRORS)
    if draw(st.booleans()):
        message["context"] = {"from": PHONE_NUMBER_ID, "id": draw(WAMIDS)}
    if draw(st.integers(0, 5)) == 0:
        message["referral"] = {"source_url": "https://fb.me/x", "source_type": "ad", "ctwa_clid": draw(TEXTS)}
    return message


PRICING = st.fixed_dictionaries(
    {
        "billable": st.booleans(),
        "pricing_model": st.sampled_from(["CBP", "PMP"]),
        "category": st.sampled_from(["service", "utility", "marketing", "authentication"]),
        "type": st.sampled_from(["regular", "free_customer_service", "free_entry_point"]),
    }
)
STATUSES = st.fixed_dictionaries(
    {
        "id": WAMIDS,
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "played"]),
        "timestamp": TIMESTAMPS,
        "recipient_id": WA_IDS,
    },
    optional={
        "pricing": PRICING,
        "errors": META_ERRORS,
        "biz_opaque_callback_data": st.text(max_size=30),
        "recipient_user_id": USER_IDS,
        "conversation": st.fixed_dictionaries({"id": st.text(max_size=20), "origin": st.just({"type": "service"})}),
    },
)
PREFERENCES = st.fixed_dictionaries(
    {
        "wa_id": WA_IDS,
        "category": st.just("marketing_messages") | st.text(max_size=10),
        "value": st.sampled_from(["stop", "resume", "STOP"]),
        "timestamp": SECONDS,
    },
    optional={"detail": TEXTS},
)


@st.composite
def changes(draw: st.DrawFn) -> dict[str, Any]:
    """One `changes[]` item: messages, statuses, preferences, value errors, or a field we do not read."""
    wa_id = draw(WA_IDS)
    contact: dict[str, Any] = {"profile": {"name": draw(TEXTS)}, "wa_id": wa_id}
    if draw(st.booleans()):
        contact["user_id"] = draw(USER_IDS)
    metadata = {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": metadata}
    kind = draw(st.sampled_from(["messages", "statuses", "user_preferences", "errors", "other"]))
    if kind == "messages":
        value |= {"contacts": [contact], "messages": draw(st.lists(messages(wa_id), min_size=1, max_size=3))}
    elif kind == "statuses":
        value["statuses"] = draw(st.lists(STATUSES, min_size=1, max_size=3))
    elif kind == "user_preferences":
        value |= {"contacts": [contact], "user_preferences": draw(st.lists(PREFERENCES, min_size=1, max_size=2))}
    elif kind == "errors":
        value["errors"] = draw(META_ERRORS)
    else:
        return {"field": "message_template_status_update", "value": {"event": "APPROVED", "reason": draw(TEXTS)}}
    return {"field": "user_preferences" if kind == "user_preferences" else "messages", "value": value}


ENTRIES = st.fixed_dictionaries(
    {"id": st.just("102290129340398"), "changes": st.lists(changes(), min_size=1, max_size=3)}
)
DELIVERIES = st.fixed_dictionaries(
    {"object": st.just("whatsapp_business_account"), "entry": st.lists(ENTRIES, min_size=1, max_size=3)}
)

# --- mutations and raw bytes -----------------------------------------------------------------------------

ABSURD = [
    "x" * 100_000, "\u0000", "a\u0000b", "\ud800", "\U0001f600" * 50, "\u202e\u0301", "-1", "1e400",
    "99999999999999999999", -1, -(10**18), 10**30, 2**63, 1e308, float("inf"), float("nan"), None, True,
    "", [], {}, "1700000000", "wamid." + "w" * 300, "3" * 40, "US." + "9" * 200,
]  # fmt: skip
DEEP = st.integers(1, 400).map(lambda depth: json.loads("[" * depth + "]" * depth))
NASTY = st.one_of(JSONISH, st.sampled_from(ABSURD), DEEP)
BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]  # stray, cut, surrogate, 5 bytes


def serialise(doc: Any, ascii_only: bool) -> bytes:
    """JSON as Meta might send it; lone surrogates, if any, go out as the invalid UTF-8 they become."""
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes that are not a well-formed delivery: junk, invalid UTF-8, truncated JSON, gzip, a bare value."""
    valid = serialise(draw(DELIVERIES), ascii_only=False)
    cut = draw(st.integers(0, len(valid) - 1))
    choice = draw(st.sampled_from(["junk", "utf8", "truncated", "gzip", "gzip-like", "value"]))
    if choice == "junk":
        return draw(st.binary(max_size=200))
    if choice == "utf8":
        return valid[:cut] + draw(st.sampled_from(BAD_UTF8)) + valid[cut:]
    if choice == "truncated":
        return valid[:cut]
    if choice == "gzip":
        return gzip.compress(valid)
    if choice == "gzip-like":
        return b"\x1f\x8b\x08\x00" + draw(st.binary(max_size=100))
    return serialise(draw(JSONISH), ascii_only=True)


# --- the harness -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    event_id: int | None
    parsed: ParsedPayload | None
    new_rows: dict[str, int] = field(default_factory=dict)


@dataclass
class Fuzzer:
    """The real app (no background loops) on one database, driven by hand from synchronous hypothesis tests."""

    runner: asyncio.Runner
    client: TestClient[Any, Any]
    loop_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def counts(self) -> dict[str, int]:
        async with self.app[keys.REPOSITORY].engine.connect() as conn:
            return {
                name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                for name, table in TABLES.items()
            }

    def deliver(self, body: bytes, good_signature: bool = True) -> Outcome:
        """POST `body` signed (or with a wrong signature), check what was stored, then run the dispatcher."""
        with structlog.testing.capture_logs() as logs:
            try:
                outcome = self.runner.run(self._deliver(body, good_signature))
            except AssertionError as exc:  # say what the service logged: a failed turn's error is there
                raise AssertionError(f"{exc}; logged: {[e for e in logs if e.get('log_level') != 'info']}") from exc
        if currently_in_test_context():  # the statistics of --hypothesis-show-statistics
            event(f"answered {outcome.status}")
        errors = [e for e in logs if e.get("log_level") in ("error", "critical")]
        assert errors == [], errors
        assert self.loop_errors == [], self.loop_errors
        return outcome

    async def _deliver(self, body: bytes, good_signature: bool) -> Outcome:
        before = await self.counts()
        _, headers = signed(body, APP_SECRET if good_signature else APP_SECRET + "-wrong")
        response = await self.client.post("/webhook", data=body, headers=headers)
        status = response.status
        assert status < 500, (status, await response.text())
        if status != 200:
            assert await self.counts() == before, "a refused delivery stored something"
            assert status == (400 if good_signature else 401), await response.text()
            return Outcome(status, None, None)
        assert good_signature
        ack = await response.json()
        event_id = int(ack["event_id"])
        parsed = parse_payload(body)
        assert ack["unreadable"] == len(unreadable_paths(parsed))
        await self._check_stored(body, event_id, parsed, before)
        await self.app[DISPATCHER].run_once()
        async with self.app[keys.REPOSITORY].engine.connect() as conn:
            waiting = MESSAGE.c.handled_at.is_(None) & (MESSAGE.c.direction == "in")
            unhandled = (await conn.execute(select(func.count()).select_from(MESSAGE).where(waiting))).scalar_one()
        assert unhandled == 0, "a turn failed: its message is still unhandled"
        after = await self.counts()
        return Outcome(status, event_id, parsed, {k: after[k] - before[k] for k in TABLES if after[k] != before[k]})

    async def _check_stored(self, body: bytes, event_id: int, parsed: ParsedPayload, before: dict[str, int]) -> None:
        """The raw body, every item read and every notice are in the database, once, and nothing else is new."""
        after = await self.counts()
        assert after["webhook_event"] == before["webhook_event"] + 1
        async with self.app[keys.REPOSITORY].engine.connect() as conn:
            stored = (await conn.execute(select(WEBHOOK_EVENT.c.body).where(WEBHOOK_EVENT.c.id == event_id))).one()
            assert stored.body == body.decode("utf-8")
            assert all(m.wa_id or m.user_id for m in parsed.messages), "a message the parser read has no sender"
            wamids = {m.wamid for m in parsed.messages}
            found = (await conn.execute(select(MESSAGE.c.wamid, MESSAGE.c.webhook_event_id))).all()
            assert wamids <= {row.wamid for row in found}
            ours = [row.wamid for row in found if row.webhook_event_id == event_id]
            assert len(ours) == len(set(ours)), "a message stored twice"
            assert set(ours) <= wamids, "a message not of this body"
            assert after["message"] - before["message"] == len(ours)
            pairs = {(s.wamid, s.status[:16]) for s in parsed.statuses}
            found = (await conn.execute(select(STATUS_EVENT.c.wamid, STATUS_EVENT.c.status))).all()
            assert pairs <= {(row.wamid, row.status) for row in found}
            assert after["status_event"] - before["status_event"] <= len(pairs)
            columns = [WEBHOOK_NOTICE.c[n] for n in ("webhook_event_id", "field", "kind", "reason", "payload")]
            notices = (await conn.execute(select(*columns))).all()
        expected = [(n.field, n.kind, n.reason, n.raw) for n in parsed.notices]
        expected += [("user_preferences", "preference", None, p.raw) for p in parsed.preferences]
        wanted = {_canonical(*n) for n in expected}
        assert wanted <= {_canonical(r.field, r.kind, r.reason, r.payload) for r in notices}
        ours = [_canonical(r.field, r.kind, r.reason, r.payload) for r in notices if r.webhook_event_id == event_id]
        assert len(ours) == len(set(ours)), "a notice stored twice"
        assert set(ours) <= wanted, "a notice not of this body"
        assert after["notice"] - before["notice"] == len(ours)


def _canonical(field: str, kind: str, reason: str | None, payload: Any) -> str:
    """A notice as stored (field and kind cut to their columns), comparable across a JSON round trip."""
    return json.dumps([field[:64], kind[:16], reason, payload], sort_keys=True, default=str)


def _start(database_url: str, runner: asyncio.Runner) -> Fuzzer:
    app = create_app(settings_for(database_url), transport=RecordingTransport(), migrate=True, roles={"web"})
    fuzzer = Fuzzer(runner, runner.run(serve(app)))
    runner.get_loop().set_exception_handler(lambda _loop, context: fuzzer.loop_errors.append(context))
    return fuzzer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    """One app per database for the whole module; examples share it, as deliveries share a real database."""
    with asyncio.Runner() as runner:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'bot.db'}"
        else:
            url = request.getfixturevalue("postgres_url")
            runner.run(_reset_postgres(url))
        fuzzer = _start(url, runner)
        yield fuzzer
        runner.run(fuzzer.client.close())


def expected_status(body: bytes) -> int:
    """What a correctly signed `body` must get: 200 when the parser reads an envelope in it, else 400."""
    try:
        parse_payload(body)
    except MalformedPayload:
        return 400
    return 200


# --- the properties --------------------------------------------------------------------------------------


@FUZZ
@given(DELIVERIES, st.booleans())
def test_valid_deliveries_are_stored_whole(fuzzer: Fuzzer, payload: dict[str, Any], ascii_only: bool) -> None:
    """A valid delivery of any kind, with several entries and changes, gets 200 with all of it stored."""
    assert fuzzer.deliver(serialise(payload, ascii_only)).status == 200


@settings(FUZZ, max_examples=30)
@given(DELIVERIES | raw_bodies())
def test_a_wrong_signature_is_refused_whatever_the_body(fuzzer: Fuzzer, payload: dict[str, Any] | bytes) -> None:
    """Any body, valid or not, signed with another secret gets 401 and stores nothing."""
    body = payload if isinstance(payload, bytes) else serialise(payload, ascii_only=True)
    assert fuzzer.deliver(body, good_signature=False).status == 401


@FUZZ
@given(DELIVERIES, st.integers(1, 4), st.booleans(), st.data())
def test_mutated_deliveries_store_every_good_part_and_note_every_bad_one(
    fuzzer: Fuzzer, payload: dict[str, Any], rounds: int, ascii_only: bool, data: st.DataObject
) -> None:
    """A valid delivery with parts dropped, retyped, duplicated or made absurd is refused whole only when its
    envelope is gone; otherwise every part is stored or noted, none is lost and none is stored twice."""
    doc: Any = copy.deepcopy(payload)
    for _ in range(rounds):
        doc = mutate(doc, data, NASTY)
    body = serialise(doc, ascii_only)
    outcome = fuzzer.deliver(body)
    assert outcome.status == expected_status(body)
    if outcome.parsed is not None:
        assert items_accounted(outcome.parsed) == items_listed(json.loads(body)), "a part neither stored nor noted"
        # Delivered again, as Meta does: a new raw body row, and nothing else new.
        again = fuzzer.deliver(body)
        assert again.status == 200
        assert again.new_rows == {"webhook_event": 1}


@settings(FUZZ, max_examples=60)
@given(raw_bodies())
def test_raw_bytes_never_get_a_5xx_nor_a_partial_store(fuzzer: Fuzzer, body: bytes) -> None:
    """Junk, invalid UTF-8, truncated JSON and gzip get 400 and store nothing (a bare JSON value may be a 200)."""
    assert fuzzer.deliver(body).status == expected_status(body)


# --- what fuzzing found, kept as plain examples ----------------------------------------------------------


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    return message


def _long_wa_id(payload: dict[str, Any]) -> None:
    _message(payload)["from"] = payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "3" * 40


def _long_user_id(payload: dict[str, Any]) -> None:
    value = payload["entry"][0]["changes"][0]["value"]
    del value["contacts"], value["messages"][0]["from"]
    value["messages"][0]["from_user_id"] = "US." + "9" * 200


# Each turned a delivery into a 503 on PostgreSQL for ever (Meta retries for 7 days), or was stored on SQLite
# and then failed every dispatcher round, holding up every other customer's turn.
FOUND_200: dict[str, Callable[[dict[str, Any]], None]] = {
    "wamid-longer-than-storage": lambda p: _message(p).update(id="wamid." + "w" * 300),
    "wa-id-longer-than-storage": _long_wa_id,
    "user-id-longer-than-storage": _long_user_id,
    "nul-in-text": lambda p: _message(p)["text"].update(body="a\u0000b"),
    "nul-in-key": lambda p: _message(p).update({"k\u0000": 1}),
    "nul-in-name": lambda p: p["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"].update(name="\u0000"),
    "lone-surrogate-in-text": lambda p: _message(p)["text"].update(body="\ud800 \udfff"),
    "lone-surrogate-deep": lambda p: _message(p).update(deep=json.loads("[" * 300 + '"\\udc00"' + "]" * 300)),
    "list-as-button-text": lambda p: _retype(p, "button", {"text": [[]], "payload": ""}),
    "list-as-reply-title": lambda p: _retype(p, "interactive", {"type": "button_reply", "button_reply": {"title": []}}),
    "text-as-reply": lambda p: _retype(p, "interactive", {"type": "list_reply", "list_reply": "menu"}),
}


def _retype(payload: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    """Make the text message a message of `kind` whose object is `body`."""
    message = _message(payload)
    del message["text"]
    message.update({"type": kind, kind: body})


@pytest.mark.parametrize("case", FOUND_200)
def test_deliveries_fuzzing_found_are_stored_and_dispatched(fuzzer: Fuzzer, case: str) -> None:
    """Each delivery fuzzing once turned into a 5xx or a failing dispatcher round is answered 200 and handled."""
    payload = text_webhook(wamid=f"wamid.found.{case}")
    FOUND_200[case](payload)
    outcome = fuzzer.deliver(json.dumps(payload).encode())
    assert outcome.status == 200
    assert outcome.parsed is not None
    assert not any("\x00" in m.text or "\ud800" in m.text for m in outcome.parsed.messages if m.text)


def test_a_status_for_an_overlong_wamid_is_kept_as_a_notice(fuzzer: Fuzzer) -> None:
    """A status whose id no wamid can have is stored as an unparsed notice, not a 503."""
    outcome = fuzzer.deliver(json.dumps(status_webhook("wamid." + "s" * 300, "delivered")).encode())
    assert outcome.status == 200
    assert outcome.parsed is not None
    assert [n.kind for n in outcome.parsed.notices] == ["unparsed"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_delivery_in_another_unicode_encoding_is_refused_whole(fuzzer: Fuzzer, encoding: str) -> None:
    """JSON in UTF-16 or UTF-32 (valid UTF-8 too when it has no BOM) is a 400, never a half-stored 200 or a 503."""
    body = json.dumps(text_webhook(wamid=f"wamid.found.{encoding}")).encode(encoding)
    assert fuzzer.deliver(body).status == 400


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-2.5E+999"])
def test_a_number_json_cannot_hold_is_refused_whole(fuzzer: Fuzzer, number: str) -> None:
    """NaN, Infinity and numbers beyond a float (Python reads them as inf) are a 400, not a 503 on PostgreSQL."""
    body = json.dumps(text_webhook(wamid=f"wamid.found.{number}")).replace('"hello"', '"hello", "n": ' + number)
    assert fuzzer.deliver(body.encode()).status == 400
