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
from bot.api.request import json_body, json_response
from bot.errors import NotFound, ValidationError
from bot.message_templates.library import TEMPLATES, Templates
from storage.repository import Repository

log = structlog.get_logger("bot.api.templates")


async def template_items(repository: Repository, library: Templates) -> list[dict[str, Any]]:
    """Every template file with its category, language and variables, and the block Meta's refusal put on it."""
    blocks = {(b.name, b.language): b for b in await repository.template_blocks()}
    items: list[dict[str, Any]] = []
    for template in library:
        block = blocks.get((template.name, template.language))
        items.append(
            {
                "name": template.name,
                "language": template.language,
                "category": template.category,
                "variables": list(template.variables),
                "blocked": None
                if block is None
                else {"error_code": block.error_code, "reason": block.reason, "blocked_at": block.blocked_at},
            }
        )
    return items


async def list_templates(request: web.Request) -> web.Response:
    """`GET /api/templates`: the templates and their blocks (`template_items`)."""
    config = request.config_dict
    return json_response({"items": await template_items(config[keys.REPOSITORY], config[TEMPLATES])})


async def unblock_template(request: web.Request) -> web.Response:
    """Use a refused template again: `{"language": "en"}` for one language, an empty body for all."""
    name = request.match_info["name"]
    language: Any = None
    if request.can_read_body:
        language = (await json_body(request)).get("language")
        if language is not None and not isinstance(language, str):
            raise ValidationError("language must be a language code such as en or pt_BR")
    unblocked = await unblock(request.config_dict[keys.REPOSITORY], request.config_dict[TEMPLATES], name, language)
    return json_response({"name": name, "language": language, "unblocked": unblocked})


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
