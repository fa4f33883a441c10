"""WhatsApp's conversation categories and customer service window, as pure functions of `now`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.errors import OutsideServiceWindow, ValidationError

# The rules below are Meta's conversation-based pricing model (in force until 30 June 2025, kept as the
# seed's model) and the customer service window, which still governs what may be sent:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing

Category = Literal["service", "utility", "authentication", "marketing"]
CATEGORIES: tuple[Category, ...] = ("service", "utility", "authentication", "marketing")

Origin = Literal["user_initiated", "business_initiated", "free_entry_point"]
ORIGINS: tuple[Origin, ...] = ("user_initiated", "business_initiated", "free_entry_point")

SERVICE_WINDOW = timedelta(hours=24)
CONVERSATION_LENGTH = timedelta(hours=24)
FREE_ENTRY_POINT_LENGTH = timedelta(hours=72)
FREE_ENTRY_POINT_REPLY_WINDOW = timedelta(hours=24)


def parse_category(value: str) -> Category:
    """Read a category as Meta spells it ("AUTHENTICATION") or as we store it ("authentication").

    Anything else is a caller's mistake, so it is a ``ValidationError`` that names the allowed values.
    """
    wanted = value.strip().lower()
    for category in CATEGORIES:
        if category == wanted:
            return category
    raise ValidationError(f"unknown category {value!r}; expected one of: {', '.join(CATEGORIES)}")


def pricing_category(template_category: str | None, *, is_template: bool | None = None) -> Category:
    """The category one outbound message is priced under, as Meta's per-message pricing reports it.

    A free-form reply is service. A template is priced by its category, except that "any business-initiated
    message that is neither utility nor authentication is marketing": a template whose category is
    missing or unknown (``is_template=True`` with ``None``, or a legacy name such as "TRANSACTIONAL")
    counts as marketing, so an estimate errs towards the dearer rate. A "service" template is an in-window
    reply in template form and is priced as service. ``is_template`` defaults to "a category was given".
    """
    template = template_category is not None if is_template is None else is_template
    if not template:
        return "service"
    wanted = (template_category or "").strip().lower()
    if wanted in ("service", "utility", "authentication"):
        return parse_category(wanted)
    return "marketing"


def service_window_expires_at(last_inbound_at: datetime | None) -> datetime | None:
    """When the customer service window closes: 24 h after the user's latest message, or None if never.

    Only inbound user messages open or refresh the window; the caller passes the latest one and never the
    time of one of our own messages.
    """
    if last_inbound_at is None:
        return None
    return _require_aware("last_inbound_at", last_inbound_at) + SERVICE_WINDOW


def service_window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may be sent at `now`: the window is open until exactly 24 h after."""
    _require_aware("now", now)
    expires_at = service_window_expires_at(last_inbound_at)
    return expires_at is not None and now < expires_at


@dataclass(frozen=True)
class OpenConversation:
    """A conversation as recorded: one category for one contact, open from `opened_at` to `expires_at`.

    ``origin`` is the recorded origin; None derives it from the category (service is user-initiated,
    the rest business-initiated). Pass it for free entry point conversations, which cannot be told apart
    from a service conversation any other way and change what later sends do.
    """

    category: Category
    opened_at: datetime
    expires_at: datetime
    id: int | None = None
    origin: Origin | None = None

    def __post_init__(self) -> None:
        _require_aware("opened_at", self.opened_at)
        _require_aware("expires_at", self.expires_at)
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}; expected one of: {', '.join(CATEGORIES)}")
        if self.origin is not None and self.origin not in ORIGINS:
            raise ValueError(f"unknown origin {self.origin!r}; expected one of: {', '.join(ORIGINS)}")
        if self.expires_at <= self.opened_at:
            raise ValueError("a conversation must expire after it opens")

    def is_open(self, now: datetime) -> bool:
        """Open from the instant it opened up to, not including, the instant it expires."""
        return self.opened_at <= _require_aware("now", now) < self.expires_at

    @property
    def effective_origin(self) -> Origin:
        """The recorded origin, or the one its category implies."""
        return self.origin or _default_origin(self.category)


@dataclass(frozen=True)
class SendDecision:
    """Which conversation an outbound message belongs to, and whether it opens a new one.

    ``closes`` lists open conversations that this send ends early: Meta closes every other open
    conversation when a free entry point conversation opens, so the caller should end them at `now`.
    """

    category: Category
    opens: bool
    conversation_id: int | None
    origin: Origin
    expires_at: datetime
    closes: tuple[OpenConversation, ...] = ()


def open_categories(conversations: Iterable[OpenConversation], now: datetime) -> set[Category]:
    """The categories with a conversation open at `now`; expired and future ones do not count."""
    _require_aware("now", now)
    return {c.category for c in conversations if c.is_open(now)}


