"""The campaign routes' part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.campaign_model import Campaign, CampaignCreate, CampaignPage, DryRunReport, Queued, Requeued, TestSend
from bot.api.openapi_parts import json_body, ref

MODELS = (CampaignCreate, TestSend)  # request bodies
ANSWERS = (Campaign, CampaignPage, DryRunReport, Queued, Requeued)  # answer bodies

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "before", "in": "query", "schema": {"type": "integer"}},
]
_CAMPAIGN = ref("Campaign")


def _answer(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


def _errors(*codes: str) -> dict[str, Any]:
    words = {"400": "Invalid request", "401": "Missing or wrong bearer token", "404": "Unknown campaign",
             "409": "Not possible in the campaign's state (or the name is taken)",
             "429": "Too many wrong bearer tokens from this address in a minute; see Retry-After"}  # fmt: skip
    return {code: {"description": words[code], **_ERROR} for code in ("400", "401", "429", *codes)}


def _control(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": _ID,
            "responses": {**_answer("200", "The campaign", _CAMPAIGN), **_errors("404", "409")},
        }
    }


CAMPAIGN_PATHS: dict[str, Any] = {
    "/api/campaigns": {
        "post": {
            "summary": "A marketing campaign: template, audience, per-recipient values, schedule, limits",
            "description": "Consent, quiet hours, the frequency cap, the campaign's state and Meta's block on +1 "
            "numbers are checked when each message is sent, not when it is scheduled.",
            "requestBody": json_body(ref("CampaignCreate")),
            "responses": {**_answer("201", "The campaign", _CAMPAIGN), **_errors("409")},
        },
        "get": {
            "summary": "Campaigns newest first, each with its progress",
            "parameters": _PAGING,
            "responses": {
                **_answer("200", "A page of campaigns", ref("CampaignPage")),
                **_errors(),
            },
        },
    },
    "/api/campaigns/{id}": {
        "get": {
            "summary": "One campaign with its runs and its messages counted by state",
            "parameters": _ID,
            "responses": {**_answer("200", "The campaign", _CAMPAIGN), **_errors("404")},
        }
    },
    "/api/campaigns/{id}/recipients": {
        "get": {
            "summary": "The per-recipient log: queued, sent, delivered, read, failed with reason, replied, opted out",
            "parameters": [*_ID, {"name": "status", "in": "query", "schema": {"type": "string"}}, *_PAGING],
            "responses": {**_answer("200", "A page of recipients", {"type": "object"}), **_errors("404")},
        }
    },
    "/api/campaigns/{id}/pause": _control("Pause: queued messages wait; messages already with Meta go on"),
    "/api/campaigns/{id}/resume": _control("Resume: paused messages queue again at the campaign's rate"),
    "/api/campaigns/{id}/cancel": _control("Cancel: what is not sent yet never will be"),
    "/api/campaigns/{id}/dry-run": {
        "post": {
            "summary": "Who would get it now, each suppression by reason, estimated cost by country and category",
            "parameters": _ID,
            "responses": {**_answer("200", "The dry run", ref("DryRunReport")), **_errors("404")},
        }
    },
    "/api/campaigns/{id}/test": {
        "post": {
            "summary": "Send now to numbers on the campaign's test_numbers only",
            "parameters": _ID,
            "requestBody": {**json_body(ref("TestSend")), "required": False},
            "responses": {**_answer("202", "Queued", ref("Queued")), **_errors("404")},
        }
    },
    "/api/campaigns/{id}/retry-failed": {
        "post": {
            "summary": "Queue every failed message of the campaign again",
            "parameters": _ID,
            "responses": {**_answer("202", "Requeued", ref("Requeued")), **_errors("404", "409")},
        }
    },
}
