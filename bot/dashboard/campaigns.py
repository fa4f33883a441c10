"""The dashboard's campaign pages: the list with progress, the form that creates one, and one campaign at work.

The form is read into the API's body (`bot.dashboard.campaign_form`) and checked by the API's own
`campaign_request`, so its errors are the API's messages; "Preview" checks and renders the message from
the template's examples without creating anything. Control goes through the `Campaigner`, as the API's does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot import keys
from bot.api.campaigns import (
    CAMPAIGNER,
    RECIPIENT_STATUSES,
    campaign_request,
    campaigns_with_progress,
    dry_run_json,
    recipient_log,
)
from bot.api.stats import campaign_report, loaded_card
from bot.campaigns.campaign import CONTACT_FIELDS
from bot.campaigns.runner import CONTROLLABLE
from bot.dashboard.campaign_form import FIELD, SCHEDULES, VALUE, campaign_body, split
from bot.dashboard.pages import preview, templates_by_name
from bot.dashboard.render import PREFIX, before, done, form, render
from bot.errors import BotError, NotFound, ValidationError
from bot.field import row_id
from bot.inbound.content import CONTENT
from bot.message_templates.library import TEMPLATES, MessageTemplate, Templates
from bot.numbers.number import NUMBERS
from storage.models import CampaignBase

routes = web.RouteTableDef()
PAGE_SIZE = 50
SENT = ("sent", "failed", "cancelled", "unknown")  # settled: nothing more happens to these
OUTBOX_STATES = ("queued", "sending", "paused", *SENT)
RETRYABLE = ("running", "completed")  # states where retrying failed messages makes sense
CONTROLLED = {"pause": "campaign_paused", "resume": "campaign_resumed", "cancel": "campaign_cancelled"}
# A scheduled campaign this close to its start reloads too, so that whoever just created it sees it start.
STARTING_SOON = timedelta(minutes=10)


def progress_of(counts: dict[str, int]) -> dict[str, int]:
    """A campaign's messages in all, settled, and per state; delivered (Meta's) counts the read ones too."""
    total = sum(counts.get(state, 0) for state in OUTBOX_STATES)
    settled = sum(counts.get(state, 0) for state in SENT)
    delivered = counts.get("delivered", 0) + counts.get("read", 0)
    shown = {s: counts.get(s, 0) for s in (*OUTBOX_STATES, "read")}
    return {"total": total, "settled": settled, "delivered": delivered, **shown}


@routes.get("/campaigns")
async def campaigns(request: web.Request) -> web.Response:
    """Every campaign, newest first, with its state and how far its messages have got."""
    found = await campaigns_with_progress(request.config_dict[keys.REPOSITORY], PAGE_SIZE, before(request))
    rows = [(campaign, progress_of(counts)) for campaign, counts in found]
    next_before = found[-1][0].id if len(found) == PAGE_SIZE else None
    return render(request, "campaigns.html", title="Campaigns", rows=rows, next_before=next_before)


def _chosen(library: Templates, fields: dict[str, str]) -> MessageTemplate | None:
    try:
        return library.get(fields.get("template", ""), fields.get("language") or None)
    except NotFound:
        return None


async def _form_page(
    request: web.Request, fields: dict[str, str], *, status: int = 200, error: str | None = None
) -> web.Response:
    """The create form, filled in with what was typed, with the API's error or the message's preview."""
    library = request.config_dict[TEMPLATES]
    marketing = templates_by_name(library, "marketing")
    chosen = _chosen(library, fields) if fields.get("template") in marketing else None
    shown, problem = (None, None)
    if chosen is not None:
        typed = {v: fields.get(VALUE + v, "").strip() for v in chosen.variables if not fields.get(FIELD + v)}
        shown, problem = preview(chosen, {**chosen.examples, **{k: v for k, v in typed.items() if v}})
    book = request.config_dict[NUMBERS]
    return render(
        request,
        "campaign_new.html",
        status=status,
        title="New campaign",
        fields=fields,
        templates=marketing,
        chosen=chosen,
        contact_fields=CONTACT_FIELDS,
        schedules=SCHEDULES,
        flows=sorted(request.config_dict[CONTENT].current.flows),
        numbers=[n for n in book],
        default_number=book.default.id,
        zone=request.config_dict[keys.SETTINGS].business_timezone,
        value=VALUE,
        field=FIELD,
        error=error,
        preview=shown,
        problem=problem,
    )


@routes.get("/campaigns/new")
async def new_campaign(request: web.Request) -> web.Response:
    """The form; picking a template (GET ?template=) shows a field for each of its values."""
    return await _form_page(request, {k: v for k, v in request.query.items() if k in ("template", "language")})


@routes.post("/campaigns/new")
async def create_campaign(request: web.Request) -> web.Response:
    """Check the form as the API checks a body; "Preview" stops there, "Create" stores and schedules it."""
    fields = await form(request)
    chosen = _chosen(request.config_dict[TEMPLATES], fields)
    zone = request.config_dict[keys.SETTINGS].business_timezone
    body = campaign_body(fields, chosen.variables if chosen else (), zone)
    try:
        checked = campaign_request(request.config_dict, body)
        if fields.get("action") == "preview":
            return await _form_page(request, fields)
        if "send_at" not in body and "cron" not in body and fields.get("confirm") != "yes":
            return _confirm_send_now(request, fields, body)
        campaign = await request.config_dict[CAMPAIGNER].create(checked)
    except BotError as exc:
        return await _form_page(request, fields, status=400, error=exc.message)
    raise done(f"/campaigns/{campaign.id}", "campaign_created")


def _confirm_send_now(request: web.Request, fields: dict[str, str], body: dict[str, Any]) -> web.Response:
    """The step before a campaign that starts at once: what it sends to whom, and one more button to press."""
    tags = body.get("audience", {}).items()
    audience = "; ".join(f"{key.replace('_', ' ')}: {', '.join(names)}" for key, names in tags)
    return render(
        request,
        "confirm.html",
        title="Send this campaign now?",
        question=f"Send {body['name']!r} now?",
        details=[
            f"Template {body['template']} goes at once to every contact who opted in to marketing"
            f"{' with ' + audience if audience else ''}.",
            "Quiet hours still hold a contact's message until their morning.",
            "Once sent, a message cannot be called back.",
        ],
        action=f"{PREFIX}/campaigns/new",
        hidden={k: v for k, v in fields.items() if k not in ("csrf", "confirm")},
        button="Send now",
        back=f"{PREFIX}/campaigns/new?template={fields.get('template', '')}",
        back_label="Back to the form",
    )


def _campaign_id(request: web.Request) -> int:
    text = request.match_info["id"]
    found = row_id(text)
    if found is None:
        raise NotFound(f"no campaign {text[:20]}")
    return found


async def _detail(request: web.Request, dry_run: dict[str, Any] | None = None) -> web.Response:
    campaign_id = _campaign_id(request)
    campaign, runs, counts = await request.config_dict[CAMPAIGNER].get(campaign_id)
    status = request.query.get("status") or None
    if status not in (None, *RECIPIENT_STATUSES):
        status = None
    log = await recipient_log(request.config_dict, campaign_id, status, PAGE_SIZE, before(request))
    loaded = loaded_card(request.config_dict)
    spent = await campaign_report(request.config_dict[keys.REPOSITORY], campaign_id, loaded.card)
    return render(
        request,
        "campaign.html",
        title=campaign.name,
        campaign=campaign,
        runs=runs,
        progress=progress_of(counts),
        log=log,
        chosen_status=status or "",
        statuses=RECIPIENT_STATUSES,
        next_before=log[-1]["id"] if len(log) == PAGE_SIZE else None,
        dry_run=dry_run,
        cost=spent.as_json() if spent else None,
        cost_note=loaded.describe()["cost_note"],
        refresh=_reloads(campaign, request.config_dict[keys.CLOCK]()),
        allowed=[
            *(action for action, states in CONTROLLABLE.items() if campaign.state in states),
            *(["retry-failed"] if campaign.state in RETRYABLE else []),
            "dry-run",
        ],
    )


def _reloads(campaign: CampaignBase, now: datetime) -> bool:
    """Whether the page reloads itself: while the campaign runs, and while it waits for a start that is near."""
    if campaign.state == "running":
        return True
    due = campaign.next_run_at
    return campaign.state == "scheduled" and due is not None and due <= now + STARTING_SOON


@routes.get("/campaigns/{id}")
async def campaign_page(request: web.Request) -> web.Response:
    """One campaign: its counts (reloaded every few seconds while it runs), runs, controls and recipients.

    With ``?dry_run=1`` (where the dry-run button leads) the page shows a dry run made as it loads, so
    the page's own reloads keep it on the page, as of each reload.
    """
    report = None
    if request.query.get("dry_run") == "1":
        report = dry_run_json(request.config_dict, await request.config_dict[CAMPAIGNER].dry_run(_campaign_id(request)))
    return await _detail(request, report)


@routes.post("/campaigns/{id}/dry-run")
async def dry_run(request: web.Request) -> web.Response:
    """Who the campaign would reach now (and when quiet hours let it), who not and why, and the cost: on its page."""
    campaign_id = _campaign_id(request)
    await request.config_dict[CAMPAIGNER].get(campaign_id)  # an unknown campaign is a 404 here, not after
    raise web.HTTPSeeOther(f"{PREFIX}/campaigns/{campaign_id}?dry_run=1")


@routes.post("/campaigns/{id}/{action:pause|resume|cancel}")
async def control(request: web.Request) -> web.StreamResponse:
    """Pause, resume or cancel (once confirmed); an action the campaign's state does not allow says why."""
    campaign_id, action = _campaign_id(request), request.match_info["action"]
    campaigner = request.config_dict[CAMPAIGNER]
    if action == "cancel" and (await form(request)).get("confirm") != "yes":
        return await confirm_cancel(request)
    await {"pause": campaigner.pause, "resume": campaigner.resume, "cancel": campaigner.cancel}[action](campaign_id)
    raise done(f"/campaigns/{campaign_id}", CONTROLLED[action])


