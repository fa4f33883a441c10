"""Subscriptions and their delivery log as the admin API and the dashboard use them: create, list, delete, replay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiohttp import web

from bot.errors import NotFound
from bot.events.signature import new_secret
from storage import events
from storage.models import EventAttemptBase, EventDeliveryBase, EventSubscriptionBase
from storage.repository import Repository

log = structlog.get_logger("bot.events")


@dataclass(frozen=True)
class Subscribed:
    """A subscription as shown, with its deliveries counted by status."""

    subscription: EventSubscriptionBase
    deliveries: dict[str, int]


class Subscriptions:
    """The business's subscriptions; a replay wakes the delivery loop (`on_replayed`)."""

    def __init__(
        self, repository: Repository, clock: Callable[[], datetime], on_replayed: Callable[[], None] = lambda: None
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._on_replayed = on_replayed

    async def create(self, url: str, types: Sequence[str], description: str | None) -> EventSubscriptionBase:
        """Store a subscription with a fresh secret; the answer is the one time the secret is shown."""
        row = EventSubscriptionBase(
            url=url, events=list(types), description=description, secret=new_secret(), created_at=self._clock()
        )
        async with self._repository.transaction() as conn:
            stored = await events.add_subscription(conn, row)
        log.info("events.subscribed", subscription_id=stored.id, events=list(types))  # never the secret or URL
        return stored

    async def page(self, limit: int, before: int | None) -> list[Subscribed]:
        async with self._repository.reading() as conn:
            found = await events.subscriptions_page(conn, limit, before)
            counts = await events.delivery_counts(conn, [s.id for s in found if s.id is not None])
        return [Subscribed(s, counts.get(s.id or 0, {})) for s in found]

    async def get(self, subscription_id: int) -> Subscribed:
        async with self._repository.reading() as conn:
            found = await events.subscription_by_id(conn, subscription_id)
            if found is None:
                raise NotFound(f"no subscription {subscription_id}")
            counts = await events.delivery_counts(conn, [subscription_id])
        return Subscribed(found, counts[subscription_id])

    async def delete(self, subscription_id: int) -> None:
        """Delete a subscription, its undelivered events and its log; an unknown id is a `NotFound`."""
        async with self._repository.transaction() as conn:
            if not await events.delete_subscription(conn, subscription_id):
                raise NotFound(f"no subscription {subscription_id}")
        log.info("events.unsubscribed", subscription_id=subscription_id)

    async def deliveries(
        self, subscription_id: int, *, limit: int, before: int | None, status: str | None
    ) -> list[tuple[EventDeliveryBase, list[EventAttemptBase]]]:
        """A page of the subscription's deliveries, newest first, each with its attempts."""
        async with self._repository.reading() as conn:
            if await events.subscription_by_id(conn, subscription_id) is None:
                raise NotFound(f"no subscription {subscription_id}")
            found = await events.deliveries_page(conn, subscription_id, limit=limit, before=before, status=status)
            attempts = await events.attempts_of(conn, [d.id for d in found if d.id is not None])
        return [(d, attempts.get(d.id or 0, [])) for d in found]

    async def delivery(
        self, subscription_id: int, delivery_id: int
    ) -> tuple[EventDeliveryBase, list[EventAttemptBase]]:
        async with self._repository.reading() as conn:
            found = await events.delivery(conn, subscription_id, delivery_id)
            if found is None:
                raise NotFound(f"no delivery {delivery_id} of subscription {subscription_id}")
            attempts = await events.attempts_of(conn, [delivery_id])
        return found, attempts[delivery_id]

    async def replay(self, subscription_id: int, delivery_id: int) -> EventDeliveryBase:
        """Deliver an event again, as a new delivery with the same event id and body, due now."""
        async with self._repository.transaction() as conn:
            found = await events.delivery(conn, subscription_id, delivery_id)
            if found is None:
                raise NotFound(f"no delivery {delivery_id} of subscription {subscription_id}")
            copy = await events.replay(conn, found)
        log.info("events.replayed", subscription_id=subscription_id, delivery_id=delivery_id, replay_id=copy.id)
        self._on_replayed()
        return copy


SUBSCRIPTIONS = web.AppKey("subscriptions", Subscriptions)
