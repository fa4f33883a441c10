"""The conversations and messages part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.conversation_model import Conversation, Message
from bot.api.openapi_parts import PAGING, WA_ID, list_of, ok, query
from bot.whatsapp.category import CATEGORIES

ANSWERS = (Conversation, Message)  # answer bodies
CONVERSATION_PATHS: dict[str, Any] = {
    "/api/conversations": {
        "get": {
            "summary": "Conversations (24-hour windows of one category), newest first",
            "parameters": [
                query("wa_id", "Only this contact", WA_ID),
                query("category", "Only this category", {"enum": list(CATEGORIES)}),
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
