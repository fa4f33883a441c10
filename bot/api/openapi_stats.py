"""The statistics part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import ok, query

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_MONEY = {"type": "string", "pattern": r"^\d+\.\d{4,}$"}
_TALLY = {
    "type": "object",
    "required": ["conversations", "messages", "received", "billable", "cost", "cost_total", "cost_source", "unpriced"],
    "properties": {
        "conversations": {**_COUNTS, "description": "Conversations opened, by category"},
        "messages": {
            "type": "object",
            "description": "Outbound messages by pricing category (a template's own category, else service)",
            "additionalProperties": {
                "type": "object",
                "properties": {k: {"type": "integer"} for k in ("sent", "delivered", "failed")},
            },
        },
        "received": {"type": "integer", "description": "Inbound messages"},
        "billable": {**_COUNTS, "description": "Charges by category: conversations on CBP days, messages on PMP days"},
        "cost": {"type": ["object", "null"], "additionalProperties": _MONEY, "description": "null without a card"},
        "cost_total": {**_MONEY, "type": ["string", "null"]},
        "cost_source": {
            "type": "object",
            "description": "Charges decided by Meta's reported pricing, and by our estimate",
            "properties": {"meta": {"type": "integer"}, "estimate": {"type": "integer"}},
        },
        "unpriced": {
            **_COUNTS,
            "description": "Charges left out of cost: unknown_country, no_rate, not_modelled",
        },
    },
}
_DAY = {"type": "string", "format": "date"}
STATS_PATHS: dict[str, Any] = {
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
            "responses": ok(
                {
                    "type": "object",
                    "required": ["from", "to", "currency", "days", "totals", "unpriced", "rate_card", "cost_note"],
                    "properties": {
                        "from": _DAY,
                        "to": _DAY,
                        "currency": {"type": ["string", "null"]},
                        "days": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    _TALLY,
                                    {
                                        "required": ["date", "pricing_model"],
                                        "properties": {"date": _DAY, "pricing_model": {"enum": ["CBP", "PMP"]}},
                                    },
                                ]
                            },
                        },
                        "totals": _TALLY,
                        "unpriced": _COUNTS,
                        "rate_card": {
                            "type": ["object", "null"],
                            "properties": {"path": {"type": "string"}, "example": {"type": "boolean"}},
                        },
                        "cost_note": {"type": ["string", "null"]},
                    },
                },
                "The report",
            ),
        }
    },
}
