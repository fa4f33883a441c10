"""Specification of the conversation-category and customer-service-window rules in bot.whatsapp.category."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, cast, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import OutsideServiceWindow, PolicyError, ValidationError
from bot.whatsapp.category import (
    CATEGORIES,
    CONVERSATION_LENGTH,
    FREE_ENTRY_POINT_LENGTH,
    SERVICE_WINDOW,
    Category,
    OpenConversation,
    SendDecision,
    decide_send,
    open_categories,
    parse_category,
    pricing_category,
    service_window_expires_at,
    service_window_open,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NAIVE = datetime(2025, 3, 3, 9, 0)
BUSINESS: tuple[Category, ...] = ("utility", "authentication", "marketing")
ONE_US = timedelta(microseconds=1)


def at(hours: float = 0, minutes: int = 0, seconds: int = 0) -> datetime:
    """The instant `hours:minutes:seconds` after T0 (negative hours reach back before it)."""
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def conv(category: Category, opened_hour: float, cid: int | None = None, origin: Any = None) -> OpenConversation:
    """A 24-hour conversation opened `opened_hour` hours after T0."""
    opened_at = at(opened_hour)
    return OpenConversation(category, opened_at, opened_at + CONVERSATION_LENGTH, id=cid, origin=origin)


def summary(decision: SendDecision) -> tuple[str, bool, int | None, str, datetime]:
    """The decision's fields as one comparable tuple."""
    return (
        decision.category,
        decision.opens,
        decision.conversation_id,
        decision.origin,
        decision.expires_at,
    )


# --- parse_category, CATEGORIES --------------------------------------------------------------------


def test_categories_lists_every_literal_value() -> None:
    """CATEGORIES holds exactly the values of the Category type."""
    assert get_args(Category) == CATEGORIES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("service", "service", id="lower"),
        pytest.param("AUTHENTICATION", "authentication", id="meta-upper-case"),
        pytest.param("Utility", "utility", id="title-case"),
        pytest.param(" marketing\n", "marketing", id="surrounding-whitespace"),
    ],
)
def test_parse_category_accepts_any_case(raw: str, expected: str) -> None:
    """Meta's upper-case names and our lower-case ones read as the same category."""
    assert parse_category(raw) == expected


@pytest.mark.parametrize("raw", ["", "promo", "TRANSACTIONAL", "auth", "services"])
def test_parse_category_rejects_unknown_names(raw: str) -> None:
    """An unknown name is a ValidationError whose message lists every allowed category."""
    with pytest.raises(ValidationError) as info:
        parse_category(raw)
    assert all(category in info.value.message for category in CATEGORIES)
    assert (
        info.value.message == f"unknown category {raw!r}; expected one of: service, utility, authentication, marketing"
    )


# --- pricing_category --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template_category", "is_template", "expected"),
    [
        pytest.param(None, None, "service", id="free-form-reply"),
        pytest.param("service", None, "service", id="service-template"),
        pytest.param("utility", None, "utility", id="utility-template"),
        pytest.param("AUTHENTICATION", None, "authentication", id="authentication-template-meta-case"),
        pytest.param("marketing", None, "marketing", id="marketing-template"),
        pytest.param("TRANSACTIONAL", None, "marketing", id="legacy-category-is-marketing"),
        pytest.param("", None, "marketing", id="empty-category-is-marketing"),
        pytest.param(None, True, "marketing", id="template-without-category-is-marketing"),
        pytest.param("marketing", False, "service", id="explicit-free-form-wins"),
    ],
)
def test_pricing_category(template_category: str | None, is_template: bool | None, expected: str) -> None:
    """Business-initiated messages that are neither utility nor authentication price as marketing."""
    assert pricing_category(template_category, is_template=is_template) == expected


# --- customer service window -------------------------------------------------------------------------


