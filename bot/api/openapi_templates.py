"""The message-template part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import NOT_FOUND, PAGING, TIME, ok, page, query

_TEMPLATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "language": {"type": "string"},
        "category": {"enum": ["service", "utility", "authentication", "marketing"]},
        "variables": {"type": "array", "items": {"type": "string"}},
        "blocked": {
            "type": ["object", "null"],
            "description": "Set when Meta refused the template (132000, 132001, 132015, 132016): it is not used",
            "properties": {
                "error_code": {"type": ["integer", "null"]},
                "reason": {"type": "string"},
                "blocked_at": TIME,
            },
        },
    },
}
TEMPLATE_PATHS: dict[str, Any] = {
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
            "responses": ok(page(_TEMPLATE, "next_after"), "A page of templates"),
        }
    },
    "/api/templates/{name}/unblock": {
        "post": {
            "summary": "Use a template Meta refused again, once it is fixed in WhatsApp Manager",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"language": {"type": "string", "description": "Omit for every language"}},
                        }
                    }
                },
            },
            "responses": {
                **ok(
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "language": {"type": ["string", "null"]},
                            "unblocked": {"type": "integer", "description": "How many blocks were lifted"},
                        },
                    },
                    "What was lifted",
                ),
                "404": NOT_FOUND,
            },
        }
    },
}
