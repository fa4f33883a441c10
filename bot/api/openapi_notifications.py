"""The business-data part of the OpenAPI document: orders, appointments, accounts, notifications."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import NOT_FOUND, PAGING, TIME, WA_ID, created, json_body, ok, page

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
        "due_at": TIME,
        "queued": {"type": "boolean"},
    },
}
_BATCH_RESULT = {
    "type": "object",
    "required": ["index", "status"],
    "properties": {
        "index": {"type": "integer", "description": "The item's place in the request's items, from 0"},
        "status": {"enum": ["queued", "duplicate", "error"]},
        "notification": {**_QUEUED, "description": "With queued and duplicate: the message and its key"},
        "error": {
            "type": "object",
            "description": "With error: why this item was not queued (code invalid_request)",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
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
        "wa_id": WA_ID,
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


NOTIFICATION_PATHS: dict[str, Any] = {
    "/api/orders": {
        "post": {
            "summary": "Store an order; confirmed, shipped and delayed send their utility template",
            "description": "The contact is created if missing. Repeating an existing number answers 200 unchanged. "
            "confirmed needs total, currency, delivery_start; shipped needs delivery_start, delivery_end, "
            "tracking_number; delayed needs delivery_start and reason. Delivered and cancelled send nothing.",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["number", "wa_id"],
                    "properties": {
                        "number": {"type": "string", "maxLength": 64},
                        "wa_id": WA_ID,
                        "name": _TEXT,
                        **_ORDER_FIELDS,
                    },
                }
            ),
            "responses": {**created(_ORDER_ANSWER, "The order was stored"), **ok(_ORDER_ANSWER, "The order existed")},
        }
    },
    "/api/orders/{number}": {
        "patch": {
            "summary": "Change an order's status or fields; a status change sends its template once",
            "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": json_body({"type": "object", "properties": _ORDER_FIELDS}),
            "responses": {**ok(_ORDER_ANSWER, "The changed order"), "404": NOT_FOUND},
        }
    },
    "/api/appointments": {
        "post": {
            "summary": "Book an appointment; its reminder is queued the lead time (default 24 h) before it",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["wa_id", "service", "starts_at", "location"],
                    "properties": {"wa_id": WA_ID, "name": _TEXT, **_APPOINTMENT_FIELDS},
                }
            ),
            "responses": created(
                {"type": "object", "properties": {"appointment": {"type": "object"}, "reminder": _QUEUED}},
                "The appointment, and its reminder (null once it has begun)",
            ),
        },
        "get": {
            "summary": "A contact's appointments, newest booked first, a page at a time",
            "parameters": [{"name": "wa_id", "in": "query", "required": True, "schema": WA_ID}, *PAGING],
            "responses": ok(
                page({"type": "object", "properties": {"id": {"type": "integer"}}}), "A page of appointments"
            ),
        },
    },
    "/api/appointments/{id}": {
        "patch": {
            "summary": "Reschedule (moves the reminder, sends appointment_update) or cancel (cancels the reminder)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "requestBody": json_body(
                {"type": "object", "properties": {**_APPOINTMENT_FIELDS, "status": {"enum": ["booked", "cancelled"]}}}
            ),
            "responses": {
                **ok(
                    {
                        "type": "object",
                        "properties": {
                            "appointment": {"type": "object"},
                            "notifications": {"type": "array", "items": _QUEUED},
                        },
                    },
                    "The appointment and the messages the change queued or moved",
                ),
                "404": NOT_FOUND,
            },
        }
    },
    "/api/accounts/{wa_id}": {
        "put": {
            "summary": "Set a balance; dropping below low_threshold sends account_balance_low once per crossing",
            "parameters": [{"name": "wa_id", "in": "path", "required": True, "schema": WA_ID}],
            "requestBody": json_body(
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
            "responses": ok(
                {"type": "object", "properties": {"account": {"type": "object"}, "notification": _QUEUED}},
                "The account",
            ),
        }
    },
    "/api/notifications": {
        "post": {
            "summary": "Any utility template to one contact, now or at send_at; or a batch as {items: [...]}",
            "description": (
                "The batch form checks every item on its own and queues the good ones together in one"
                " transaction: each item is answered with its own result or error, in the order given. An item"
                " whose key (idempotency_key, or a digest of its content without one) was queued before, or"
                " earlier in the same batch, is answered duplicate and not queued again, so a batch may be"
                " retried whole. More than 1000 items is 400; a body over 8 MiB is 413."
            ),
            "requestBody": json_body(
                {
                    "oneOf": [
                        _NOTIFICATION,
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {"type": "array", "items": _NOTIFICATION, "minItems": 1, "maxItems": 1000}
                            },
                        },
                    ]
                }
            ),
            "responses": {
                **created({"type": "object", "properties": {"notification": _QUEUED}}, "Queued (single form)", "202"),
                "200": {
                    "description": "Batch form: one result per item, status queued, duplicate or error",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"items": {"type": "array", "items": _BATCH_RESULT}},
                            }
                        }
                    },
                },
            },
        }
    },
}