def test_service_window_expires_24_hours_after_the_last_inbound_message() -> None:
    """The window closes exactly 24 h after the user's latest message, and does not exist before one."""
    assert service_window_expires_at(None) is None
    assert service_window_expires_at(at(5)) == at(29) == at(5) + SERVICE_WINDOW


@pytest.mark.parametrize(
    ("last_inbound_at", "now", "expected"),
    [
        pytest.param(None, at(0), False, id="never-messaged"),
        pytest.param(at(0), at(0), True, id="00:00:00-open"),
        pytest.param(at(0), at(23, 59, 59), True, id="23:59:59-open"),
        pytest.param(at(0), at(24) - ONE_US, True, id="last-microsecond-open"),
        pytest.param(at(0), at(24), False, id="24:00:00-closed"),
        pytest.param(at(0), at(24, 0, 1), False, id="24:00:01-closed"),
        pytest.param(at(0), at(100), False, id="days-later-closed"),
        pytest.param(at(0).astimezone(timezone(timedelta(hours=5))), at(23), True, id="other-utc-offset-same-instant"),
    ],
)
def test_service_window_open_boundaries(last_inbound_at: datetime | None, now: datetime, expected: bool) -> None:
    """The window is open at 23:59:59 after the last inbound message and closed at 24:00:00."""
    assert service_window_open(last_inbound_at, now) is expected


# --- OpenConversation, open_categories ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(at(0) - ONE_US, False, id="before-opening"),
        pytest.param(at(0), True, id="at-opening"),
        pytest.param(at(23, 59, 59), True, id="23:59:59"),
        pytest.param(at(24), False, id="at-expiry"),
        pytest.param(at(30), False, id="after-expiry"),
    ],
)
def test_conversation_is_open_from_opening_until_expiry(now: datetime, expected: bool) -> None:
    """A conversation is open at its opening instant and closed at its expiry instant."""
    assert conv("marketing", 0).is_open(now) is expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"opened_at": NAIVE}, "opened_at must be a timezone-aware", id="naive-opened_at"),
        pytest.param({"expires_at": NAIVE}, "expires_at must be a timezone-aware", id="naive-expires_at"),
        pytest.param({"expires_at": at(0)}, "a conversation must expire after it opens", id="expires-when-opened"),
        pytest.param({"expires_at": at(-1)}, "a conversation must expire after it opens", id="expires-before-opened"),
        pytest.param(
            {"category": "promo"},
            "unknown category 'promo'; expected one of: service, utility, authentication, marketing",
            id="unknown-category",
        ),
        pytest.param(
            {"origin": "referral"},
            "unknown origin 'referral'; expected one of: user_initiated, business_initiated, free_entry_point",
            id="unknown-origin",
        ),
    ],
)
def test_conversation_rejects_impossible_fields(fields: dict[str, Any], message: str) -> None:
    """A conversation with naive times, no length or an unknown category or origin is a ValueError saying which."""
    values: dict[str, Any] = {"category": "utility", "opened_at": at(0), "expires_at": at(24)} | fields
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        OpenConversation(**values)


@pytest.mark.parametrize(
    ("category", "expected"),
    [(category, "user_initiated" if category == "service" else "business_initiated") for category in CATEGORIES],
    ids=list(CATEGORIES),
)
def test_conversation_origin_defaults_from_category(category: Category, expected: str) -> None:
    """Without a recorded origin, service is user-initiated and the other categories business-initiated."""
    assert conv(category, 0).effective_origin == expected


@pytest.mark.parametrize(
    ("conversations", "expected"),
    [
        pytest.param([], set(), id="none"),
        pytest.param([conv("service", -1), conv("marketing", -24)], {"service"}, id="expired-excluded"),
        pytest.param([conv("utility", 1)], set(), id="future-excluded"),
        pytest.param([conv(c, -i) for i, c in enumerate(CATEGORIES)], set(CATEGORIES), id="all-four"),
    ],
)
def test_open_categories(conversations: list[OpenConversation], expected: set[str]) -> None:
    """Only conversations open at `now` contribute their category."""
    assert open_categories(conversations, at(0)) == expected


