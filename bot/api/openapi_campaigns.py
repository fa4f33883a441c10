"""The campaign routes' part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any, get_args

from bot.api.campaign_model import (
    Campaign,
    CampaignCreate,
    CampaignPage,
    DryRunReport,
    Queued,
    RecipientPage,
    RecipientStatus,
    Requeued,
    TestQueued,
    TestSend,
)
from bot.api.openapi_parts import ID, PAGING, created, error_answer, json_body, ok, query, ref

MODELS = (CampaignCreate, TestSend)  # request bodies
ANSWERS = (Campaign, CampaignPage, DryRunReport, Queued, Requeued, RecipientPage, TestQueued)  # answer bodies

_CAMPAIGN = ref("Campaign")
_NOT_FOUND = {"404": error_answer("Unknown campaign")}
_CONFLICT = {"409": error_answer("Not possible in the campaign's state (or the name is taken)")}
_CREATE_CONFLICT = {
    "409": error_answer("The name is taken, or template_not_approved: Meta has not approved the template (its reason)")
}


def _control(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": ID,
            "responses": {**ok(_CAMPAIGN, "The campaign"), **_NOT_FOUND, **_CONFLICT},
        }
    }


PATHS: dict[str, Any] = {
    "/api/campaigns": {
        "post": {
            "summary": "A marketing campaign: template, audience, per-recipient values, schedule, limits",
            "description": "Consent, quiet hours, the frequency cap, the campaign's state and Meta's block on +1 "
            "numbers are checked when each message is sent, not when it is scheduled.",
            "requestBody": json_body(ref("CampaignCreate")),
            "responses": {**created(_CAMPAIGN, "The campaign"), **_CREATE_CONFLICT},
        },
        "get": {
            "summary": "Campaigns newest first, each with its progress",
            "parameters": PAGING,
            "responses": ok(ref("CampaignPage"), "A page of campaigns"),
        },
    },
    "/api/campaigns/{id}": {
        "get": {
            "summary": "One campaign with its runs and its messages counted by state",
            "parameters": ID,
            "responses": {**ok(_CAMPAIGN, "The campaign"), **_NOT_FOUND},
        }
    },
    "/api/campaigns/{id}/recipients": {
        "get": {
            "summary": "The per-recipient log: queued, sent, delivered, read, failed with reason, replied, opted out",
            "parameters": [
                *ID,
                query("status", "Only messages in this state", {"enum": list(get_args(RecipientStatus))}),
                *PAGING,
            ],
            "responses": {**ok(ref("RecipientPage"), "A page of recipients"), **_NOT_FOUND},
        }
    },
    "/api/campaigns/{id}/pause": _control("Pause: queued messages wait; messages already with Meta go on"),
    "/api/campaigns/{id}/resume": _control("Resume: paused messages queue again at the campaign's rate"),
    "/api/campaigns/{id}/cancel": _control("Cancel: what is not sent yet never will be"),
    "/api/campaigns/{id}/dry-run": {
        "post": {
            "summary": "Who would get it now, each suppression by reason, estimated cost by country and category",
            "parameters": ID,
            "responses": {**ok(ref("DryRunReport"), "The dry run"), **_NOT_FOUND},
        }
    },
    "/api/campaigns/{id}/test": {
        "post": {
            "summary": "Send now to numbers on the campaign's test_numbers only (quiet hours don't hold a test)",
            "parameters": ID,
            "requestBody": {**json_body(ref("TestSend")), "required": False},
            "responses": {**created(ref("TestQueued"), "Queued, going at once", "202"), **_NOT_FOUND},
        }
    },
    "/api/campaigns/{id}/retry-failed": {
        "post": {
            "summary": "Queue every failed message of the campaign again",
            "parameters": ID,
            "responses": {**created(ref("Requeued"), "Requeued", "202"), **_NOT_FOUND, **_CONFLICT},
        }
    },
}
