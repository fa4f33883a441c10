"""The OpenAPI 3.1 document served at /api/openapi.json: what exists, and nothing that does not yet."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_campaigns import CAMPAIGN_PATHS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_ERRORS = {
    "400": {"description": "Invalid request", "content": {"application/json": {"schema": _ref("Error")}}},
    "401": {"description": "Missing or wrong bearer token", "content": {"application/json": {"schema": _ref("Error")}}},
    "429": {
        "description": "Too many wrong bearer tokens from this address in a minute; see Retry-After",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
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
            "marketing": {"enum": ["opt_in", "opt_out", "none"], "description": "Current state (in lists)"},
            "consent": {
                "type": "object",
                "description": "Per purpose: the current state and the append-only ledger, oldest first",
                "properties": {
                    "marketing": {
                        "type": "object",
                        "properties": {
                            "state": {"enum": ["opt_in", "opt_out", "none"]},
                            "history": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                },
            },
        },
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_CONTACT_INPUT = {
    "type": "object",
    "required": ["wa_id"],
    "properties": {
        "wa_id": {"type": "string", "description": "The number, with country code (+31 6 1234 5678 or 31612345678)"},
        "name": {"type": "string"},
        "language": {"type": "string", "pattern": "^[a-z]{2,3}(_[A-Z]{2})?$"},
        "time_zone": {"type": "string", "description": "IANA name; default: the number's, else BOT_TIMEZONE"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Added to the contact's tags"},
        "consent": {
            "type": "object",
            "properties": {
                "marketing": {"enum": ["opt_in", "opt_out"]},
                "evidence": {
                    "type": "string",
                    "description": "Where and how the customer agreed (required for opt_in)",
                },
                "at": {"type": "string", "format": "date-time"},
            },
        },
    },
}
_CSV_IMPORT = {
    "type": "string",
    "description": "Header row naming some of: wa_id or phone (required), name, language, time_zone, tags (a;b), "
    "marketing (opt_in, opt_out, yes, no or empty), consent_evidence, consent_at",
}
_IMPORT_REPORT = {
    "type": "object",
    "properties": {
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
_CONTACTS_PATH = {
    "post": {
        "summary": "Add or update one contact (JSON), or import many (text/csv) with consent columns",
        "parameters": [_query("region", "Country for numbers written without a country code", {"type": "string"})],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _CONTACT_INPUT}, "text/csv": {"schema": _CSV_IMPORT}},
        },
        "responses": {
            "200": {
                "description": "CSV: what was imported and each rejected row with its line; JSON: the updated contact",
                "content": {"application/json": {"schema": {"oneOf": [_IMPORT_REPORT, _ref("Contact")]}}},
            },
            "201": {"description": "The new contact", "content": {"application/json": {"schema": _ref("Contact")}}},
            **_ERRORS,
        },
    },
    "get": {
        "summary": "Contacts newest first, with their marketing consent state",
        "parameters": [
            _query("q", "Part of the name or number", {"type": "string"}),
            _query("tag", "Only contacts with this tag", {"type": "string"}),
            *_PAGING,
        ],
        "responses": _ok(_list_of("Contact"), "A page of contacts"),
    },
}
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


_AMOUNT = {"type": ["string", "number"], "description": 'Decimal amount, e.g. "84.90"'}
_CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 255}
_ZONED = {"type": "string", "format": "date-time", "description": "ISO 8601 with a UTC offset"}
_QUEUED = {
    "type": ["object", "null"],
    "description": "The utility message the call queued; queued=false when its key was already queued",
    "properties": {
        "template": {"type": "string"},
        "key": {"type": "string"},
        "due_at": _TIME,
        "queued": {"type": "boolean"},
    },
}
_ORDER_FIELDS = {
    "status": {"enum": ["placed", "confirmed", "shipped", "delayed", "delivered", "cancelled"]},
    "items": {"type": "array"},
    "total": _AMOUNT,
    "currency": _CURRENCY,
    "delivery_start": _ZONED,
    "delivery_end": _ZONED,
    "tracking_number": _TEXT,
    "reason": {**_TEXT, "description": "Why a delayed order is late (order_delayed's reason)"},
}
_ORDER_ANSWER = {"type": "object", "properties": {"order": {"type": "object"}, "notification": _QUEUED}}
_NOT_FOUND = {"description": "Unknown record", "content": {"application/json": {"schema": _ref("Error")}}}
_APPOINTMENT_FIELDS = {
    "service": _TEXT,
    "starts_at": _ZONED,
    "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
    "location": _TEXT,
}
_NOTIFICATION = {
    "type": "object",
    "required": ["wa_id", "template"],
    "properties": {
        "wa_id": _WA_ID,
        "template": {"type": "string", "description": "A utility template's name"},
        "parameters": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "send_at": {**_ZONED, "description": "When to send; absent or past means now"},
        "idempotency_key": {"type": "string", "description": "Without one, identical content is queued once"},
        "language": {"type": "string"},
        "urgent": {
            "type": "boolean",
            "default": False,
            "description": "Send even in quiet hours (BOT_QUIET_HOURS), e.g. a payment the customer waits for",
        },
    },
}


def _created(schema: dict[str, Any], description: str, status: str = "201") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}, **_ERRORS}


_BUSINESS_PATHS: dict[str, Any] = {
    "/api/orders": {
        "post": {
            "summary": "Store an order; confirmed, shipped and delayed send their utility template",
            "description": "The contact is created if missing. Repeating an existing number answers 200 unchanged. "
            "confirmed needs total, currency, delivery_start; shipped needs delivery_start, delivery_end, "
            "tracking_number; delayed needs delivery_start and reason. Delivered and cancelled send nothing.",
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["number", "wa_id"],
                    "properties": {
                        "number": {"type": "string", "maxLength": 64},
                        "wa_id": _WA_ID,
                        "name": _TEXT,
                        **_ORDER_FIELDS,
                    },
                }
            ),
            "responses": {**_created(_ORDER_ANSWER, "The order was stored"), **_ok(_ORDER_ANSWER, "The order existed")},
        }
    },
    "/api/orders/{number}": {
        "patch": {
            "summary": "Change an order's status or fields; a status change sends its template once",
            "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": _json_body({"type": "object", "properties": _ORDER_FIELDS}),
            "responses": {**_ok(_ORDER_ANSWER, "The changed order"), "404": _NOT_FOUND},
        }
    },
    "/api/appointments": {
        "post": {
            "summary": "Book an appointment; its reminder is queued the lead time (default 24 h) before it",
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["wa_id", "service", "starts_at", "location"],
                    "properties": {"wa_id": _WA_ID, "name": _TEXT, **_APPOINTMENT_FIELDS},
                }
            ),
            "responses": _created(
                {"type": "object", "properties": {"appointment": {"type": "object"}, "reminder": _QUEUED}},
                "The appointment, and its reminder (null once it has begun)",
            ),
        },
        "get": {
            "summary": "A contact's appointments, soonest first",
            "parameters": [{"name": "wa_id", "in": "query", "required": True, "schema": _WA_ID}],
            "responses": _ok({"type": "object", "properties": {"items": {"type": "array"}}}, "The appointments"),
        },
    },
    "/api/appointments/{id}": {
        "patch": {
            "summary": "Reschedule (moves the reminder, sends appointment_update) or cancel (cancels the reminder)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "requestBody": _json_body(
                {"type": "object", "properties": {**_APPOINTMENT_FIELDS, "status": {"enum": ["booked", "cancelled"]}}}
            ),
            "responses": {
                **_ok(
                    {
                        "type": "object",
                        "properties": {
                            "appointment": {"type": "object"},
                            "notifications": {"type": "array", "items": _QUEUED},
                        },
                    },
                    "The appointment and the messages the change queued or moved",
                ),
                "404": _NOT_FOUND,
            },
        }
    },
    "/api/accounts/{wa_id}": {
        "put": {
            "summary": "Set a balance; dropping below low_threshold sends account_balance_low once per crossing",
            "parameters": [{"name": "wa_id", "in": "path", "required": True, "schema": _WA_ID}],
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["balance"],
                    "properties": {
                        "balance": _AMOUNT,
                        "currency": {**_CURRENCY, "description": "Required when the account is new"},
                        "low_threshold": {"type": ["string", "number", "null"]},
                        "account_name": _TEXT,
                        "name": _TEXT,
                    },
                }
            ),
            "responses": _ok(
                {"type": "object", "properties": {"account": {"type": "object"}, "notification": _QUEUED}},
                "The account",
            ),
        }
    },
    "/api/notifications": {
        "post": {
            "summary": "Any utility template to one contact, now or at send_at; or a batch as {items: [...]}",
            "requestBody": _json_body(
                {
                    "oneOf": [
                        _NOTIFICATION,
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": _NOTIFICATION, "maxItems": 1000}},
                        },
                    ]
                }
            ),
            "responses": {
                **_created({"type": "object", "properties": {"notification": _QUEUED}}, "Queued (single form)", "202"),
                "200": {
                    "description": "Batch form: one result per item, status queued, duplicate or error",
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array"}}}}
                    },
                },
            },
        }
    },
}


_SCHEDULE_FIELDS = {
    "name": {"type": "string", "maxLength": 128, "description": "Unique among schedules"},
    "cron": {
        "type": "string",
        "maxLength": 128,
        "description": "Five cron fields (minute hour day-of-month month day-of-week) or @hourly, @daily, "
        "@weekly, @monthly, @yearly; read in `timezone`, daylight-saving changes as in Debian cron",
        "examples": ["0 9 * * MON-FRI"],
    },
    "timezone": {"type": "string", "maxLength": 64, "description": "IANA time zone", "examples": ["Europe/Amsterdam"]},
    "template": {"type": "string", "description": "A utility template's name"},
    "language": {"type": ["string", "null"], "description": "The template's language (default: the library's)"},
    "parameters": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number"]},
        "description": "A value for every variable of the template",
    },
    "wa_ids": {"type": "array", "items": _WA_ID, "minItems": 1, "maxItems": 1000, "uniqueItems": True},
}
_SCHEDULE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        **_SCHEDULE_FIELDS,
        "active": {"type": "boolean"},
        "next_run_at": _OPT_TIME,
        "last_run_at": {**_OPT_TIME, "description": "The occurrence that ran last"},
        "next_runs": {"type": "array", "items": _TIME, "description": "The next 3 runs (none once inactive)"},
        "created_at": _TIME,
        "updated_at": _TIME,
    },
}
_SCHEDULE_RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "scheduled_for": {**_TIME, "description": "The occurrence this run is for; each runs once"},
        "queued": {"type": "integer", "description": "Messages queued, one per recipient"},
        "created_at": _TIME,
    },
}
_SCHEDULE_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
_SCHEDULE_PATHS: dict[str, Any] = {
    "/api/schedules": {
        "post": {
            "summary": "A recurring utility notification: a template to a list of numbers, on a cron schedule",
            "description": "Each occurrence runs once, also across instances, queueing one message per number. "
            "After downtime only the latest missed occurrence is sent. A schedule whose template or values stop "
            "fitting is deactivated.",
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["name", "cron", "timezone", "template", "wa_ids"],
                    "properties": _SCHEDULE_FIELDS,
                }
            ),
            "responses": {
                **_created(_SCHEDULE, "The schedule, with its next 3 runs"),
                "409": {"description": "The name is taken", "content": {"application/json": {"schema": _ref("Error")}}},
            },
        },
        "get": {
            "summary": "Every schedule, oldest first",
            "responses": _ok(
                {"type": "object", "properties": {"items": {"type": "array", "items": _SCHEDULE}}}, "The schedules"
            ),
        },
    },
    "/api/schedules/{id}": {
        "get": {
            "summary": "One schedule with its latest runs, newest first",
            "parameters": _SCHEDULE_ID,
            "responses": {
                **_ok(
                    {
                        "allOf": [
                            _SCHEDULE,
                            {"properties": {"runs": {"type": "array", "items": _SCHEDULE_RUN, "maxItems": 20}}},
                        ]
                    },
                    "The schedule",
                ),
                "404": _NOT_FOUND,
            },
        },
        "delete": {
            "summary": "Deactivate a schedule (idempotent); it stays readable with its runs",
            "description": "Messages of its latest run that are still queued are cancelled.",
            "parameters": _SCHEDULE_ID,
            "responses": {**_ok(_SCHEDULE, "The deactivated schedule"), "404": _NOT_FOUND},
        },
    },
}

_TEMPLATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "language": {"type": "string"},
        "category": {"enum": ["service", "utility", "authentication", "marketing"]},
        "variables": {"type": "array", "items": {"type": "string"}},
        "blocked": {
            "type": ["object", "null"],
            "description": "Set when Meta refused the template (132000, 132001, 132015, 132016): it is not used",
            "properties": {
                "error_code": {"type": ["integer", "null"]},
                "reason": {"type": "string"},
                "blocked_at": _TIME,
            },
        },
    },
}
_TEMPLATE_PATHS: dict[str, Any] = {
    "/api/templates": {
        "get": {
            "summary": "The message templates, each with its category and whether Meta's refusal blocked it",
            "responses": _ok(
                {"type": "object", "properties": {"items": {"type": "array", "items": _TEMPLATE}}}, "The templates"
            ),
        }
    },
    "/api/templates/{name}/unblock": {
        "post": {
            "summary": "Use a template Meta refused again, once it is fixed in WhatsApp Manager",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"language": {"type": "string", "description": "Omit for every language"}},
                        }
                    }
                },
            },
            "responses": {
                **_ok(
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "language": {"type": ["string", "null"]},
                            "unblocked": {"type": "integer", "description": "How many blocks were lifted"},
                        },
                    },
                    "What was lifted",
                ),
                "404": _NOT_FOUND,
            },
        }
    },
}

_WA_ID_PATH = [{"name": "wa_id", "in": "path", "required": True, "schema": _WA_ID}]
_HANDOFF_PATHS: dict[str, Any] = {
    "/api/handoffs": {
        "get": {
            "summary": "The handoff inbox: contacts a flow handed to a person, longest-waiting first",
            "responses": _ok(
                {
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"wa_id": _WA_ID, "name": {"type": ["string", "null"]}, "since": _TIME},
                            },
                        }
                    },
                },
                "The inbox",
            ),
        }
    },
    "/api/conversations/{wa_id}/reply": {
        "post": {
            "summary": "An agent's free-form reply; refused (409) outside the 24-hour customer service window",
            "parameters": _WA_ID_PATH,
            "requestBody": _json_body(
                {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 4096}}}
            ),
            "responses": {
                **_created(
                    {"type": "object", "properties": {"queued": {"type": "boolean"}, "window_closes_at": _TIME}},
                    "Queued",
                    "202",
                ),
                "404": _NOT_FOUND,
                "409": {
                    "description": "The service window is closed: send a template",
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        }
    },
    "/api/conversations/{wa_id}/release": {
        "post": {
            "summary": "Give a handed-off conversation back to the bot",
            "parameters": _WA_ID_PATH,
            "responses": {
                **_ok(
                    {"type": "object", "properties": {"wa_id": _WA_ID, "released": {"type": "boolean"}}},
                    "Whether it was handed off",
                ),
                "404": _NOT_FOUND,
            },
        }
    },
}


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
_STATS_PATHS: dict[str, Any] = {
    "/api/stats": {
        "get": {
            "summary": "Conversations, messages and estimated cost by UTC day and category, in [from, to)",
            "description": "Days until 2025-06-30 are priced per conversation (CBP), later days per delivered "
            "message (PMP), from the rate card in BOT_RATE_CARD. Meta's pricing in status webhooks decides over "
            "the estimate. At most 366 days at a time.",
            "parameters": [
                {**_query("from", "First UTC day (YYYY-MM-DD)", _DAY), "required": True},
                {**_query("to", "Day after the last (YYYY-MM-DD, exclusive)", _DAY), "required": True},
            ],
            "responses": _ok(
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
            "/api/contacts": _CONTACTS_PATH,
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
            **_BUSINESS_PATHS,
            **_SCHEDULE_PATHS,
            **_TEMPLATE_PATHS,
            **_HANDOFF_PATHS,
            **_STATS_PATHS,
            **CAMPAIGN_PATHS,
        },
    }
