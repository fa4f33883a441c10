"""The handoff part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.handoff_model import AgentReply
from bot.api.openapi_parts import NOT_FOUND, PAGING, TIME, WA_ID, created, json_body, ok, page, ref

MODELS = (AgentReply,)  # request bodies
_WA_ID_PATH = [{"name": "wa_id", "in": "path", "required": True, "schema": WA_ID}]
HANDOFF_PATHS: dict[str, Any] = {
    "/api/handoffs": {
        "get": {
            "summary": "The handoff inbox: contacts a flow handed to a person, newest contact first, a page at a time",
            "description": "Paged by contact id: `before` is the previous page's `next_before`. "
            "`since` says how long each contact has waited.",
            "parameters": PAGING,
            "responses": ok(
                page(
                    {
                        "type": "object",
                        "properties": {
                            "contact_id": {"type": "integer"},
                            "wa_id": WA_ID,
                            "name": {"type": ["string", "null"]},
                            "since": TIME,
                        },
                    }
                ),
                "A page of the inbox",
            ),
        }
    },
    "/api/conversations/{wa_id}/reply": {
        "post": {
            "summary": "An agent's free-form reply; refused (409) outside the 24-hour customer service window",
            "parameters": _WA_ID_PATH,
            "requestBody": json_body(ref("AgentReply")),
            "responses": {
                **created(
                    {"type": "object", "properties": {"queued": {"type": "boolean"}, "window_closes_at": TIME}},
                    "Queued",
                    "202",
                ),
                "404": NOT_FOUND,
                "409": {
                    "description": "The service window is closed: send a template",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            },
        }
    },
    "/api/conversations/{wa_id}/release": {
        "post": {
            "summary": "Give a handed-off conversation back to the bot",
            "parameters": _WA_ID_PATH,
            "responses": {
                **ok(
                    {"type": "object", "properties": {"wa_id": WA_ID, "released": {"type": "boolean"}}},
                    "Whether it was handed off",
                ),
                "404": NOT_FOUND,
            },
        }
    },
}
