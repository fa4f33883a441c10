"""`/api/templates`: the message templates the service sends, and which of them Meta refused.

When Meta answers a template send with 132000, 132001, 132015 or 132016 the sender stops using that
template (and language) and fails its messages with the reason. This is where a business sees that, and
re-enables the template once it is fixed, approved or unpaused in WhatsApp Manager.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from bot import keys
from bot.api.model import validated
from bot.api.request import json_body, json_response
from bot.api.template_model import TemplatePage, Unblock, Unblocked
from bot.errors import NotFound, ValidationError
from bot.field import whole_number
from bot.message_templates.library import TEMPLATES, Templates
from bot.message_templates.template_file import LANGUAGE_PATTERN, NAME_MAX, NAME_PATTERN
from storage.lifecycle import refusal
from storage.repository import Repository

log = structlog.get_logger("bot.api.templates")


async def template_items(repository: Repository, library: Templates) -> list[dict[str, Any]]:
    """Every template file with its category, language and variables, and the block Meta's refusal put on it."""
    blocks = {(b.name, b.language): b for b in await repository.template_blocks()}
    known = await repository.meta_word()
    items: list[dict[str, Any]] = []
    for template in library:
        block = blocks.get((template.name, template.language))
        said = known.get((template.name, template.language))
        meta = None if said is None else {
            "status": said.status, "reason": said.reason, "category": said.category,
            "refused": refusal(said) is not None, "pushed_at": said.pushed_at,
        }  # fmt: skip
        items.append(
            {
                "name": template.name,
                "language": template.language,
                "category": template.category,
                "variables": list(template.variables),
                "blocked": None
                if block is None
                else {"error_code": block.error_code, "reason": block.reason, "blocked_at": block.blocked_at},
                "meta": meta,
            }
        )
    return items


def _key(item: dict[str, Any]) -> str:
    """A template's place in the list and its cursor: `name.language`, as its file is named."""
    return f"{item['name']}.{item['language']}"


def _after(request: web.Request) -> tuple[str, str] | None:
    """The `?after=<name>.<language>` cursor as (name, language); anything else is a 400 naming it."""
    value = request.query.get("after")
    if value is None:
        return None
    name, dot, language = value.partition(".")
    if not dot or len(name) > NAME_MAX or not NAME_PATTERN.fullmatch(name) or not LANGUAGE_PATTERN.fullmatch(language):
        raise ValidationError("after must be a template's name.language, such as order_shipped.en")
    return name, language


async def list_templates(request: web.Request) -> web.Response:
    """`GET /api/templates`: a page of the templates and their blocks (`template_items`), in name order.

    Templates are files, not rows with ids, so the page is cut by name and language: `?after=<name>.<language>`
    (the answer's `next_after`) and `?limit=` (1 to 1000, default 100).
    """
    limit = whole_number(request.query.get("limit", "100"), "limit", 1, 1000)
    after = _after(request)
    config = request.config_dict
    items = sorted(
        await template_items(config[keys.REPOSITORY], config[TEMPLATES]), key=lambda i: (i["name"], i["language"])
    )
    if after is not None:
        items = [i for i in items if (i["name"], i["language"]) > after]
    page = items[:limit]
    following = _key(page[-1]) if len(items) > limit else None
    return json_response(TemplatePage.model_validate({"items": page, "next_after": following}).model_dump())


async def unblock_template(request: web.Request) -> web.Response:
    """Use a refused template again: `{"language": "en"}` for one language, an empty body for all."""
    name = request.match_info["name"]
    language = validated(Unblock, await json_body(request)).language if request.can_read_body else None
    unblocked = await unblock(request.config_dict[keys.REPOSITORY], request.config_dict[TEMPLATES], name, language)
    return json_response(Unblocked(name=name, language=language, unblocked=unblocked).model_dump())


async def unblock(repository: Repository, library: Templates, name: str, language: str | None) -> int:
    """Use a refused template again (one language, or all); answers how many blocks were lifted."""
    if not any(t.name == name for t in library):
        raise NotFound(f"no template named {name!r}")
    unblocked = await repository.unblock_template(name, language)
    log.info("template.unblocked", template=name, language=language, count=unblocked)
    return unblocked


routes = (
    web.get("/templates", list_templates),
    web.post("/templates/{name}/unblock", unblock_template),
)
