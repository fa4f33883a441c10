"""Marketing consent: STOP and START before any flow, Meta's stop webhook and 131050, and sends bound by the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import create_app
from bot.inbound.consent_keywords import Keywords, normalise
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.message_body import template_message
from storage import consent
from storage.consent import ConsentChange
from storage.models import MessageBase
from storage.repository import Repository
from tests.api.test_app import ClientFactory, post_webhook
from tests.conftest import FakeClock, envelope
from tests.inbound.test_flow_runner import _turn, says, texts
from tests.outbound.test_sender import contact_id, drain, make_sender, meta_error, outbox_rows, reply

Client = TestClient[web.Request, web.Application]
ANA, BEN = "31612345001", "31612345002"
NOON = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
STOPPED_EN = "Done: you will get no more promotions from us."


@pytest.fixture
def noon() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, noon: FakeClock) -> Client:
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    app = create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


def message(kind: str, text: str | None = None, reply_id: str | None = None) -> MessageBase:
    return MessageBase(wamid="w", direction="in", contact_id=1, type=kind, text=text, reply_id=reply_id)


# -- the keywords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "folded"),
    [("Stop!", "stop"), ("STOP_PROMOTIONS", "stop promotions"), ("Arrêt", "arret"), ("  s\u2019abonner ", "s abonner")],
)
def test_normalise_folds_case_accents_and_punctuation(said: str, folded: str) -> None:
    """Keywords compare without case, accents, punctuation or the underscores of button payloads."""
    assert normalise(said) == folded


@pytest.mark.parametrize(
    ("said", "action", "language"),
    [
        ("STOP", "opt_out", "en"), ("unsubscribe", "opt_out", "en"), ("Afmelden", "opt_out", "nl"),
        ("Stopp", "opt_out", "de"), ("arrêter", "opt_out", "fr"), ("Darme de baja", "opt_out", "es"),
        ("parar", "opt_out", "pt_BR"), ("START", "opt_in", "en"), ("Anmelden", "opt_in", "de"),
    ],
)  # fmt: skip
def test_keywords_in_six_languages(said: str, action: str, language: str) -> None:
    """The whole message must be the keyword; its language picks the confirmation's when the contact's is unknown."""
    intent = Keywords().match(message("text", said))
    assert intent is not None
    assert (intent.action, intent.source, intent.language) == (action, "keyword", language)


@pytest.mark.parametrize("said", ["please stop calling me", "stop the order", "starting", "", "menu"])
def test_a_keyword_inside_a_sentence_is_not_consent(said: str) -> None:
    """Only a message that is a keyword counts: 'stop the order' is for the flows."""
    assert Keywords().match(message("text", said)) is None


def test_only_texts_and_template_buttons_count() -> None:
    """A template's Stop promotions button opts out by its payload; a flow's own button with that title does not."""
    intent = Keywords().match(message("button", "Stop promotions", "STOP_PROMOTIONS"))
    assert intent is not None
    assert (intent.action, intent.source) == ("opt_out", "button")
    assert Keywords().match(message("interactive", "Stop", "stop")) is None
    assert Keywords().match(message("image", "STOP")) is None


def test_a_business_can_replace_the_keywords() -> None:
    """Configured words replace a list; the other list keeps its defaults."""
    keywords = Keywords.configured(["Halt", "no more ads"], None)
    assert keywords.match(message("text", "NO MORE ADS")) is not None
    assert keywords.match(message("text", "stop")) is None
    intent = keywords.match(message("text", "start"))
    assert intent is not None
    assert intent.action == "opt_in"


# -- through the app ------------------------------------------------------------------------------


async def contact_of(client: Client, wa_id: str) -> int:
    contact = await client.server.app[keys.REPOSITORY].contact_by_wa_id(wa_id)
    assert contact is not None
    assert contact.id is not None
    return contact.id


async def ledger(client: Client, wa_id: str) -> list[tuple[str, str]]:
    cid = await contact_of(client, wa_id)
    async with client.server.app[keys.REPOSITORY].engine.connect() as conn:
        return [(e.action, e.source) for e in await consent.history(conn, cid)]


async def test_stop_mid_flow_opts_out_once_and_the_flow_carries_on(client: Client) -> None:
    """STOP during a flow records the opt-out with its evidence, answers once, and the flow's step still waits."""
    await says(client, ANA, "hi")
    asked = await says(client, ANA, "1")  # orders: asks for the order number
    replies = await says(client, ANA, "STOP")
    assert len(replies) == 1
    assert texts(replies)[0].startswith(STOPPED_EN)
    assert await ledger(client, ANA) == [("opt_out", "keyword")]
    assert await says(client, ANA, "menu") != asked  # commands still work: the session was left as it was
    async with client.server.app[keys.REPOSITORY].engine.connect() as conn:
        [event] = await consent.history(conn, await contact_of(client, ANA))
    assert event.evidence is not None
    assert event.evidence["said"] == "STOP"
    assert event.evidence["wamid"].startswith(f"wamid.{ANA}.")


async def test_start_opts_back_in_and_the_state_follows_the_latest_entry(client: Client) -> None:
    """STOP then START leaves two entries, and the current state is the opt-in."""
    await says(client, ANA, "stop")
    replies = await says(client, ANA, "Start")
    assert texts(replies) == ["Welcome back: you will get our promotions again. Send STOP at any time to end them."]
    assert await ledger(client, ANA) == [("opt_out", "keyword"), ("opt_in", "keyword")]
    cid = await contact_of(client, ANA)
    async with client.server.app[keys.REPOSITORY].engine.connect() as conn:
        assert await consent.states(conn, [cid]) == {cid: "opt_in"}


