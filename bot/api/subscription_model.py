"""The bodies and answers of `/api/subscriptions` as Pydantic models: checked with them, shown by them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field
from yarl import URL

from bot.api.model import Body
from storage.events import EventType

MAX_URL = 2048


def _receiver(value: str) -> str:
    """An absolute http(s) URL with a host, and no user or password in it (they would be shown and logged)."""
    value = value.strip()
    try:
        url = URL(value)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL with a host")
    if url.user is not None or url.password is not None:
        raise ValueError("must not carry a user or password; the signature authenticates each delivery")
    if url.fragment:
        raise ValueError("must not have a #fragment")
    return value


def _distinct(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise ValueError(f"repeats {item}")
        seen.add(item)
    return value


ReceiverUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL, description="Where events are POSTed"), AfterValidator(_receiver)
]


class SubscriptionCreate(Body):
    """A URL to send events to, and which events."""

    url: ReceiverUrl
    events: Annotated[
        list[EventType], Field(min_length=1, description="The event types to send"), AfterValidator(_distinct)
    ]
    description: str | None = Field(default=None, max_length=255, description="A note for people")


class Subscription(pydantic.BaseModel):
    """A subscription; its secret is shown only in the answer to its creation."""

    id: int
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    deliveries: dict[str, int] = Field(description="Its deliveries by status: pending, sending, delivered, failed")


class SubscriptionCreated(Subscription):
    """A new subscription, with the secret that signs its deliveries: shown this once, store it now."""

    secret: str = Field(description="HMAC-SHA256 key of the X-Bot-Signature header (docs/events.md)")


class Attempt(pydantic.BaseModel):
    """One try: the receiver's status code or the error, and how long it took."""

    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


class Delivery(pydantic.BaseModel):
    """One event owed to a subscription, its state and its attempts."""

    id: int
    event_id: str = Field(description="The event's id, the same in every delivery and replay of it")
    type: str
    status: Literal["pending", "sending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    replay_of: int | None = Field(description="The delivery this one replays")
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent: id, type, created_at, contact, data")
    log: list[Attempt]


class DeliveryPage(pydantic.BaseModel):
    items: list[Delivery]
    next_before: int | None


class SubscriptionPage(pydantic.BaseModel):
    items: list[Subscription]
    next_before: int | None
