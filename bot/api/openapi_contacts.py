"""The contacts part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.contact_model import Contact, ContactCreate, ContactWritten
from bot.api.openapi_parts import ERRORS, NOT_FOUND, PAGING, WA_ID, list_of, ok, query, ref

MODELS = (ContactCreate,)  # request bodies
ANSWERS = (Contact, ContactWritten)  # answer bodies
_CSV_IMPORT = {
    "type": "string",
    "description": "Header row naming some of: wa_id or phone (required), name, language, time_zone, tags (a;b), "
    "marketing (opt_in, opt_out, yes, no or empty), consent_evidence, consent_at. UTF-8, at most 32 MB and "
    "500,000 rows. The whole body is read before any row is stored; a body cut off or stalled stores nothing.",
}
_IMPORT_REPORT = {
    "type": "object",
    "description": "Every data row read is counted in rows, and is either stored (created or updated) or rejected",
    "required": ["rows", "created", "updated", "consent_recorded", "time_zone_from_business_default", "rejected"],
    "properties": {
        "rows": {"type": "integer", "description": "Data rows read (blank lines are not counted)"},
        "created": {"type": "integer"},
        "updated": {"type": "integer"},
        "consent_recorded": {"type": "integer"},
        "time_zone_from_business_default": {"type": "integer"},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "wa_id": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_ERASURE = {
    "type": "object",
    "required": ["erased", "already_erased", "pseudonym", "cancelled", "deleted", "blanked", "kept"],
    "properties": {
        "erased": {"const": True},
        "already_erased": {"type": "boolean", "description": "The number was erased before; nothing changed now"},
        "pseudonym": {
            "type": "string",
            "description": "HMAC-SHA256 of the number under BOT_SECRET_KEY: the same number always gives the same",
        },
        "cancelled": {"type": "integer", "description": "Queued and paused messages cancelled"},
        "deleted": {
            **_COUNTS,
            "description": (
                "Rows deleted: sessions, otp_challenges, orders, appointments, accounts, media (media_files: files)"
            ),
        },
        "blanked": {
            **_COUNTS,
            "description": "Rows whose words or number went: messages, outbox, webhook_bodies, status_events, "
            "notices, schedules, campaigns",
        },
        "kept": {**_COUNTS, "description": "Rows kept, pseudonymous: consent_events, conversations"},
    },
}
_ERASE = {
    "post": {
        "summary": "Erase a contact (the right to erasure): number, name and message texts go, consent evidence stays",
        "description": "Queued messages are cancelled; the consent ledger and conversations are kept under a keyed "
        "hash of the number. Erasing an erased number again answers 200 with already_erased. A customer who "
        "writes again afterwards is a new contact.",
        "parameters": [{"name": "wa_id", "in": "path", "required": True, "schema": WA_ID}],
        "responses": {
            **ok(_ERASURE, "What was erased, cancelled and kept"),
            "404": {**NOT_FOUND, "description": "A number never known"},
            "409": {
                "description": "A message to the contact is being sent right now; erase again in a minute",
                "content": {"application/json": {"schema": ref("Error")}},
            },
        },
    }
}
CONTACT_PATHS: dict[str, Any] = {
    "/api/contacts": {
        "post": {
            "summary": "Add or update one contact (JSON), or import many (text/csv) with consent columns",
            "parameters": [query("region", "Country for numbers written without a country code", {"type": "string"})],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("ContactCreate")}, "text/csv": {"schema": _CSV_IMPORT}},
            },
            "responses": {
                "200": {
                    "description": "CSV: what was imported and each rejected row with its line; "
                    "JSON: the updated contact",
                    "content": {"application/json": {"schema": {"oneOf": [_IMPORT_REPORT, ref("ContactWritten")]}}},
                },
                "201": {
                    "description": "The new contact",
                    "content": {"application/json": {"schema": ref("ContactWritten")}},
                },
                **ERRORS,
                "408": {
                    "description": "CSV: no part of the body arrived within the read timeout; nothing was stored",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
                "413": {
                    "description": "CSV: the body is over 32 MB (declared or sent); nothing was stored",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            },
        },
        "get": {
            "summary": "Contacts newest first, with their marketing consent state",
            "parameters": [
                query("q", "Part of the name or number", {"type": "string"}),
                query("tag", "Only contacts with this tag", {"type": "string"}),
                *PAGING,
            ],
            "responses": ok(list_of("Contact"), "A page of contacts"),
        },
    },
    "/api/contacts/{wa_id}": {
        "get": {
            "summary": "One contact with tags and consent state",
            "parameters": [{"name": "wa_id", "in": "path", "required": True, "schema": WA_ID}],
            "responses": {
                **ok(ref("Contact"), "The contact"),
                "404": {
                    "description": "Unknown contact",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            },
        }
    },
    "/api/contacts/{wa_id}/erase": _ERASE,
}
