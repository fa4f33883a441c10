"""The statistics part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import ok, query, ref
from bot.api.stats_model import Stats

ANSWERS = (Stats,)  # answer bodies

_DAY = {"type": "string", "format": "date"}
PATHS: dict[str, Any] = {
    "/api/stats": {
        "get": {
            "summary": "Conversations, messages and estimated cost by UTC day and category, in [from, to)",
            "description": "Days until 2025-06-30 are priced per conversation (CBP), later days per delivered "
            "message (PMP), from the rate card in BOT_RATE_CARD. Meta's pricing in status webhooks decides over "
            "the estimate. At most 366 days at a time.",
            "parameters": [
                {**query("from", "First UTC day (YYYY-MM-DD)", _DAY), "required": True},
                {**query("to", "Day after the last (YYYY-MM-DD, exclusive)", _DAY), "required": True},
            ],
            "responses": ok(ref("Stats"), "The report"),
        }
    },
}