# --- naive datetimes ---------------------------------------------------------------------------------


def _send(**overrides: Any) -> SendDecision:
    """decide_send at T0 with a marketing template and no history, overridden by keyword."""
    arguments: dict[str, Any] = {
        "template_category": "marketing",
        "open_conversations": [],
        "last_inbound_at": None,
        "now": at(0),
    }
    return decide_send(**(arguments | overrides))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: service_window_expires_at(NAIVE), "last_inbound_at", id="service_window_expires_at"),
        pytest.param(lambda: service_window_open(at(0), NAIVE), "now", id="service_window_open-now"),
        pytest.param(
            lambda: service_window_open(NAIVE, at(0)), "last_inbound_at", id="service_window_open-last_inbound_at"
        ),
        pytest.param(lambda: conv("service", 0).is_open(NAIVE), "now", id="is_open"),
        pytest.param(lambda: open_categories([], NAIVE), "now", id="open_categories"),
        pytest.param(lambda: _send(now=NAIVE), "now", id="decide_send-now"),
        pytest.param(lambda: _send(last_inbound_at=NAIVE), "last_inbound_at", id="decide_send-last_inbound_at"),
        pytest.param(
            lambda: _send(free_entry_point_at=NAIVE), "free_entry_point_at", id="decide_send-free_entry_point_at"
        ),
        pytest.param(
            lambda: _send(template_category=None, last_inbound_at=NAIVE),
            "last_inbound_at",
            id="decide_send-free-form-last_inbound_at",
        ),
    ],
)
def test_naive_datetimes_are_rejected(call: Callable[[], object], name: str) -> None:
    """Every function refuses a naive datetime with ValueError naming the argument, instead of guessing its zone."""
    with pytest.raises(ValueError, match="timezone-aware") as info:
        call()
    assert str(info.value) == f"{name} must be a timezone-aware UTC datetime, got naive {NAIVE.isoformat()}"


class NoOffset(tzinfo):
    """A time zone that does not know its offset: Python counts a datetime in it as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_zone_without_an_offset_counts_as_naive() -> None:
    """A datetime whose tzinfo gives no UTC offset is naive by Python's definition, and refused like one."""
    vague = NAIVE.replace(tzinfo=NoOffset())
    with pytest.raises(ValueError, match=r"^now must be a timezone-aware"):
        open_categories([], vague)


# --- templates: every category x {none open, same open, other open, same expired} --------------------

WINDOWS = [("window-open", at(-1)), ("window-closed", at(-30)), ("never-messaged", None)]


def _business_template_cases() -> list[Any]:
    """Each business category against each conversation state, inside and outside the window."""
    cases = []
    for category in BUSINESS:
        opened = (category, True, None, "business_initiated", at(24))
        states: list[tuple[str, list[OpenConversation], tuple[Any, ...]]] = [
            ("none-open", [], opened),
            ("same-open", [conv(category, -3, 1)], (category, False, 1, "business_initiated", at(21))),
            ("same-expired", [conv(category, -24, 1)], opened),
            ("same-expired-long-ago", [conv(category, -100, 1)], opened),
        ]
        states += [(f"other-{other}-open", [conv(other, -3, 2)], opened) for other in CATEGORIES if other != category]
        for window_id, inbound in WINDOWS:
            for state_id, conversations, expected in states:
                cases.append(
                    pytest.param(category, conversations, inbound, expected, id=f"{category}-{state_id}-{window_id}")
                )
    return cases


@pytest.mark.parametrize(("category", "conversations", "last_inbound_at", "expected"), _business_template_cases())
def test_business_template_opens_its_category_unless_one_is_open(
    category: Category,
    conversations: list[OpenConversation],
    last_inbound_at: datetime | None,
    expected: tuple[Any, ...],
) -> None:
    """A business template joins the open conversation of its own category, else opens one."""
    decision = decide_send(
        template_category=category,
        open_conversations=conversations,
        last_inbound_at=last_inbound_at,
        now=at(0),
    )
    assert summary(decision) == expected
    assert decision.closes == ()


