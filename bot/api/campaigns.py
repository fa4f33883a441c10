"""The campaign routes of the admin API: create, list, read with progress, control, dry-run, test, recipients.

Bodies are checked by the models of `bot.api.campaign_model` (a 400 naming every wrong field), then against
the templates, flows and clock by `bot.campaigns.campaign.read_request`; state changes that do not
fit the campaign's state are a 409 saying what it is. Bearer auth is the admin API's middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_args

from aiohttp import web

from bot import keys
from bot.api.campaign_model import CampaignCreate, RecipientStatus, TestSend
from bot.api.model import validated
from bot.api.request import json_body, json_response, paging, path_id, valid_wa_id
from bot.api.stats import RATE_CARD
from bot.campaigns.campaign import CampaignRequest, read_request
from bot.campaigns.runner import Campaigner, DryRun
from bot.errors import NotFound, ValidationError
from bot.inbound.content import CONTENT
from bot.message_templates.library import TEMPLATES, MessageTemplate
from bot.numbers.number import NUMBERS, sending_number
from bot.whatsapp.rate_card import RateCard, calling_code
from storage import campaign as store
from storage.models import CampaignBase, CampaignRunBase
from storage.repository import Repository

CAMPAIGNER = web.AppKey("campaigner", Campaigner)
RECIPIENT_STATUSES: tuple[str, ...] = get_args(RecipientStatus)


def campaign_json(
    campaign: CampaignBase, runs: list[CampaignRunBase] | None = None, counts: Any = None
) -> dict[str, Any]:
    data: dict[str, Any] = campaign.model_dump()
    if runs is not None:
        data["runs"] = [r.model_dump(exclude={"campaign_id"}) for r in runs]
    if counts is not None:
        data["progress"] = counts
    return data


def template_lookup(app: keys.Config) -> Any:
    """A template by name for a campaign: an unknown name is a 400 listing the marketing templates."""

    def lookup(name: str, language: str | None) -> MessageTemplate:
        try:
            return app[TEMPLATES].get(name, language)
        except NotFound:
            known = sorted({t.name for t in app[TEMPLATES] if t.category == "marketing"})
            raise ValidationError(f"no template {name!r}; the marketing templates are {', '.join(known)}") from None

    return lookup


def price_lookup(app: web.Application) -> Any:
    """The country calling code of a number and the price of a marketing message to it today, from the app's card."""

    def price_of(wa_id: str) -> tuple[str, Decimal | None]:
        loaded = app.get(RATE_CARD)
        return marketing_price(loaded.card if loaded is not None else None, wa_id)

    return price_of


def marketing_price(card: RateCard | None, wa_id: str) -> tuple[str, Decimal | None]:
    """A number's country calling code and the price of a marketing message to it today on `card`."""
    code = calling_code(wa_id)
    if code is None or card is None:
        return code or "unknown", None
    return code, card.price(wa_id, code, "marketing", datetime.now(UTC).date())


def campaign_request(app: keys.Config, body: Mapping[str, Any]) -> CampaignRequest:
    """A campaign body checked as `POST /api/campaigns` checks it (the dashboard's form sends the same)."""
    flows = frozenset(app[CONTENT].current.flows) if CONTENT in app else frozenset()
    given = validated(CampaignCreate, body).model_dump(exclude_none=True)
    checked = read_request(
        given, template_of=template_lookup(app), flows=flows,
        default_zone=app[keys.SETTINGS].business_timezone, valid_wa_id=valid_wa_id,
    )  # fmt: skip
    return replace(checked, phone_number_id=sending_number(app[NUMBERS], given.get("phone_number_id")))


async def create_campaign(request: web.Request) -> web.Response:
    """`POST /api/campaigns`: a marketing template, an audience, values, a schedule and limits."""
    config = request.config_dict
    campaign = await config[CAMPAIGNER].create(campaign_request(config, await json_body(request)))
    return json_response(campaign_json(campaign), 201)


async def campaigns_with_progress(
    repository: Repository, limit: int, before: int | None
) -> list[tuple[CampaignBase, dict[str, int]]]:
    """Campaigns newest first, each with how many of its messages are in each state."""
    async with repository.reading() as conn:
        found = await store.list_campaigns(conn, limit, before)
        return [(c, await store.progress(conn, c.id or 0)) for c in found]