@routes.get("/campaigns/{id}/cancel")
async def confirm_cancel(request: web.Request) -> web.Response:
    """The step before cancelling: what cancelling does, and the button that does it."""
    campaign_id = _campaign_id(request)
    campaign, _, counts = await request.config_dict[CAMPAIGNER].get(campaign_id)
    progress = progress_of(counts)
    return render(
        request,
        "confirm.html",
        title="Cancel this campaign?",
        question=f"Cancel {campaign.name!r} for good?",
        details=[
            f"Its {progress['queued'] + progress['paused']} messages still waiting are not sent, "
            "and no run starts again.",
            f"The {progress['settled']} messages already settled stay as they are.",
            "A cancelled campaign cannot be resumed; you would create it again.",
        ],
        action=f"{PREFIX}/campaigns/{campaign_id}/cancel",
        hidden={},
        button="Cancel campaign",
        back=f"{PREFIX}/campaigns/{campaign_id}",
        back_label="Keep it, back to the campaign",
    )


@routes.post("/campaigns/{id}/retry-failed")
async def retry_failed(request: web.Request) -> web.Response:
    """Queue every failed message of the campaign again."""
    campaign_id = _campaign_id(request)
    await request.config_dict[CAMPAIGNER].retry_failed(campaign_id)
    raise done(f"/campaigns/{campaign_id}", "campaign_retried")


@routes.post("/campaigns/{id}/test")
async def send_test(request: web.Request) -> web.Response:
    """Send the campaign now to the numbers typed (all its test numbers when none), on its allow-list only."""
    campaign_id = _campaign_id(request)
    numbers = split((await form(request)).get("wa_ids", ""), ",; \n")
    if any(not (n.lstrip("+").isascii() and n.lstrip("+").isdigit()) for n in numbers):
        raise ValidationError("give WhatsApp numbers as digits, separated by commas")
    await request.config_dict[CAMPAIGNER].send_test(campaign_id, [n.lstrip("+") for n in numbers])
    raise done(f"/campaigns/{campaign_id}", "campaign_tested")