def test_template_joins_the_newest_when_records_hold_two_of_its_category() -> None:
    """Should the records hold two open conversations of one category, the newer one is joined."""
    decision = _send(open_conversations=[conv("marketing", -5, 1), conv("marketing", -2, 2)])
    assert summary(decision) == ("marketing", False, 2, "business_initiated", at(22))


# --- free-form messages and "service" templates ------------------------------------------------------

_OPENS_SERVICE = ("service", True, None, "user_initiated", at(24))
FREE_FORM_IN_WINDOW = [
    pytest.param([], _OPENS_SERVICE, id="none-open-opens-service"),
    pytest.param([conv("service", -5, 1)], ("service", False, 1, "user_initiated", at(19)), id="service-open-joins"),
    pytest.param([conv("service", -24, 1)], _OPENS_SERVICE, id="service-expired-opens-service"),
    pytest.param([conv("service", 1, 1)], _OPENS_SERVICE, id="service-in-future-ignored"),
    *[
        pytest.param([conv(c, -5, 2)], (c, False, 2, "business_initiated", at(19)), id=f"{c}-open-joins-{c}")
        for c in BUSINESS
    ],
    *[pytest.param([conv(c, -24, 2)], _OPENS_SERVICE, id=f"{c}-expired-opens-service") for c in BUSINESS],
    pytest.param(
        [conv("service", -5, 1), conv("marketing", -2, 2)],
        ("service", False, 1, "user_initiated", at(19)),
        id="service-and-newer-marketing-joins-service",
    ),
    pytest.param(
        [conv("utility", -5, 1), conv("marketing", -2, 2)],
        ("marketing", False, 2, "business_initiated", at(22)),
        id="older-utility-newer-marketing-joins-marketing",
    ),
    pytest.param(
        [conv("service", -24, 1), conv("utility", -20, 2)],
        ("utility", False, 2, "business_initiated", at(4)),
        id="expired-service-open-utility-joins-utility",
    ),
]


@pytest.mark.parametrize("template_category", [None, "service"], ids=["free-form", "service-template"])
@pytest.mark.parametrize(("conversations", "expected"), FREE_FORM_IN_WINDOW)
def test_free_form_in_window(
    template_category: Category | None, conversations: list[OpenConversation], expected: tuple[Any, ...]
) -> None:
    """In the window a free-form reply joins an open conversation (service, else newest) or opens service."""
    decision = decide_send(
        template_category=template_category,
        open_conversations=conversations,
        last_inbound_at=at(-1),
        now=at(0),
    )
    assert summary(decision) == expected


@pytest.mark.parametrize("template_category", [None, "service"], ids=["free-form", "service-template"])
@pytest.mark.parametrize(
    "last_inbound_at",
    [None, at(-24), at(-48)],
    ids=["never-messaged", "window-closed-at-24:00:00", "window-closed-a-day-ago"],
)
@pytest.mark.parametrize(
    "conversations",
    [[], [conv("marketing", -1, 1)], [conv("service", -23, 1)]],
    ids=["none-open", "marketing-open", "service-open"],
)
def test_free_form_outside_window_is_refused(
    template_category: Category | None,
    last_inbound_at: datetime | None,
    conversations: list[OpenConversation],
) -> None:
    """Outside the window a free-form reply is refused, even with conversations open, as a policy error."""
    with pytest.raises(OutsideServiceWindow) as info:
        decide_send(
            template_category=template_category,
            open_conversations=conversations,
            last_inbound_at=last_inbound_at,
            now=at(0),
        )
    assert isinstance(info.value, PolicyError)


