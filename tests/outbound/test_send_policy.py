"""Send-time rules: quiet hours, Meta's messaging-limit tier, unwanted messages, unreachable numbers, blocks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ConfigError
from bot.outbound.send_policy import (
    Drop,
    Hold,
    SendPolicy,
    as_meta_says,
    reaches_outside_window,
    template_key,
)
from bot.settings import QuietHours, parse_messaging_limit, parse_quiet_hours
from bot.whatsapp.message_body import template_message, text_message
from storage.consent import OPT_IN
from storage.models import ContactBase, NumberStateBase, OutboxBase, TemplateBlockBase, TemplateStatusBase
from storage.policy import BatchContext, Reach

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NIGHT = QuietHours(time(21, 0), time(8, 0))


def row(contact_id: int = 1, kind: str = "utility", **kw: Any) -> OutboxBase:
    payload = kw.pop("payload", None) or template_message(f"3161234{contact_id:04d}", "order_update", "en")
    category = kw.pop("template_category", "utility")
    recipient = kw.pop("recipient", "x")
    return OutboxBase(
        id=contact_id, kind=kind, contact_id=contact_id, recipient=recipient, payload=payload,
        template_category=category, **kw,
    )  # fmt: skip


def context(*contacts: ContactBase, **kw: Any) -> BatchContext:
    return BatchContext(
        contacts={c.id: c for c in contacts if c.id is not None},
        open_conversations={},
        reach=kw.pop("reach", Reach(0, None, frozenset())),
        blocked=kw.pop("blocked", {}),
        unwanted=kw.pop("unwanted", {}),
        marketing_consent=kw.pop("consent", {}),
        campaigns=kw.pop("campaigns", {}),
        marketing_this_week=kw.pop("this_week", {}),
        templates=kw.pop("templates", {}),
        number=kw.pop("number", None),
    )


def marketing(contact_id: int = 1, **kw: Any) -> OutboxBase:
    """A marketing template to a Dutch number, from campaign `campaign_id` when given."""
    kw.setdefault("recipient", "31612340001")
    return row(contact_id, kind="marketing", template_category="marketing", **kw)


def contact(contact_id: int = 1, **kw: Any) -> ContactBase:
    return ContactBase(id=contact_id, wa_id=f"3161234{contact_id:04d}", **kw)


# -- parsing the settings ---------------------------------------------------------------------------


def test_quiet_hours_parse_and_turn_off() -> None:
    """`21:00-08:00` is a span crossing midnight; empty or `off` turns the rule off."""
    assert parse_quiet_hours("21:00-08:00") == NIGHT
    assert parse_quiet_hours(" 9:30 - 17:00 ") == QuietHours(time(9, 30), time(17, 0))
    assert parse_quiet_hours("off") is None
    assert parse_quiet_hours("") is None


@pytest.mark.parametrize("text", ["21-08", "25:00-08:00", "21:00", "21:00-21:00", "nine-five"])
def test_bad_quiet_hours_name_the_setting(text: str) -> None:
    """A malformed span is a configuration error that names BOT_QUIET_HOURS and the value."""
    with pytest.raises(ConfigError, match="BOT_QUIET_HOURS"):
        parse_quiet_hours(text)


def test_messaging_limit_accepts_only_metas_tiers() -> None:
    """The tier is one of Meta's (250 … 100,000) or unlimited; anything else names the choices."""
    assert parse_messaging_limit("250") == 250
    assert parse_messaging_limit("100,000") == 100_000
    assert parse_messaging_limit("Unlimited") is None
    with pytest.raises(ConfigError, match="250, 2000, 10000, 100000 or unlimited"):
        parse_messaging_limit("300")


