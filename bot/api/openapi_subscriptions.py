"""The event subscriptions part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import NOT_FOUND, PAGING, created, json_body, ok, query, ref
from bot.api.subscription_model import (
    Delivery,
    DeliveryPage,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
)

MODELS = (SubscriptionCreate,)  # request bodies
ANSWERS = (Subscription, SubscriptionCreated, SubscriptionPage, Delivery, DeliveryPage)  # answer bodies
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_DELIVERY = {"name": "delivery", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_STATUS = query(
    "status", "Only deliveries in this state", {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]}
)
PATHS: dict[str, Any] = {
    "/api/subscriptions": {
        "post": {
            "summary": "Send chosen events to a URL, each delivery signed (X-Bot-Signature); the secret is shown once",
            "description": "Deliveries are at least once, in order per contact, retried with exponential backoff for "
            "up to 24 hours (docs/events.md).",
            "requestBody": json_body(ref("SubscriptionCreate")),
            "responses": created(ref("SubscriptionCreated"), "The subscription, with its secret (this once)"),
        },
        "get": {
            "summary": "The subscriptions, newest first, a page at a time (never their secrets)",
            "parameters": PAGING,
            "responses": ok(ref("SubscriptionPage"), "A page of subscriptions"),
        },
    },
    "/api/subscriptions/{id}": {
        "get": {
            "summary": "One subscription, with its deliveries counted by status",
            "parameters": [_ID],
            "responses": {**ok(ref("Subscription"), "The subscription"), "404": NOT_FOUND},
        },
        "delete": {
            "summary": "Delete a subscription with its undelivered events and its delivery log",
            "parameters": [_ID],
            "responses": {**ok(ref("Subscription"), "The subscription as it was"), "404": NOT_FOUND},
        },
    },
    "/api/subscriptions/{id}/deliveries": {
        "get": {
            "summary": "The delivery log: deliveries newest first, each with its attempts",
            "parameters": [_ID, _STATUS, *PAGING],
            "responses": {**ok(ref("DeliveryPage"), "A page of deliveries"), "404": NOT_FOUND},
        }
    },
    "/api/subscriptions/{id}/deliveries/{delivery}": {
        "get": {
            "summary": "One delivery with its attempts",
            "parameters": [_ID, _DELIVERY],
            "responses": {**ok(ref("Delivery"), "The delivery"), "404": NOT_FOUND},
        }
    },
    "/api/subscriptions/{id}/deliveries/{delivery}/replay": {
        "post": {
            "summary": "Deliver an event again: a new delivery with the same event id and body, due now",
            "parameters": [_ID, _DELIVERY],
            "responses": {**created(ref("Delivery"), "The new delivery", "202"), "404": NOT_FOUND},
        }
    },
}