def test_refusal_says_when_the_window_closed_and_that_a_template_is_needed() -> None:
    """The refusal names the closing instant, the last inbound message and the need for a template."""
    with pytest.raises(OutsideServiceWindow) as info:
        _send(template_category=None, last_inbound_at=at(-30))
    assert at(-6).isoformat() in info.value.message
    assert at(-30).isoformat() in info.value.message
    assert "template" in info.value.message
    assert info.value.message == (
        f"free-form or service message refused: the customer service window closed at {at(-6).isoformat()}, "
        f"24 h after the customer's last message at {at(-30).isoformat()}; send an approved template instead"
    )


def test_refusal_for_a_contact_who_never_wrote_says_so() -> None:
    """A contact who never messaged gets a refusal saying there is no window at all."""
    with pytest.raises(OutsideServiceWindow, match=r"never messaged.*template") as info:
        _send(template_category=None)
    assert info.value.message == (
        "free-form or service message refused: the customer has never messaged, so there is no customer service "
        "window; send an approved template instead"
    )


# --- sequences, simulated step by step ---------------------------------------------------------------


@dataclass
class Contact:
    """One contact's history as the caller would keep it: conversation records and inbound times."""

    conversations: list[OpenConversation] = field(default_factory=list)
    last_inbound_at: datetime | None = None
    free_entry_point_at: datetime | None = None
    log: list[str] = field(default_factory=list)

    def receive(self, now: datetime, *, via_ad: bool = False) -> None:
        """An inbound message refreshes the window; one through a click-to-WhatsApp ad is an entry point."""
        self.last_inbound_at = now
        if via_ad:
            self.free_entry_point_at = now

    def send(self, template_category: Category | None, now: datetime) -> SendDecision | None:
        """Decide and apply one send, as the outbox would; None when it is refused."""
        try:
            decision = decide_send(
                template_category=template_category,
                open_conversations=self.conversations,
                last_inbound_at=self.last_inbound_at,
                now=now,
                free_entry_point_at=self.free_entry_point_at,
            )
        except OutsideServiceWindow:
            self.log.append("refused")
            return None
        self.conversations = [c for c in self.conversations if c not in decision.closes]
        if decision.opens:
            cid = len(self.log) + 1
            self.conversations.append(
                OpenConversation(decision.category, now, decision.expires_at, id=cid, origin=decision.origin)
            )
        else:
            cid = cast(int, decision.conversation_id)
            assert cid in {c.id for c in self.conversations if c.is_open(now)}
        self.log.append(f"{'opens' if decision.opens else 'joins'} {decision.category}#{cid}")
        return decision

    def open_at(self, now: datetime) -> set[tuple[str, str, float]]:
        """The open conversations at `now` as (category, origin, hour opened)."""
        return {
            (c.category, c.effective_origin, (c.opened_at - T0) / timedelta(hours=1))
            for c in self.conversations
            if c.is_open(now)
        }


Event = tuple[float, str]


def play(events: Sequence[Event]) -> Contact:
    """Apply events in order: "inbound", "ad" (inbound through an ad), "free-form" or a template category."""
    contact = Contact()
    for hour, kind in events:
        if kind in ("inbound", "ad"):
            contact.receive(at(hour), via_ad=kind == "ad")
        else:
            contact.send(None if kind == "free-form" else parse_category(kind), at(hour))
    return contact


