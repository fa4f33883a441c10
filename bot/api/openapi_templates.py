"""The message-template part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import NOT_FOUND, PAGING, json_body, ok, query, ref
from bot.api.template_model import TemplatePage, Unblock, Unblocked

MODELS = (Unblock,)  # request bodies
ANSWERS = (TemplatePage, Unblocked)  # answer bodies

PATHS: dict[str, Any] = {
    "/api/templates": {
        "get": {
            "summary": "The message templates, each with its category and whether Meta's refusal blocked it",
            "description": "Templates are files, not rows with ids: they are listed in name and language order "
            "and paged by that key (`after`, the answer's `next_after`), not by `before`.",
            "parameters": [
                PAGING[0],
                query(
                    "after",
                    "Return templates after this name.language (the previous page's next_after)",
                    {"type": "string", "examples": ["order_shipped.en"]},
                ),
            ],
            "responses": ok(ref("TemplatePage"), "A page of templates"),
        }
    },
    "/api/templates/{name}/unblock": {
        "post": {
            "summary": "Use a template Meta refused again, once it is fixed in WhatsApp Manager",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {**json_body(ref("Unblock")), "required": False},
            "responses": {**ok(ref("Unblocked"), "What was lifted"), "404": NOT_FOUND},
        }
    },
}
