"""The dashboard's events page: the URLs told of events, adding one (its secret shown once), deleting, and the log.

A form goes through the admin API's own model (`bot.api.subscription_model`), so the page and
`POST /api/subscriptions` accept exactly the same input; the rules are `bot.events.service`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.api.model import validated
from bot.api.subscription_model import SubscriptionCreate
from bot.dashboard.render import done, form, render
from bot.errors import ValidationError
from bot.events.service import SUBSCRIPTIONS
from bot.field import row_id
from storage.events import EVENT_TYPES

routes = web.RouteTableDef()
LOG_PAGE = 50  # deliveries shown on a subscription's log


def _id(request: web.Request, name: str = "id") -> int:
    value = row_id(request.match_info[name])
    if value is None:
        raise web.HTTPNotFound()
    return value


async def _page(
    request: web.Request, *, status: int = 200, error: str | None = None, typed: Mapping[str, object] | None = None,
    secret: str | None = None, created: int | None = None,
) -> web.Response:  # fmt: skip
    found = await request.config_dict[SUBSCRIPTIONS].page(100, None)
    return render(
        request, "events.html", status=status, title="Events", rows=found, types=EVENT_TYPES, error=error,
        typed=typed or {"url": "", "events": [], "description": ""}, secret=secret, created=created,
    )  # fmt: skip


@routes.get("/events")
async def events_page(request: web.Request) -> web.Response:
    """The subscriptions with their deliveries by state, and the form to add one."""
    return await _page(request)


@routes.post("/events")
async def subscribe(request: web.Request) -> web.Response:
    """Add a subscription; the answer is the one page that shows its secret (no redirect: it stays out of URLs)."""
    data = await request.post()
    fields = await form(request)
    chosen = [value for value in data.getall("events", []) if isinstance(value, str)]
    typed = {"url": fields.get("url", ""), "events": chosen, "description": fields.get("description", "")}
    body = {"url": typed["url"], "events": chosen, "description": fields.get("description", "").strip() or None}
    try:
        given = validated(SubscriptionCreate, body)
    except ValidationError as exc:
        return await _page(request, status=400, error=f"Nothing was added: {exc.message}.", typed=typed)
    stored = await request.config_dict[SUBSCRIPTIONS].create(given.url, given.events, given.description)
    return await _page(request, status=201, secret=stored.secret, created=stored.id)


@routes.post("/events/{id}/delete")
async def unsubscribe(request: web.Request) -> web.Response:
    await request.config_dict[SUBSCRIPTIONS].delete(_id(request))
    raise done("/events", "subscription_deleted")


@routes.get("/events/{id}")
async def delivery_log(request: web.Request) -> web.Response:
    """One subscription's latest deliveries, each with its attempts: status codes, errors and latency."""
    subscriptions = request.config_dict[SUBSCRIPTIONS]
    subscribed = await subscriptions.get(_id(request))
    deliveries = await subscriptions.deliveries(_id(request), limit=LOG_PAGE, before=None, status=None)
    title = subscribed.subscription.description or subscribed.subscription.url
    return render(request, "event_log.html", title=title, subscribed=subscribed, deliveries=deliveries)


@routes.post("/events/{id}/deliveries/{delivery}/replay")
async def replay(request: web.Request) -> web.Response:
    await request.config_dict[SUBSCRIPTIONS].replay(_id(request), _id(request, "delivery"))
    raise done(f"/events/{_id(request)}", "event_replayed")