async def test_a_dutch_stop_is_confirmed_in_dutch(client: Client) -> None:
    """With no language on the contact, the keyword's language picks the confirmation."""
    [body] = await says(client, BEN, "afmelden")
    assert texts([body])[0].startswith("Gelukt: je ontvangt geen aanbiedingen meer")


async def test_the_template_stop_button_opts_out_and_cancels_queued_marketing(client: Client, noon: FakeClock) -> None:
    """A tap on Stop promotions cancels every queued marketing message to that contact, and only theirs."""
    app = client.server.app
    repository: Repository = app[keys.REPOSITORY]
    await says(client, ANA, "hi")
    await says(client, BEN, "hi")
    ana, ben = await contact_of(client, ANA), await contact_of(client, BEN)
    promo = template_message(ANA, "back_in_stock", "en")
    await repository.enqueue(
        [
            reply(ana, ANA, "", noon, kind="marketing", payload=promo, idempotency_key="m1", due_at=noon.now),
            reply(ben, BEN, "", noon, kind="marketing", payload=promo, idempotency_key="m2", due_at=noon.now),
        ],
        noon.now,
    )
    tap = {
        "from": ANA, "id": "wamid.tap.1", "timestamp": str(int(noon.now.timestamp())), "type": "button",
        "button": {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
    }  # fmt: skip
    await post_webhook(client, envelope({"contacts": [{"profile": {"name": "Ana"}, "wa_id": ANA}], "messages": [tap]}))
    replies = await _turn(client)
    assert texts(replies)[0].startswith(STOPPED_EN)
    assert await ledger(client, ANA) == [("opt_out", "button")]
    marketing = {r.idempotency_key: r for r in await outbox_rows(repository) if r.kind == "marketing"}
    assert marketing["m1"].status == "cancelled"
    assert marketing["m1"].last_error == {
        "code": "opted_out", "message": "the contact opted out of marketing before this was sent"
    }  # fmt: skip
    assert marketing["m2"].status == "queued"


def preference(wa_id: str, value: str) -> dict[str, Any]:
    entry = {"wa_id": wa_id, "category": "marketing_messages", "value": value, "detail": "x", "timestamp": 1775822400}
    return envelope({"user_preferences": [entry]}, field="user_preferences")


async def test_metas_stop_webhook_opts_out_once_however_often_it_comes(client: Client) -> None:
    """A user_preferences stop is a ledger entry from the webhook's own transaction; a redelivery adds nothing."""
    await says(client, ANA, "hi")
    for _ in range(2):
        await post_webhook(client, preference(ANA, "stop"))
    assert await ledger(client, ANA) == [("opt_out", "preference")]
    await post_webhook(client, preference(ANA, "resume"))
    assert await ledger(client, ANA) == [("opt_out", "preference"), ("opt_in", "preference")]


async def test_a_stop_webhook_for_a_new_number_creates_the_contact(client: Client) -> None:
    """Meta may say stop for a number that never wrote: the contact is created so the opt-out is kept."""
    await post_webhook(client, preference(BEN, "stop"))
    assert await ledger(client, BEN) == [("opt_out", "preference")]


# -- at send time ---------------------------------------------------------------------------------


async def test_marketing_is_sent_only_to_opted_in_contacts(repository: Repository, clock: FakeClock) -> None:
    """Without an opt-in marketing is cancelled unsent; after one it goes; after an opt-out it is cancelled."""
    wa = "31600000071"
    cid = await contact_id(repository, wa, clock)
    promo = template_message(wa, "back_in_stock", "en")

    async def send(key: str) -> str:
        row = reply(
            cid, wa, "", clock, kind="marketing", payload=promo, template_category="marketing", idempotency_key=key
        )
        await repository.enqueue([row], clock.now)
        await drain(make_sender(repository, RecordingTransport(), clock))
        return next(r for r in await outbox_rows(repository) if r.idempotency_key == key).status

    assert await send("never-asked") == "cancelled"
    async with repository.transaction() as conn:
        await consent.record(conn, [ConsentChange(cid, "opt_in", "api", {"by": "test"}, clock.now)], clock.now)
    assert await send("opted-in") == "sent"
    async with repository.transaction() as conn:
        await consent.record(
            conn, [ConsentChange(cid, "opt_out", "dashboard", {"user": "admin"}, clock.now)], clock.now
        )
    assert await send("opted-out") == "cancelled"


async def test_131050_records_the_opt_out_and_cancels_the_rest(repository: Repository, clock: FakeClock) -> None:
    """Meta's 'user stopped marketing' fails that send, opts the contact out and cancels their queued marketing."""
    wa = "31600000072"
    cid = await contact_id(repository, wa, clock)
    async with repository.transaction() as conn:
        await consent.record(conn, [ConsentChange(cid, "opt_in", "import", {"line": 2}, clock.now)], clock.now)
    promo = template_message(wa, "back_in_stock", "en")
    first = reply(
        cid, wa, "", clock, kind="marketing", payload=promo, template_category="marketing", idempotency_key="a"
    )
    later = reply(
        cid, wa, "", clock, kind="marketing", payload=promo, template_category="marketing", idempotency_key="b",
        due_at=clock.now + timedelta(hours=1),
    )  # fmt: skip
    await repository.enqueue([first, later], clock.now)
    transport = RecordingTransport([meta_error(131050)])
    await drain(make_sender(repository, transport, clock))
    rows = {r.idempotency_key: r for r in await outbox_rows(repository)}
    assert rows["a"].status == "failed"
    assert rows["b"].status == "cancelled"
    async with repository.engine.connect() as conn:
        history = await consent.history(conn, cid)
        assert [(e.action, e.source) for e in history] == [("opt_in", "import"), ("opt_out", "error_131050")]
        assert await consent.states(conn, [cid]) == {cid: "opt_out"}
    assert len(transport.requests) == 1
