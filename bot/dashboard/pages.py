"""Dashboard pages over what the service knows: conversations and transcripts, templates, and flows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot import keys
from bot.api.request import valid_wa_id
from bot.api.templates import template_items, unblock
from bot.dashboard.flow_svg import svg
from bot.dashboard.render import done, form, render
from bot.dashboard.view import ORIGINS, entries, window
from bot.engine.graph import flow_graph, is_called, mermaid
from bot.errors import BotError, NotFound, ValidationError
from bot.field import row_id
from bot.inbound.content import CONTENT
from bot.message_templates.library import TEMPLATES, MessageTemplate, RenderedTemplate, Templates
from bot.message_templates.library import render as render_template
from bot.whatsapp.category import CATEGORIES
from storage.timeline import names_by_wa_id, timeline

routes = web.RouteTableDef()
PAGE_SIZE = 50


# -- conversations -------------------------------------------------------------------------------------


def _filters(request: web.Request) -> tuple[str | None, str | None, int | None, list[str]]:
    """The list's filters as given; a wrong one is said on the page, and that filter left out."""
    problems = []
    wa_id = request.query.get("wa_id", "").strip().lstrip("+").replace(" ", "") or None
    if wa_id is not None:
        try:
            valid_wa_id(wa_id)
        except ValidationError:
            problems.append(f"“{wa_id}” is not a WhatsApp number: give 6 to 15 digits, such as 31612345678.")
            wa_id = None
    category = request.query.get("category") or None
    if category is not None and category not in CATEGORIES:
        problems.append(f"There is no category “{category}”.")
        category = None
    return wa_id, category, row_id(request.query.get("before", "")), problems


@routes.get("/conversations")
async def conversations(request: web.Request) -> web.Response:
    """Every 24-hour conversation, newest first, filtered by number and category, a page at a time."""
    wa_id, category, before, problems = _filters(request)
    repository = request.config_dict[keys.REPOSITORY]
    rows = await repository.list_conversations(wa_id=wa_id, category=category, limit=PAGE_SIZE, before=before)
    async with repository.engine.connect() as conn:
        names = await names_by_wa_id(conn, [r["wa_id"] for r in rows if r["wa_id"]])
    now = request.config_dict[keys.CLOCK]()
    return render(
        request,
        "conversations.html",
        title="Conversations",
        rows=rows,
        names=names,
        origins=ORIGINS,
        now=now,
        categories=CATEGORIES,
        wa_id=wa_id or "",
        category=category or "",
        problems=problems,
        next_before=rows[-1]["id"] if len(rows) == PAGE_SIZE else None,
    )


@routes.get("/conversations/{wa_id}")
async def transcript(request: web.Request) -> web.Response:
    """One contact's chat: messages in and out with their status and reason, and each conversation opened."""
    repository = request.config_dict[keys.REPOSITORY]
    wa_id = valid_wa_id(request.match_info["wa_id"])
    contact = await repository.contact_by_wa_id(wa_id)
    if contact is None or contact.id is None:
        raise NotFound(f"no customer with the number {wa_id} has written or been written to yet")
    async with repository.engine.connect() as conn:
        found = await timeline(conn, contact.id)
    now = request.config_dict[keys.CLOCK]()
    return render(
        request,
        "transcript.html",
        title=contact.name or wa_id,
        contact=contact,
        entries=entries(found, request.config_dict[TEMPLATES]),
        window=window(contact.last_inbound_at, now),
    )


# -- templates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """One language of a template: its preview from the examples (or why there is none) and its block."""

    code: str
    preview: RenderedTemplate | None
    problem: str | None
    blocked: dict[str, Any] | None
    variables: list[str]


def templates_by_name(library: Templates, category: str) -> dict[str, list[MessageTemplate]]:
    """The templates of one category by name, each with its languages, in name and language order."""
    found: dict[str, list[MessageTemplate]] = {}
    for template in sorted(library, key=lambda t: (t.name, t.language)):
        if template.category == category:
            found.setdefault(template.name, []).append(template)
    return found


def preview(template: MessageTemplate, values: Mapping[str, Any]) -> tuple[RenderedTemplate | None, str | None]:
    """The message with these values, or why it cannot be shown."""
    try:
        return render_template(template, values), None
    except BotError as exc:
        return None, f"No preview: {exc.message}"


@routes.get("/templates")
async def templates(request: web.Request) -> web.Response:
    """Each template with its category, its languages, a preview filled in from its examples, and any block."""
    library = request.config_dict[TEMPLATES]
    items = await template_items(request.config_dict[keys.REPOSITORY], library)
    grouped: dict[tuple[str, str], list[Language]] = defaultdict(list)
    for item in sorted(items, key=lambda i: (i["category"], i["name"], i["language"])):
        template = library.get(item["name"], item["language"])
        shown, problem = preview(template, template.examples)
        language = Language(item["language"], shown, problem, item["blocked"], item["variables"])
        grouped[item["category"], item["name"]].append(language)
    return render(request, "templates.html", title="Templates", grouped=grouped)


@routes.post("/templates/{name}/unblock")
async def unblock_template(request: web.Request) -> web.Response:
    """Use a template Meta refused again, once it is fixed or approved in WhatsApp Manager."""
    language = (await form(request)).get("language") or None
    library = request.config_dict[TEMPLATES]
    await unblock(request.config_dict[keys.REPOSITORY], library, request.match_info["name"], language)
    raise done("/templates", "unblocked")


# -- flows ---------------------------------------------------------------------------------------------


@routes.get("/flows")
async def flows(request: web.Request) -> web.Response:
    """Each flow as a diagram drawn on the server, with its Mermaid text to copy."""
    loaded = request.config_dict[CONTENT].current.flows
    drawn = []
    for name in sorted(loaded, key=lambda n: (n != "main", n)):
        called = is_called(loaded, name)
        graph = flow_graph(loaded[name], called=called)
        # The SVG is built from escaped text only (`bot.dashboard.flow_svg`), so it may go into the page as markup.
        drawn.append((graph, Markup(svg(graph)), mermaid(loaded[name], called=called)))
    return render(request, "flows.html", title="Flows", drawn=drawn)
