"""The business-data part of the OpenAPI document: orders, appointments, accounts, notifications."""

from __future__ import annotations

from typing import Any

from bot.api.notification_model import (
    AccountAnswer,
    AccountPut,
    AppointmentBook,
    AppointmentBooked,
    AppointmentChanged,
    AppointmentPage,
    AppointmentPatch,
    BatchResults,
    NotificationBatch,
    NotificationItem,
    NotificationQueued,
    OrderAnswer,
    OrderCreate,
    OrderFields,
)
from bot.api.openapi_parts import (
    ID,
    NOT_FOUND,
    PAGING,
    WA_ID,
    answer,
    created,
    error_answer,
    json_body,
    ok,
    path,
    ref,
)

MODELS = (NotificationItem, NotificationBatch, OrderCreate, OrderFields, AppointmentBook, AppointmentPatch, AccountPut)
ANSWERS = (
    NotificationQueued,
    BatchResults,
    OrderAnswer,
    AppointmentBooked,
    AppointmentChanged,
    AppointmentPage,
    AccountAnswer,
)

PATHS: dict[str, Any] = {
    "/api/orders": {
        "post": {
            "summary": "Store an order; confirmed, shipped and delayed send their utility template",
            "description": "The contact is created if missing. Repeating an existing number answers 200 unchanged. "
            "confirmed needs total, currency, delivery_start; shipped needs delivery_start, delivery_end, "
            "tracking_number; delayed needs delivery_start and reason. Delivered and cancelled send nothing.",
            "requestBody": json_body(ref("OrderCreate")),
            "responses": {
                **created(ref("OrderAnswer"), "The order was stored"),
                **ok(ref("OrderAnswer"), "The order existed"),
            },
        }
    },
    "/api/orders/{number}": {
        "patch": {
            "summary": "Change an order's status or fields; a status change sends its template once",
            "parameters": path("number", {"type": "string", "maxLength": 64}),
            "requestBody": json_body(ref("OrderFields")),
            "responses": {**ok(ref("OrderAnswer"), "The changed order"), "404": NOT_FOUND},
        }
    },
    "/api/appointments": {
        "post": {
            "summary": "Book an appointment; its reminder is queued the lead time (default 24 h) before it",
            "requestBody": json_body(ref("AppointmentBook")),
            "responses": created(
                ref("AppointmentBooked"), "The appointment, and its reminder (null once it has begun)"
            ),
        },
        "get": {
            "summary": "A contact's appointments, newest booked first, a page at a time",
            "parameters": [{"name": "wa_id", "in": "query", "required": True, "schema": WA_ID}, *PAGING],
            "responses": ok(ref("AppointmentPage"), "A page of appointments"),
        },
    },
    "/api/appointments/{id}": {
        "patch": {
            "summary": "Reschedule (moves the reminder, sends appointment_update) or cancel (cancels the reminder)",
            "parameters": ID,
            "requestBody": json_body(ref("AppointmentPatch")),
            "responses": {
                **ok(ref("AppointmentChanged"), "The appointment and the messages the change queued or moved"),
                "404": NOT_FOUND,
            },
        }
    },
    "/api/accounts/{wa_id}": {
        "put": {
            "summary": "Set a balance; dropping below low_threshold sends account_balance_low once per crossing",
            "parameters": path("wa_id", WA_ID),
            "requestBody": json_body(ref("AccountPut")),
            "responses": ok(ref("AccountAnswer"), "The account"),
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
            "requestBody": json_body({"oneOf": [ref("NotificationItem"), ref("NotificationBatch")]}),
            "responses": {
                **created(ref("NotificationQueued"), "Queued (single form)", "202"),
                "200": answer(
                    "Batch form: one result per item, status queued, duplicate or error", ref("BatchResults")
                ),
                "409": error_answer(
                    "template_not_approved: Meta has not approved the template (pending, rejected, paused,"
                    " disabled ...); the message gives Meta's status and reason"
                ),
            },
        }
    },
}
