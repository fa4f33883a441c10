"""The conversations and messages part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.conversation_model import ConversationPage, MessagePage
from bot.api.openapi_parts import PAGING, WA_ID, ok, query, ref
from bot.whatsapp.category import CATEGORIES

ANSWERS = (ConversationPage, MessagePage)  # answer bodies
PATHS: dict[str, Any] = {
    "/api/conversations": {
        "get": {
            "summary": "Conversations (24-hour windows of one category), newest first",
            "parameters": [
                query("wa_id", "Only this contact", WA_ID),
                query("category", "Only this category", {"enum": list(CATEGORIES)}),
                *PAGING,
            ],
            "responses": ok(ref("ConversationPage"), "A page of conversations"),
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
            "responses": ok(ref("MessagePage"), "A page of messages"),
        }
    },
}