# -- quiet hours ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "until"),
    [
        (datetime(2026, 11, 26, 22, 15), datetime(2026, 11, 27, 8, 0)),  # evening: until tomorrow morning
        (datetime(2026, 11, 26, 3, 0), datetime(2026, 11, 26, 8, 0)),  # small hours: until this morning
        (datetime(2026, 11, 26, 21, 0), datetime(2026, 11, 27, 8, 0)),  # the start is inside
        (datetime(2026, 11, 26, 8, 0), None),  # the end is outside
        (datetime(2026, 11, 26, 12, 0), None),
    ],
)
def test_quiet_hours_end_in_local_time(local: datetime, until: datetime | None) -> None:
    """Inside the span the message waits until its end, read in the zone; outside it goes."""
    now = local.replace(tzinfo=AMSTERDAM).astimezone(UTC)
    expected = until.replace(tzinfo=AMSTERDAM).astimezone(UTC) if until else None
    assert NIGHT.until(now, AMSTERDAM) == expected


def test_daytime_quiet_hours_do_not_cross_midnight() -> None:
    """A span within one day (12:00-14:00) holds only inside it."""
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.until(NOON, UTC) == NOON.replace(hour=14)
    assert lunch.until(NOON.replace(hour=11), UTC) is None


def test_quiet_hours_across_the_spring_forward_night() -> None:
    """On the night clocks skip 02:00-03:00, 08:00 local is still 08:00 local (06:00 UTC)."""
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 CET on 29 March
    assert NIGHT.until(now, AMSTERDAM) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


def test_quiet_hours_hold_utility_and_marketing_only() -> None:
    """Replies and codes go at night; utility and marketing wait; an urgent utility message goes."""
    policy = SendPolicy(AMSTERDAM, NIGHT)
    night = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    checks = policy.for_batch(context(contact(), consent={1: "opt_in"}), night)
    held = checks.check(row(kind="utility"))
    assert isinstance(held, Hold)
    assert held.code == "quiet_hours"
    assert held.until == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert held.message == "quiet hours in Europe/Amsterdam until 08:00"
    assert isinstance(checks.check(row(kind="marketing", template_category="marketing")), Hold)
    assert checks.check(row(kind="utility", urgent=True)) is None
    assert checks.check(row(kind="otp", template_category="authentication")) is None
    assert checks.check(row(kind="reply", payload=text_message("x", "hi"), template_category=None)) is None


@pytest.mark.parametrize(
    ("state", "code", "message"),
    [
        (None, "no_consent", "the contact never opted in to marketing"),
        ("opt_out", "opted_out", "the contact opted out of marketing"),
        ("opt_in", None, None),
    ],
)
def test_marketing_goes_only_to_contacts_who_opted_in(state: str | None, code: str | None, message: str | None) -> None:
    """Marketing is cancelled unless the contact's latest consent is an opt-in; utility is not consent-bound."""
    consent = {1: state} if state else {}
    checks = SendPolicy(AMSTERDAM).for_batch(context(contact(), consent=consent), NOON)
    stop = checks.check(row(kind="marketing", template_category="marketing"))
    if code is None:
        assert stop is None
    else:
        assert isinstance(stop, Drop)
        assert (stop.status, stop.code) == ("cancelled", code)
        assert stop == Drop("cancelled", code, str(message))
    assert checks.check(row(kind="utility")) is None


def test_marketing_to_a_us_number_fails() -> None:
    """Meta refuses marketing templates to +1 numbers, so one fails at once; utility to the same number goes."""
    checks = SendPolicy(UTC).for_batch(context(contact(), consent={1: "opt_in"}), NOON)
    stop = checks.check(marketing(recipient="15551234567"))
    assert stop == Drop("failed", "us_number", "Meta does not deliver marketing templates to +1 numbers")
    assert checks.check(row(recipient="15551234567")) is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("running", None),
        ("paused", Hold(NOON + timedelta(seconds=30), "campaign_paused", "the campaign is paused")),
        ("cancelled", Drop("cancelled", "campaign_cancelled", "the campaign was cancelled before this was sent")),
    ],
)
def test_a_campaigns_state_decides_its_messages(state: str, expected: Hold | Drop | None) -> None:
    """A paused campaign's message looks again in 30 s, a cancelled one's is cancelled, a running one's goes."""
    checks = SendPolicy(UTC).for_batch(context(contact(), consent={1: "opt_in"}, campaigns={7: (state, 10)}), NOON)
    assert checks.check(marketing(campaign_id=7)) == expected