def decide_send(
    *,
    template_category: Category | None,
    open_conversations: Sequence[OpenConversation],
    last_inbound_at: datetime | None,
    now: datetime,
    free_entry_point_at: datetime | None = None,
) -> SendDecision:
    """Decide the conversation an outbound message sent at `now` opens or joins; refuse it if forbidden.

    ``template_category`` is None for a free-form message; a "service" template is an in-window reply in
    template form and follows the free-form rules. Free-form needs an open customer service window, else
    ``OutsideServiceWindow``; a template may always be sent. In order:

    1. An open free entry point conversation takes every send: all messages in it are free, and Meta
       opens no other conversation until it expires.
    2. The business's first send within 24 h of a click-to-WhatsApp entry (``free_entry_point_at``, the
       user's message through the ad) opens a free entry point conversation lasting 72 h from that send,
       closing the others.
    3. A template of category C joins the open C conversation, else opens one; other categories' open
       conversations do not matter (a utility template amid a marketing conversation opens utility).
    4. A free-form message joins an open conversation if there is one, else opens a service conversation.
    """
    _require_aware("now", now)
    for name, moment in (("last_inbound_at", last_inbound_at), ("free_entry_point_at", free_entry_point_at)):
        if moment is not None:
            _require_aware(name, moment)
    free_form = template_category is None or template_category == "service"
    inbound = _latest(last_inbound_at, free_entry_point_at)
    if free_form and not service_window_open(inbound, now):
        raise OutsideServiceWindow(_window_closed_message(inbound))
    live = [c for c in open_conversations if c.is_open(now)]
    free_entry = [c for c in live if c.effective_origin == "free_entry_point"]
    if free_entry:
        return _join(max(free_entry, key=_recency))
    if _free_entry_point_opens(free_entry_point_at, now):
        return SendDecision("service", True, None, "free_entry_point", now + FREE_ENTRY_POINT_LENGTH, tuple(live))
    if template_category is None or template_category == "service":
        return _free_form(live, now)
    return _template(template_category, live, now)


def _free_form(live: Sequence[OpenConversation], now: datetime) -> SendDecision:
    """A free-form reply inside the window, following Meta's rule that it opens nothing while any is open.

    When several are open, Meta bills the reply to none of them, so the choice only labels our records:
    an open service conversation first, because a reply is service by nature; otherwise the most
    recently opened one, the business context the user is most likely answering, which also stays open
    longest.
    """
    if not live:
        return SendDecision("service", True, None, "user_initiated", now + CONVERSATION_LENGTH)
    service = [c for c in live if c.category == "service"]
    return _join(max(service or live, key=_recency))


def _template(category: Category, live: Sequence[OpenConversation], now: datetime) -> SendDecision:
    """A template opens a conversation of its own category unless one of that category is open."""
    same = [c for c in live if c.category == category]
    if same:
        return _join(max(same, key=_recency))
    return SendDecision(category, True, None, _default_origin(category), now + CONVERSATION_LENGTH)


def _free_entry_point_opens(free_entry_point_at: datetime | None, now: datetime) -> bool:
    """Meta opens a free entry point conversation only if the business answers within 24 h of the entry."""
    if free_entry_point_at is None:
        return False
    return free_entry_point_at <= now < free_entry_point_at + FREE_ENTRY_POINT_REPLY_WINDOW


def _join(conversation: OpenConversation) -> SendDecision:
    return SendDecision(
        conversation.category,
        False,
        conversation.id,
        conversation.effective_origin,
        conversation.expires_at,
    )


def _recency(conversation: OpenConversation) -> tuple[datetime, datetime]:
    return conversation.opened_at, conversation.expires_at


def _default_origin(category: Category) -> Origin:
    return "user_initiated" if category == "service" else "business_initiated"


def _latest(*moments: datetime | None) -> datetime | None:
    """The latest inbound moment; a click-to-WhatsApp entry is itself a message from the user."""
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _window_closed_message(last_inbound_at: datetime | None) -> str:
    expires_at = service_window_expires_at(last_inbound_at)
    if last_inbound_at is None or expires_at is None:
        return (
            "free-form or service message refused: the customer has never messaged, so there is no customer service "
            "window; send an approved template instead"
        )
    return (
        f"free-form or service message refused: the customer service window closed at {expires_at.isoformat()}, "
        f"24 h after the customer's last message at {last_inbound_at.isoformat()}; "
        "send an approved template instead"
    )


def _require_aware(name: str, value: datetime) -> datetime:
    """Naive datetimes are refused: compared with aware ones they fail late or mean a local clock."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got naive {value.isoformat()}")
    return value
