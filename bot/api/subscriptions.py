"""`/api/subscriptions`: the business's URLs told of events, their delivery log, and replays (docs/events.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api.model import validated
from bot.api.request import json_body, json_response, page_of, paging, path_id
from bot.api.subscription_model import Attempt, Delivery, Subscription, SubscriptionCreate, SubscriptionCreated
from bot.errors import ValidationError
from bot.events.service import SUBSCRIPTIONS, Subscribed
from bot.field import MAX_ID, row_id
from storage.models import EventAttemptBase, EventDeliveryBase

STATUSES = ("pending", "sending", "delivered", "failed")


def subscription_json(subscribed: Subscribed) -> dict[str, Any]:
    s = subscribed.subscription
    shown = Subscription(
        id=s.id or 0, url=s.url, events=s.events, description=s.description, created_at=s.created_at,
        deliveries=subscribed.deliveries,
    )  # fmt: skip
    return shown.model_dump()


def delivery_json(delivery: EventDeliveryBase, attempts: list[EventAttemptBase]) -> dict[str, Any]:
    log = [Attempt.model_validate(a.model_dump()) for a in attempts]
    return Delivery.model_validate({**delivery.model_dump(), "log": log}).model_dump()


def _delivery_id(request: web.Request) -> int:
    value = row_id(request.match_info["delivery"])
    if value is None:
        raise ValidationError(f"the delivery id must be a whole number from 1 to {MAX_ID}")
    return value


async def create_subscription(request: web.Request) -> web.Response:
    """Subscribe a URL (201); the answer carries the signing secret, shown this once."""
    given = validated(SubscriptionCreate, await json_body(request))
    stored = await request.config_dict[SUBSCRIPTIONS].create(given.url, given.events, given.description)
    created = SubscriptionCreated(
        id=stored.id or 0, url=stored.url, events=stored.events, description=stored.description,
        created_at=stored.created_at, deliveries={}, secret=stored.secret,
    )  # fmt: skip
    return json_response(created.model_dump(), 201)


async def list_subscriptions(request: web.Request) -> web.Response:
    """A page of subscriptions, newest first (`?limit=`, `?before=<id>`); never their secrets."""
    limit, before = paging(request)
    found = await request.config_dict[SUBSCRIPTIONS].page(limit, before)
    return json_response(page_of([subscription_json(s) for s in found], limit))


async def get_subscription(request: web.Request) -> web.Response:
    return json_response(
        subscription_json(await request.config_dict[SUBSCRIPTIONS].get(path_id(request, "subscription")))
    )


async def delete_subscription(request: web.Request) -> web.Response:
    """Delete a subscription with its undelivered events and its log; answers it as it was."""
    subscriptions, subscription_id = request.config_dict[SUBSCRIPTIONS], path_id(request, "subscription")
    found = await subscriptions.get(subscription_id)
    await subscriptions.delete(subscription_id)
    return json_response(subscription_json(found))


async def list_deliveries(request: web.Request) -> web.Response:
    """The delivery log: a page of deliveries, newest first, each with its attempts (`?status=`)."""
    limit, before = paging(request)
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
    found = await request.config_dict[SUBSCRIPTIONS].deliveries(
        path_id(request, "subscription"), limit=limit, before=before, status=status
    )
    return json_response(page_of([delivery_json(d, a) for d, a in found], limit))


async def get_delivery(request: web.Request) -> web.Response:
    found = await request.config_dict[SUBSCRIPTIONS].delivery(path_id(request, "subscription"), _delivery_id(request))
    return json_response(delivery_json(*found))


async def replay_delivery(request: web.Request) -> web.Response:
    """Deliver an event again (202): a new delivery, same event id and body, queued behind the contact's others."""
    subscriptions = request.config_dict[SUBSCRIPTIONS]
    copy = await subscriptions.replay(path_id(request, "subscription"), _delivery_id(request))
    return json_response(delivery_json(copy, []), 202)


routes = (
    web.post("/subscriptions", create_subscription),
    web.get("/subscriptions", list_subscriptions),
    web.get("/subscriptions/{id}", get_subscription),
    web.delete("/subscriptions/{id}", delete_subscription),
    web.get("/subscriptions/{id}/deliveries", list_deliveries),
    web.get("/subscriptions/{id}/deliveries/{delivery}", get_delivery),
    web.post("/subscriptions/{id}/deliveries/{delivery}/replay", replay_delivery),
)