def test_marketing_outside_any_campaign_ignores_the_campaigns() -> None:
    """A marketing message from no campaign is neither held by a paused campaign nor capped by one."""
    paused = {1: ("paused", 0)}
    checks = SendPolicy(UTC).for_batch(context(contact(), consent={1: "opt_in"}, campaigns=paused), NOON)
    assert checks.check(marketing()) is None


def test_a_campaigns_frequency_cap_counts_the_week_and_this_batch() -> None:
    """With a cap of 3 and 1 marketing message this week, two more go and the next is cancelled; others are free."""
    campaigns = {7: ("running", 3), 8: ("running", 1)}
    checks = SendPolicy(UTC).for_batch(
        context(contact(1), contact(2), consent={1: "opt_in", 2: "opt_in"}, campaigns=campaigns, this_week={1: 1}),
        NOON,
    )
    assert checks.check(marketing(1, campaign_id=7)) is None
    assert checks.check(marketing(1, campaign_id=7)) is None
    stop = checks.check(marketing(1, campaign_id=7))
    assert stop == Drop("cancelled", "frequency_cap", "3 marketing messages in the last 7 days (cap 3)")
    assert checks.check(row(1)) is None  # utility is not capped
    assert checks.check(marketing(1, campaign_id=9)) is None  # a campaign not in the batch's facts: no cap read
    assert checks.check(marketing(2, campaign_id=8)) is None  # no marketing this week: the first of a cap of 1 goes
    assert checks.check(marketing(2, campaign_id=8)) == Drop(
        "cancelled", "frequency_cap", "1 marketing messages in the last 7 days (cap 1)"
    )


def test_the_contacts_own_zone_wins() -> None:
    """A contact in São Paulo is not woken at 05:00 their time because it is 09:00 in Amsterdam."""
    policy = SendPolicy(AMSTERDAM, NIGHT)
    at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 Amsterdam, 05:00 São Paulo
    brazil = contact(time_zone="America/Sao_Paulo")
    assert isinstance(policy.for_batch(context(brazil), at).check(row()), Hold)
    assert policy.for_batch(context(contact(time_zone="Europe/Amsterdam")), at).check(row()) is None
    assert policy.for_batch(context(contact(time_zone="Not/AZone")), at).check(row()) is None


# -- the messaging-limit tier -----------------------------------------------------------------------


def test_the_tier_counts_new_users_outside_the_window() -> None:
    """With 249 users reached, one more may be reached; the next waits until the oldest drops out."""
    frees_at = NOON + timedelta(hours=3)
    policy = SendPolicy(UTC, messaging_limit=250)
    checks = policy.for_batch(context(contact(1), contact(2), reach=Reach(249, frees_at, frozenset())), NOON)
    assert checks.check(row(1)) is None
    assert checks.check(row(1)) is None  # the same user again does not count twice
    held = checks.check(row(2))
    assert isinstance(held, Hold)
    assert (held.code, held.until) == ("messaging_limit", frees_at)
    assert held == Hold(frees_at, "messaging_limit", "messaging limit of 250 users per 24 h reached")


def test_each_new_user_takes_one_place_in_the_tier() -> None:
    """With 248 of 250 reached, two new users go and the third waits."""
    frees_at = NOON + timedelta(hours=3)
    policy = SendPolicy(UTC, messaging_limit=250)
    users = [contact(n) for n in (1, 2, 3)]
    checks = policy.for_batch(context(*users, reach=Reach(248, frees_at, frozenset())), NOON)
    assert [checks.check(row(n)) for n in (1, 2)] == [None, None]
    assert checks.check(row(3)) == Hold(frees_at, "messaging_limit", "messaging limit of 250 users per 24 h reached")


def test_the_first_user_reached_frees_a_place_24_hours_later() -> None:
    """With no one reached in the window, the batch's first user is counted until 24 h from now."""
    policy = SendPolicy(UTC, messaging_limit=250)
    checks = policy.for_batch(context(contact(1), contact(2), reach=Reach(249, None, frozenset())), NOON)
    assert checks.check(row(1)) is None
    held = checks.check(row(2))
    assert isinstance(held, Hold)
    assert held.until == NOON + timedelta(hours=24)