async def list_campaigns(request: web.Request) -> web.Response:
    limit, before = paging(request)
    found = await campaigns_with_progress(request.config_dict[keys.REPOSITORY], limit, before)
    items = [campaign_json(c, counts=counts) for c, counts in found]
    return json_response({"items": items, "next_before": found[-1][0].id if len(found) == limit else None})


async def get_campaign(request: web.Request) -> web.Response:
    campaign, runs, counts = await request.config_dict[CAMPAIGNER].get(path_id(request, "campaign"))
    return json_response(campaign_json(campaign, runs, counts))


async def pause(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/pause`."""
    return json_response(campaign_json(await request.config_dict[CAMPAIGNER].pause(path_id(request, "campaign"))))


async def resume(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/resume`."""
    return json_response(campaign_json(await request.config_dict[CAMPAIGNER].resume(path_id(request, "campaign"))))


async def cancel(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/cancel`."""
    return json_response(campaign_json(await request.config_dict[CAMPAIGNER].cancel(path_id(request, "campaign"))))


async def dry_run(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/dry-run`: recipients now, suppressions by reason, estimated cost by country."""
    report = await request.config_dict[CAMPAIGNER].dry_run(path_id(request, "campaign"))
    return json_response(dry_run_json(request.config_dict, report))


def dry_run_json(app: keys.Config, report: DryRun) -> dict[str, Any]:
    """A dry run's report with the rate card's currency and note."""
    card = app.get(RATE_CARD)
    extra = card.describe() if card is not None else {}
    return {**report.as_json(), "currency": card.card.currency if card and card.card else None, **extra}


TEST_NOTE = "a test goes at once: quiet hours don't hold a test to the business's own numbers"


async def send_test(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/test {"wa_ids": [...]}`: send now, to numbers on the campaign's allow-list only."""
    body = validated(TestSend, await json_body(request)) if request.can_read_body else TestSend()
    queued = await request.config_dict[CAMPAIGNER].send_test(
        path_id(request, "campaign"), [valid_wa_id(n, "wa_ids[]") for n in body.wa_ids or []]
    )
    return json_response({"queued": queued, "note": TEST_NOTE}, 202)


async def retry_failed(request: web.Request) -> web.Response:
    """`POST /api/campaigns/{id}/retry-failed`: queue every failed message of the campaign again."""
    requeued = await request.config_dict[CAMPAIGNER].retry_failed(path_id(request, "campaign"))
    return json_response({"requeued": requeued}, 202)


async def recipients(request: web.Request) -> web.Response:
    """`GET /api/campaigns/{id}/recipients?status=`: each recipient's message, Meta's status, reply and opt-out."""
    limit, before = paging(request)
    items = await recipient_log(
        request.config_dict, path_id(request, "campaign"), request.query.get("status"), limit, before
    )
    return json_response({"items": items, "next_before": items[-1]["id"] if len(items) == limit else None})


async def recipient_log(
    app: keys.Config, campaign_id: int, status: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """A page of the campaign's per-recipient log, newest first, of one status or all."""
    if status is not None and status not in RECIPIENT_STATUSES:
        raise ValidationError(f"status {status!r} is not one of {', '.join(RECIPIENT_STATUSES)}")
    await app[CAMPAIGNER].get(campaign_id)  # NotFound for an unknown campaign
    async with app[keys.REPOSITORY].engine.connect() as conn:
        return await store.recipients(conn, campaign_id, status=status, limit=limit, before=before)


routes = (
    web.post("/campaigns", create_campaign),
    web.get("/campaigns", list_campaigns),
    web.get("/campaigns/{id}", get_campaign),
    web.get("/campaigns/{id}/recipients", recipients),
    web.post("/campaigns/{id}/dry-run", dry_run),
    web.post("/campaigns/{id}/test", send_test),
    web.post("/campaigns/{id}/retry-failed", retry_failed),
    web.post("/campaigns/{id}/pause", pause),
    web.post("/campaigns/{id}/resume", resume),
    web.post("/campaigns/{id}/cancel", cancel),
)