SCENARIOS = [
    pytest.param(
        [(0, "marketing"), (2, "utility"), (3, "inbound"), (4, "free-form")],
        ["opens marketing#1", "opens utility#2", "joins utility#2"],
        {("marketing", "business_initiated", 0), ("utility", "business_initiated", 2)},
        id="seed-example-utility-amid-marketing-then-reply-joins-newest",
    ),
    pytest.param(
        [(0, "marketing"), (5, "marketing"), (23.99, "marketing")],
        ["opens marketing#1", "joins marketing#1", "joins marketing#1"],
        {("marketing", "business_initiated", 0)},
        id="same-category-templates-share-one-conversation",
    ),
    pytest.param(
        [(0, "marketing"), (24, "marketing")],
        ["opens marketing#1", "opens marketing#2"],
        {("marketing", "business_initiated", 24)},
        id="same-category-template-at-expiry-opens-another",
    ),
    pytest.param(
        [
            (0, "authentication"),
            (6, "authentication"),
            (12, "authentication"),
            (18, "authentication"),
            (24, "authentication"),
        ],
        [
            "opens authentication#1",
            "joins authentication#1",
            "joins authentication#1",
            "joins authentication#1",
            "opens authentication#5",
        ],
        {("authentication", "business_initiated", 24)},
        id="codes-every-6h-open-a-new-conversation-each-day",
    ),
    pytest.param(
        [(0, "inbound"), (1, "free-form"), (2, "utility"), (3, "free-form")],
        ["opens service#1", "opens utility#2", "joins service#1"],
        {("service", "user_initiated", 1), ("utility", "business_initiated", 2)},
        id="reply-then-utility-then-reply-joins-service",
    ),
    pytest.param(
        [(0, "inbound"), (0.5, "free-form"), (1, "utility"), (2, "authentication"), (3, "marketing")],
        ["opens service#1", "opens utility#2", "opens authentication#3", "opens marketing#4"],
        {
            ("service", "user_initiated", 0.5),
            ("utility", "business_initiated", 1),
            ("authentication", "business_initiated", 2),
            ("marketing", "business_initiated", 3),
        },
        id="four-categories-open-at-once",
    ),
    pytest.param(
        [(0, "marketing"), (10, "inbound"), (11, "free-form"), (30, "inbound"), (31, "free-form")],
        ["opens marketing#1", "joins marketing#1", "opens service#3"],
        {("service", "user_initiated", 31)},
        id="reply-joins-marketing-then-opens-service-once-it-expired",
    ),
    pytest.param(
        [(0, "inbound"), (1, "free-form"), (23, "free-form"), (24, "free-form"), (24.5, "marketing")],
        ["opens service#1", "joins service#1", "refused", "opens marketing#4"],
        {("service", "user_initiated", 1), ("marketing", "business_initiated", 24.5)},
        id="own-messages-never-refresh-the-window",
    ),
    pytest.param(
        [(0, "inbound"), (23, "inbound"), (46, "free-form"), (46.99, "service"), (47, "free-form")],
        ["opens service#1", "joins service#1", "refused"],
        {("service", "user_initiated", 46)},
        id="each-inbound-message-refreshes-the-window",
    ),
    pytest.param(
        [
            (0, "ad"),
            (1, "free-form"),
            (30, "marketing"),
            (40, "inbound"),
            (41, "free-form"),
            (74, "marketing"),
        ],
        ["opens service#1", "joins service#1", "joins service#1", "opens marketing#4"],
        {("marketing", "business_initiated", 74)},
        id="free-entry-point-takes-every-send-for-72h",
    ),
    pytest.param(
        [(0, "ad"), (10, "free-form"), (81, "utility"), (82, "utility")],
        ["opens service#1", "joins service#1", "opens utility#3"],
        {("utility", "business_initiated", 82)},
        id="free-entry-point-lasts-72h-from-the-reply",
    ),
    pytest.param(
        [(0, "ad"), (2, "utility"), (3, "free-form")],
        ["opens service#1", "joins service#1"],
        {("service", "free_entry_point", 2)},
        id="free-entry-point-opened-by-a-template-reply",
    ),
    pytest.param(
        [(0, "ad"), (1, "free-form"), (30, "free-form"), (30, "marketing")],
        ["opens service#1", "refused", "joins service#1"],
        {("service", "free_entry_point", 1)},
        id="free-entry-point-still-needs-the-window-for-free-form",
    ),
    pytest.param(
        [(0, "ad"), (20, "inbound"), (25, "free-form")],
        ["opens service#1"],
        {("service", "user_initiated", 25)},
        id="free-entry-point-missed-after-24h-opens-service",
    ),
    pytest.param(
        [(-2, "marketing"), (0, "ad"), (1, "free-form"), (2, "marketing")],
        ["opens marketing#1", "opens service#2", "joins service#2"],
        {("service", "free_entry_point", 1)},
        id="free-entry-point-closes-the-others",
    ),
]


