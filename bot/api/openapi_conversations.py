"""The conversations and messages part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import OPT_TIME, PAGING, TIME, WA_ID, list_of, ok, query

CONVERSATION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "wa_id", "category", "origin", "opened_at", "expires_at"],
    "properties": {
        "id": {"type": "integer"},
        "wa_id": {"type": ["string", "null"]},
        "user_id": {"type": ["string", "null"]},
        "category": {"enum": ["service", "utility", "authentication", "marketing"]},
        "origin": {"enum": ["user_initiated", "business_initiated", "free_entry_point"]},
        "opened_at": TIME,
        "expires_at": TIME,
    },
}
MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["wamid", "direction", "type", "category", "status", "pricing", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "wamid": {"type": "string"},
        "wa_id": {"type": ["string", "null"]},
        "direction": {"enum": ["in", "out"]},
        "type": {"type": "string"},
        "text": {"type": ["string", "null"]},
        "template_name": {"type": ["string", "null"]},
        "category": {"type": ["string", "null"]},
        "status": {"type": "string", "description": "received (in); accepted, sent, delivered, read, failed (out)"},
        "pricing": {"type": ["object", "null"], "description": "Meta's pricing object from the status webhook"},
        "error": {"type": ["object", "null"]},
        "conversation_id": {"type": ["integer", "null"]},
        "created_at": TIME,
        "sent_at": OPT_TIME,
        "delivered_at": OPT_TIME,
        "read_at": OPT_TIME,
        "failed_at": OPT_TIME,
    },
}
CONVERSATION_PATHS: dict[str, Any] = {
    "/api/conversations": {
        "get": {
            "summary": "Conversations (24-hour windows of one category), newest first",
            "parameters": [
                query("wa_id", "Only this contact", WA_ID),
                query("category", "Only this category", CONVERSATION["properties"]["category"]),
                *PAGING,
            ],
            "responses": ok(list_of("Conversation"), "A page of conversations"),
        }
    },
    "/api/messages": {
        "get": {
            "summary": "Messages in and out, newest first",
            "parameters": [
                query("wa_id", "Only this contact", WA_ID),
                query("direction", "in or out", {"enum": ["in", "out"]}),
                *PAGING,
            ],
            "responses": ok(list_of("Message"), "A page of messages"),
        }
    },
}
