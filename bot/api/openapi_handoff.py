"""The handoff part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.handoff_model import AgentReply, Released, ReplyQueued, WaitingPage
from bot.api.openapi_parts import NOT_FOUND, PAGING, WA_ID, created, error_answer, json_body, ok, path, ref

MODELS = (AgentReply,)  # request bodies
ANSWERS = (ReplyQueued, Released, WaitingPage)  # answer bodies
PATHS: dict[str, Any] = {
    "/api/handoffs": {
        "get": {
            "summary": "The handoff inbox: contacts a flow handed to a person, newest contact first, a page at a time",
            "description": "Paged by contact id: `before` is the previous page's `next_before`. "
            "`since` says how long each contact has waited.",
            "parameters": PAGING,
            "responses": ok(ref("WaitingPage"), "A page of the inbox"),
        }
    },
    "/api/conversations/{wa_id}/reply": {
        "post": {
            "summary": "An agent's free-form reply; refused (409) outside the 24-hour customer service window",
            "parameters": path("wa_id", WA_ID),
            "requestBody": json_body(ref("AgentReply")),
            "responses": {
                **created(ref("ReplyQueued"), "Queued", "202"),
                "404": NOT_FOUND,
                "409": error_answer("The service window is closed: send a template"),
            },
        }
    },
    "/api/conversations/{wa_id}/release": {
        "post": {
            "summary": "Give a handed-off conversation back to the bot",
            "description": "Inside the 24-hour window the customer is sent the service template `bot_back` in "
            "their language, saying that the assistant answers again.",
            "parameters": path("wa_id", WA_ID),
            "responses": {**ok(ref("Released"), "Whether it was handed off"), "404": NOT_FOUND},
        }
    },
}