@pytest.mark.parametrize(("events", "log", "open_at_end"), SCENARIOS)
def test_sequences(events: list[Event], log: list[str], open_at_end: set[tuple[str, str, float]]) -> None:
    """Sends applied step by step open, join or are refused as the rules say, leaving the expected set."""
    contact = play(events)
    assert contact.log == log
    assert contact.open_at(at(events[-1][0])) == open_at_end


def test_free_entry_point_decision_fields() -> None:
    """The reply to an ad opens a free_entry_point service conversation lasting 72 h from the reply."""
    marketing = conv("marketing", -2, 7)
    decision = decide_send(
        template_category=None,
        open_conversations=[marketing],
        last_inbound_at=None,
        now=at(5),
        free_entry_point_at=at(0),
    )
    assert summary(decision) == ("service", True, None, "free_entry_point", at(5) + FREE_ENTRY_POINT_LENGTH)
    assert decision.closes == (marketing,)


def test_of_two_open_free_entry_point_conversations_the_newest_takes_the_send() -> None:
    """Should the records hold two open free entry point conversations, every send joins the newer one."""
    older = OpenConversation("service", at(-50), at(22), id=1, origin="free_entry_point")
    newer = OpenConversation("service", at(-10), at(62), id=2, origin="free_entry_point")
    for template_category in (None, "marketing"):
        decision = _send(template_category=template_category, open_conversations=[newer, older], last_inbound_at=at(-1))
        assert summary(decision) == ("service", False, 2, "free_entry_point", at(62))


@pytest.mark.parametrize(
    ("since_entry", "expected"),
    [
        pytest.param(timedelta(0), ("service", True, None, "free_entry_point", at(72)), id="at-the-entry"),
        pytest.param(
            timedelta(hours=24) - ONE_US,
            ("service", True, None, "free_entry_point", at(96) - ONE_US),
            id="last-microsecond",
        ),
        pytest.param(timedelta(hours=24), ("utility", True, None, "business_initiated", at(48)), id="24h-after"),
    ],
)
def test_a_free_entry_point_opens_from_the_entry_until_24_hours_after(
    since_entry: timedelta, expected: tuple[Any, ...]
) -> None:
    """The business's first send opens a free entry point conversation from the entry's instant, not 24 h on."""
    decision = _send(template_category="utility", free_entry_point_at=at(0), now=at(0) + since_entry)
    assert summary(decision) == expected


# --- property ----------------------------------------------------------------------------------------

KINDS = ["inbound", "ad", "free-form", *CATEGORIES]


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=40 * 60), st.sampled_from(KINDS)), max_size=40))
def test_any_sequence_keeps_one_open_conversation_per_category(steps: list[tuple[int, str]]) -> None:
    """For any sends at increasing times, one open conversation per category and decisions expire later."""
    contact = Contact()
    now = T0
    for gap_minutes, kind in steps:
        now += timedelta(minutes=gap_minutes)
        if kind in ("inbound", "ad"):
            contact.receive(now, via_ad=kind == "ad")
            continue
        template = None if kind == "free-form" else parse_category(kind)
        decision = contact.send(template, now)
        if decision is None:
            assert template in (None, "service")
            assert not service_window_open(contact.last_inbound_at, now)
            continue
        assert decision.expires_at > now
        counts = Counter(c.category for c in contact.conversations if c.is_open(now))
        assert all(n <= 1 for n in counts.values()), counts
