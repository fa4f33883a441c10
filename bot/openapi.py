"""The OpenAPI 3.1 document served at /api/openapi.json: what exists, and nothing that does not yet."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_ERRORS = {
    "400": {"description": "Invalid request", "content": {"application/json": {"schema": _ref("Error")}}},
    "401": {"description": "Missing or wrong bearer token", "content": {"application/json": {"schema": _ref("Error")}}},
}
_PAGING = [
    _query("limit", "Page size (1-1000, default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("before", "Return rows with an id below this (the previous page's next_before)", {"type": "integer"}),
]
_WA_ID = {"type": "string", "pattern": r"^\d{6,15}$", "description": "E.164 digits without +"}
_TIME = {"type": "string", "format": "date-time"}
_OPT_TIME = {"type": ["string", "null"], "format": "date-time"}


def _list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_before"],
        "properties": {"items": {"type": "array", "items": _ref(name)}, "next_before": {"type": ["integer", "null"]}},
    }


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}, **_ERRORS}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Conversation": {
        "type": "object",
        "required": ["id", "wa_id", "category", "origin", "opened_at", "expires_at"],
        "properties": {
            "id": {"type": "integer"},
            "wa_id": {"type": ["string", "null"]},
            "user_id": {"type": ["string", "null"]},
            "category": {"enum": ["service", "utility", "authentication", "marketing"]},
            "origin": {"enum": ["user_initiated", "business_initiated", "free_entry_point"]},
            "opened_at": _TIME,
            "expires_at": _TIME,
        },
    },
    "Message": {
        "type": "object",
        "required": ["wamid", "direction", "type", "category", "status", "pricing", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "wamid": {"type": "string"},
            "wa_id": {"type": ["string", "null"]},
            "direction": {"enum": ["in", "out"]},
            "type": {"type": "string"},
            "text": {"type": ["string", "null"]},
            "template_name": {"type": ["string", "null"]},
            "category": {"type": ["string", "null"]},
            "status": {"type": "string", "description": "received (in); accepted, sent, delivered, read, failed (out)"},
            "pricing": {"type": ["object", "null"], "description": "Meta's pricing object from the status webhook"},
            "error": {"type": ["object", "null"]},
            "conversation_id": {"type": ["integer", "null"]},
            "created_at": _TIME,
            "sent_at": _OPT_TIME,
            "delivered_at": _OPT_TIME,
            "read_at": _OPT_TIME,
            "failed_at": _OPT_TIME,
        },
    },
    "Contact": {
        "type": "object",
        "properties": {
            "wa_id": {"type": ["string", "null"]},
            "user_id": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"]},
            "language": {"type": ["string", "null"]},
            "time_zone": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "last_inbound_at": _OPT_TIME,
            "consent": {"type": "object"},
        },
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_PURPOSE = {"enum": ["login", "account_setup"], "description": "Which authentication template carries the code"}
_OTP_REQUEST = {
    "type": "object",
    "required": ["wa_id", "purpose"],
    "properties": {"wa_id": _WA_ID, "purpose": _PURPOSE},
}
_OTP_VERIFY = {
    "type": "object",
    "required": ["wa_id", "purpose", "code"],
    "properties": {
        "wa_id": _WA_ID,
        "purpose": _PURPOSE,
        "code": {"type": "string", "maxLength": 32, "description": "The six digits the customer received"},
    },
}
_OTP_PATHS: dict[str, Any] = {
    "/api/otp": {
        "post": {
            "summary": "Send a one-time code through the purpose's authentication template",
            "description": "The answer is the same whether or not the number was known. At most 5 codes per "
            "number and purpose per 10 minutes, 30 s apart; a code lives 10 minutes and allows 5 wrong tries.",
            "requestBody": _json_body(_OTP_REQUEST),
            "responses": {
                "202": {
                    "description": "The code is queued for sending",
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"status": {"const": "sent"}}}}
                    },
                },
                **_ERRORS,
                "429": {
                    "description": "Too soon, too many, or locked after wrong tries; see Retry-After",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        }
    },
    "/api/otp/verify": {
        "post": {
            "summary": "Check a one-time code; a right code is used up, a wrong one costs a try",
            "requestBody": _json_body(_OTP_VERIFY),
            "responses": _ok(
                {"type": "object", "required": ["verified"], "properties": {"verified": {"type": "boolean"}}},
                "Whether the code was right (and nothing about why not)",
            ),
        }
    },
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The document, with the server it was asked from."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "WhatsApp conversation service admin API", "version": "0.1.0"},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": {
            "/api/conversations": {
                "get": {
                    "summary": "Conversations (24-hour windows of one category), newest first",
                    "parameters": [
                        _query("wa_id", "Only this contact", _WA_ID),
                        _query("category", "Only this category", SCHEMAS["Conversation"]["properties"]["category"]),
                        *_PAGING,
                    ],
                    "responses": _ok(_list_of("Conversation"), "A page of conversations"),
                }
            },
            "/api/messages": {
                "get": {
                    "summary": "Messages in and out, newest first",
                    "parameters": [
                        _query("wa_id", "Only this contact", _WA_ID),
                        _query("direction", "in or out", {"enum": ["in", "out"]}),
                        *_PAGING,
                    ],
                    "responses": _ok(_list_of("Message"), "A page of messages"),
                }
            },
            "/api/contacts/{wa_id}": {
                "get": {
                    "summary": "One contact with tags and consent state",
                    "parameters": [{"name": "wa_id", "in": "path", "required": True, "schema": _WA_ID}],
                    "responses": {
                        **_ok(_ref("Contact"), "The contact"),
                        "404": {
                            "description": "Unknown contact",
                            "content": {"application/json": {"schema": _ref("Error")}},
                        },
                    },
                }
            },
            **_OTP_PATHS,
        },
    }
