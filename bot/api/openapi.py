"""The OpenAPI 3.1 document served at /api/openapi.json: what exists, and nothing that does not yet.

Each resource's paths live in `bot.api.openapi_<resource>`, beside the module that serves them; the
building blocks they share are in `bot.api.openapi_parts`.
"""

from __future__ import annotations

from typing import Any

from bot.api import (
    openapi_campaigns,
    openapi_contacts,
    openapi_conversations,
    openapi_handoff,
    openapi_notifications,
    openapi_otp,
    openapi_stats,
    openapi_subscriptions,
)
from bot.api.model import components
from bot.api.openapi_campaigns import CAMPAIGN_PATHS
from bot.api.openapi_contacts import CONTACT_PATHS
from bot.api.openapi_conversations import CONVERSATION_PATHS
from bot.api.openapi_handoff import HANDOFF_PATHS
from bot.api.openapi_notifications import NOTIFICATION_PATHS
from bot.api.openapi_otp import OTP_PATHS
from bot.api.openapi_parts import ERROR
from bot.api.openapi_schedules import SCHEDULE_PATHS
from bot.api.openapi_stats import STATS_PATHS
from bot.api.openapi_subscriptions import SUBSCRIPTION_PATHS
from bot.api.openapi_templates import TEMPLATE_PATHS

SCHEMAS: dict[str, Any] = {
    "Error": ERROR,
    **components(openapi_contacts.MODELS, "validation"),
    **components(openapi_contacts.ANSWERS, "serialization"),
    **components(openapi_campaigns.MODELS, "validation"),
    **components(openapi_campaigns.ANSWERS, "serialization"),
    **components(openapi_conversations.ANSWERS, "serialization"),
    **components(openapi_handoff.MODELS, "validation"),
    **components(openapi_stats.ANSWERS, "serialization"),
    **components(openapi_notifications.MODELS, "validation"),
    **components(openapi_notifications.ANSWERS, "serialization"),
    **components(openapi_otp.MODELS, "validation"),
    **components(openapi_otp.ANSWERS, "serialization"),
    **components(openapi_subscriptions.MODELS, "validation"),
    **components(openapi_subscriptions.ANSWERS, "serialization"),
}

_SELF: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "summary": "This document; the one route that needs no token",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
                }
            },
        }
    }
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The document, with the server it was asked from."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "WhatsApp conversation service admin API", "version": "0.1.0"},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": {
            **_SELF,
            **CONVERSATION_PATHS,
            **CONTACT_PATHS,
            **OTP_PATHS,
            **NOTIFICATION_PATHS,
            **SCHEDULE_PATHS,
            **TEMPLATE_PATHS,
            **HANDOFF_PATHS,
            **STATS_PATHS,
            **CAMPAIGN_PATHS,
            **SUBSCRIPTION_PATHS,
        },
    }
    document["paths"] = {  # new dicts: the parts are shared constants
        path: {method: {**_names(method, path), **operation} for method, operation in item.items()}
        for path, item in document["paths"].items()
    }
    return document


def _names(method: str, path: str) -> dict[str, Any]:
    """operationId and tag from the method and path: `post /api/campaigns/{id}/dry-run` is post_campaigns_id_dry_run."""
    parts = path.split("/")[2:]
    words = [part.strip("{}").replace("-", "_").replace(".", "_") for part in parts]
    return {"operationId": "_".join([method, *words]), "tags": [parts[0].split(".")[0]]}