@pytest.mark.parametrize(
    ("frees_at", "until"),
    [
        pytest.param(None, NOON + timedelta(hours=1), id="full-with-no-end-known-looks-again-in-an-hour"),
        pytest.param(NOON - timedelta(minutes=1), NOON + timedelta(seconds=1), id="an-end-already-past-waits-1s"),
    ],
)
def test_a_full_tier_always_holds_until_a_moment_to_come(frees_at: datetime | None, until: datetime) -> None:
    """A full tier whose freeing moment is unknown or already past still holds the message into the future."""
    policy = SendPolicy(UTC, messaging_limit=250)
    checks = policy.for_batch(context(contact(1), reach=Reach(250, frees_at, frozenset())), NOON)
    assert checks.check(row(1)) == Hold(until, "messaging_limit", "messaging limit of 250 users per 24 h reached")


def test_users_already_reached_or_inside_their_window_do_not_count() -> None:
    """A user reached in the last 24 h, or one who wrote to us, costs nothing of the tier."""
    policy = SendPolicy(UTC, messaging_limit=250)
    chatting = contact(2, last_inbound_at=NOON - timedelta(hours=1))
    checks = policy.for_batch(context(contact(1), chatting, reach=Reach(250, NOON, frozenset({1}))), NOON)
    assert checks.check(row(1)) is None
    assert checks.check(row(2)) is None
    assert reaches_outside_window(row(2), chatting, NOON) is False
    assert reaches_outside_window(row(3, kind="reply", payload=text_message("x", "hi")), None, NOON) is False


@pytest.mark.parametrize(
    ("category", "counts"),
    [("utility", True), ("marketing", True), ("authentication", True), (None, True), ("service", False)],
)
def test_templates_outside_the_window_count_except_service_ones(category: str | None, counts: bool) -> None:
    """A business-initiated template to a contact with no open window counts, one without a category too."""
    assert reaches_outside_window(row(template_category=category), None, NOON) is counts
    assert reaches_outside_window(row(template_category=category), contact(), NOON) is counts


# -- wanted, reachable, usable ----------------------------------------------------------------------


def test_an_unwanted_message_is_cancelled_with_its_reason() -> None:
    """A message whose subject went away (a cancelled appointment) is dropped as cancelled."""
    checks = SendPolicy(UTC).for_batch(
        context(contact(), unwanted={"appointment:4": "appointment 4 is cancelled"}), NOON
    )
    assert checks.check(row(subject="appointment:4")) == Drop("cancelled", "not_wanted", "appointment 4 is cancelled")
    assert checks.check(row(subject="appointment:5")) is None


def test_an_undeliverable_number_fails_until_the_customer_writes() -> None:
    """After 131026 nothing is sent to the number; a message from the customer afterwards lifts it."""
    marked = NOON - timedelta(hours=2)
    silent = contact(undeliverable_at=marked, last_inbound_at=marked - timedelta(days=1))
    stop = SendPolicy(UTC).for_batch(context(silent), NOON).check(row())
    assert isinstance(stop, Drop)
    assert (stop.status, stop.code) == ("failed", "undeliverable")
    assert stop.message == "Meta reported this number cannot receive messages (131026)"
    wrote = contact(undeliverable_at=marked, last_inbound_at=marked + timedelta(minutes=5))
    assert SendPolicy(UTC).for_batch(context(wrote), NOON).check(row()) is None


def test_a_blocked_template_fails_in_its_language_only() -> None:
    """A template Meta refused fails at once with the refusal; the same name in another language goes."""
    block = TemplateBlockBase(name="order_update", language="en", error_code=132015, reason="paused", blocked_at=NOON)
    checks = SendPolicy(UTC).for_batch(context(contact(), blocked={("order_update", "en"): block}), NOON)
    stop = checks.check(row())
    assert isinstance(stop, Drop)
    assert stop.code == "template_blocked"
    assert "paused" in stop.message
    assert stop == Drop(
        "failed", "template_blocked", "template order_update (en) is blocked since Meta refused it: paused"
    )
    assert checks.check(row(payload=template_message("x", "order_update", "pt_BR"))) is None


