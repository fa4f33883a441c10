"""The contacts part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.contact_model import ContactCreate, ContactPage, ContactWritten, Erasure, ImportReport
from bot.api.openapi_parts import ERRORS, PAGING, WA_ID, answer, error_answer, ok, path, query, ref

MODELS = (ContactCreate,)  # request bodies
ANSWERS = (ContactPage, ContactWritten, Erasure, ImportReport)  # answer bodies
_CSV_IMPORT = {
    "type": "string",
    "description": "Header row naming some of: wa_id or phone (required), name, language, time_zone, tags (a;b), "
    "marketing (opt_in, opt_out, yes, no or empty), consent_evidence, consent_at. UTF-8, at most 32 MB and "
    "500,000 rows. The whole body is read before any row is stored; a body cut off or stalled stores nothing.",
}
_ERASE = {
    "post": {
        "summary": "Erase a contact (the right to erasure): number, name and message texts go, consent evidence stays",
        "description": "Queued messages are cancelled; the consent ledger and conversations are kept under a keyed "
        "hash of the number. Erasing an erased number again answers 200 with already_erased. A customer who "
        "writes again afterwards is a new contact.",
        "parameters": path("wa_id", WA_ID),
        "responses": {
            **ok(ref("Erasure"), "What was erased, cancelled and kept"),
            "404": error_answer("A number never known"),
            "409": error_answer("A message to the contact is being sent right now; erase again in a minute"),
        },
    }
}
PATHS: dict[str, Any] = {
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
                    "content": {
                        "application/json": {"schema": {"oneOf": [ref("ImportReport"), ref("ContactWritten")]}}
                    },
                },
                "201": answer("The new contact", ref("ContactWritten")),
                **ERRORS,
                "408": error_answer("CSV: no part of the body arrived within the read timeout; nothing was stored"),
                "413": error_answer("CSV: the body is over 32 MB (declared or sent); nothing was stored"),
            },
        },
        "get": {
            "summary": "Contacts newest first, with their marketing consent state",
            "parameters": [
                query("q", "Part of the name or number", {"type": "string"}),
                query("tag", "Only contacts with this tag", {"type": "string"}),
                *PAGING,
            ],
            "responses": ok(ref("ContactPage"), "A page of contacts"),
        },
    },
    "/api/contacts/{wa_id}": {
        "get": {
            "summary": "One contact with tags and consent state",
            "parameters": path("wa_id", WA_ID),
            "responses": {
                **ok(ref("Contact"), "The contact"),
                "404": error_answer("Unknown contact"),
            },
        }
    },
    "/api/contacts/{wa_id}/erase": _ERASE,
}
