"""The OpenAPI 3.1 document served at /api/openapi.json: what exists, and nothing that does not yet.

Each resource's part is `bot.api.openapi_<resource>`, beside the module that serves it: its `PATHS`, and the
Pydantic models of its request bodies (`MODELS`) and answers (`ANSWERS`). Every body schema of the document is
generated from those models, the ones the handlers check (and answer) with; `operationId` and the tag of each
operation are made from its method and path.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from bot.api import (
    openapi_campaigns,
    openapi_contacts,
    openapi_conversations,
    openapi_handoff,
    openapi_notifications,
    openapi_numbers,
    openapi_otp,
    openapi_schedules,
    openapi_stats,
    openapi_subscriptions,
    openapi_templates,
)
from bot.api.model import Error, components
from bot.settings import package_version

PARTS: tuple[ModuleType, ...] = (
    openapi_conversations,
    openapi_contacts,
    openapi_otp,
    openapi_notifications,
    openapi_schedules,
    openapi_templates,
    openapi_handoff,
    openapi_stats,
    openapi_campaigns,
    openapi_subscriptions,
    openapi_numbers,
)
SCHEMAS: dict[str, Any] = components((Error,), "serialization")
for _part in PARTS:
    SCHEMAS.update(components(getattr(_part, "MODELS", ()), "validation"))
    SCHEMAS.update(components(getattr(_part, "ANSWERS", ()), "serialization"))

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
    paths: dict[str, Any] = dict(_SELF)
    for part in PARTS:
        paths.update(part.PATHS)
    return {
        "openapi": "3.1.0",
        "info": {"title": "WhatsApp conversation service admin API", "version": package_version()},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": {  # new dicts: the parts are shared constants
            path: {method: {**_names(method, path), **operation} for method, operation in item.items()}
            for path, item in paths.items()
        },
    }


def _names(method: str, path: str) -> dict[str, Any]:
    """operationId and tag from the method and path: `post /api/campaigns/{id}/dry-run` is post_campaigns_id_dry_run."""
    parts = path.split("/")[2:]
    words = [part.strip("{}").replace("-", "_").replace(".", "_") for part in parts]
    return {"operationId": "_".join([method, *words]), "tags": [parts[0].split(".")[0]]}