def test_template_key_reads_name_and_language() -> None:
    """Only template sends have a key: (name, language code)."""
    assert template_key(row()) == ("order_update", "en")
    assert template_key(row(payload=text_message("x", "hi"))) is None


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"type": "text", "template": {"name": "t", "language": {"code": "en"}}}, id="not-a-template"),
        pytest.param({"type": "template", "template": "t"}, id="template-not-an-object"),
        pytest.param({"type": "template", "template": {"name": "t", "language": "en"}}, id="language-not-an-object"),
        pytest.param({"type": "template", "template": {"name": "t", "language": {}}}, id="no-language-code"),
        pytest.param({"type": "template", "template": {"language": {"code": "en"}}}, id="no-name"),
    ],
)
def test_a_misshapen_template_has_no_key(payload: dict[str, Any]) -> None:
    """A payload that is not a well-formed template send has no (name, language) to block or look up."""
    assert template_key(row(payload=payload)) is None


# -- Meta's word: template status and category, the number's quality and tier ----------------------


def meta(status: str | None = "APPROVED", category: str | None = None, reason: str | None = None) -> Any:
    state = TemplateStatusBase(name="order_update", language="en", status=status, category=category, reason=reason)
    return {("order_update", "en"): state}


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(None, None), ("APPROVED", None), ("FLAGGED", None), ("PENDING", Hold), ("PAUSED", Hold),
     ("REJECTED", Drop), ("DISABLED", Drop)],
)  # fmt: skip
def test_a_template_meta_has_not_approved_waits_or_fails_with_metas_reason(status: str | None, verdict: Any) -> None:
    """Pending and paused wait (Meta lifts them); rejected and disabled fail; unheard-of and approved go."""
    checks = SendPolicy(AMSTERDAM).for_batch(context(contact(), templates=meta(status, reason="SCAM")), NOON)
    got = checks.check(row())
    if verdict is None:
        assert got is None
    else:
        assert isinstance(got, verdict)
        assert (got.code, got.message) == (
            "template_not_approved",
            f"template order_update (en) is {status} at Meta: SCAM",
        )


def test_a_template_meta_moved_to_marketing_is_priced_and_checked_as_marketing() -> None:
    """Re-categorised, a utility send carries Meta's category and needs the contact's marketing consent."""
    facts = context(contact(), templates=meta(category="marketing"))
    moved = as_meta_says(row(), facts)
    assert (moved.kind, moved.template_category) == ("utility", "marketing")
    stop = SendPolicy(AMSTERDAM).for_batch(facts, NOON).check(moved)
    assert isinstance(stop, Drop)
    assert stop.code == "no_consent"
    facts.marketing_consent[1] = OPT_IN
    assert SendPolicy(AMSTERDAM).for_batch(facts, NOON).check(moved) is None


@pytest.mark.parametrize("quality", ["RED", "YELLOW", "GREEN", None])
def test_quality_red_holds_marketing_and_nothing_else(quality: str | None) -> None:
    """RED holds marketing for ten minutes; utility goes whatever the rating (YELLOW slows marketing in the sender)."""
    number = NumberStateBase(display_number="15550783881", quality=quality)
    facts = context(contact(), number=number, consent={1: OPT_IN})
    checks = SendPolicy(AMSTERDAM).for_batch(facts, NOON)
    assert checks.check(row()) is None
    got = checks.check(marketing())
    if quality == "RED":
        assert got == Hold(NOON + timedelta(minutes=10), "quality_red",
                           "marketing is paused while Meta rates the number's quality RED")  # fmt: skip
    else:
        assert got is None


@pytest.mark.parametrize(("tier", "limit"), [("TIER_50", 50), ("TIER_2K", 2000), ("TIER_UNLIMITED", None),
                                             ("TIER_NOT_SET", 250), (None, 250)])  # fmt: skip
def test_the_tier_follows_meta_once_meta_said_it(tier: str | None, limit: int | None) -> None:
    """Meta's messaging limit replaces the setting (250 here); a tier Meta did not set leaves the setting."""
    facts = context(contact(), number=NumberStateBase(messaging_limit=tier))
    assert SendPolicy(AMSTERDAM, messaging_limit=250).for_batch(facts, NOON).limit == limit
