"""What the sandbox says on the wire as Meta would: send-request checks, error bodies, webhooks, wamids."""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from bot.errors import CloudAPIError
from bot.settings import SANDBOX_DISPLAY_NUMBER
from bot.whatsapp.client import ERROR_CLASSES
from bot.whatsapp.message_body import (
    BUTTON_ID_MAX,
    BUTTON_TITLE_MAX,
    BUTTONS_MAX,
    CTA_TEXT_MAX,
    FLOW_CTA_MAX,
    FLOW_MESSAGE_VERSION,
    LIST_BUTTON_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_ID_MAX,
    ROW_TITLE_MAX,
    ROWS_MAX,
    SECTIONS_MAX,
    TEXT_BODY_MAX,
)

# Meta's sample business account and display number, as in the payloads of Meta's documentation.
BUSINESS_ACCOUNT_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = SANDBOX_DISPLAY_NUMBER

SEND_TYPES = (
    "text",
    "interactive",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
INTERACTIVE_TYPES = frozenset(
    {"button", "list", "cta_url", "flow", "product", "product_list", "catalog_message", "location_request_message"}
)
WA_ID = re.compile(r"[0-9]{6,15}")
_PHONE_PUNCTUATION = re.compile(r"[\s+\-().]")

# Error texts as Meta words them: https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
REENGAGEMENT = (
    131047,
    "Re-engagement message",
    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
)
THROUGHPUT = (130429, "Rate limit hit", "Cloud API message throughput has been reached.")
PAIR_RATE = (
    131056,
    "(Business Account, Consumer Account) pair rate limit hit",
    "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
)

# Sending a file by an id Meta does not know (never uploaded, deleted, or older than 30 days).
MEDIA_UNKNOWN = (131053, "Media upload error")


def graph_error(
    code: int,
    message: str,
    details: str | None = None,
    *,
    http_status: int = 400,
    error_type: str = "OAuthException",
    subcode: int | None = None,
) -> CloudAPIError:
    """The typed error for one of Meta's error answers; ``raw`` holds the exact JSON body to answer with."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    trace = fbtrace_id()
    error["fbtrace_id"] = trace
    cls = ERROR_CLASSES.get(code, CloudAPIError)
    return cls(
        message,
        error_code=code,
        subcode=subcode,
        http_status=http_status,
        details=details,
        fbtrace_id=trace,
        raw={"error": error},
    )


def invalid_parameter(message: str, details: str | None = None) -> CloudAPIError:
    """Meta's code 100, "(#100) ...", for a request it cannot read."""
    return graph_error(100, f"(#100) {message}", details)


def required(name: str) -> CloudAPIError:
    return invalid_parameter(f"The parameter {name} is required.")


def not_valid(details: str) -> CloudAPIError:
    """Meta's 131009 for a value it can read but will not accept."""
    return graph_error(131009, "(#131009) Parameter value is not valid", details)


def fbtrace_id() -> str:
    return secrets.token_urlsafe(17)[:23]


def new_wamid(*, inbound: bool) -> str:
    """A unique id shaped like Meta's: ``wamid.`` and base64 of a protobuf-like record, random throughout.

    Meta's own wamids carry the customer's number; these carry random digits instead, so that a wamid in a
    log line gives no number away.
    """
    digits = "".join(secrets.choice("0123456789") for _ in range(11)).encode()
    marker = b"\x12" if inbound else b"\x11"
    raw = b"\x1c\x18\x0b" + digits + b"\x15\x02\x00" + marker + b"\x18\x14" + secrets.token_hex(10).upper().encode()
    return "wamid." + base64.b64encode(raw + b"\x00").decode()


def normalise_wa_id(value: str) -> str | None:
    """The digits of a number as given in ``to`` ("+1 650-555-1234" → "16505551234"), or None if not one."""
    digits = _PHONE_PUNCTUATION.sub("", value)
    return digits if WA_ID.fullmatch(digits) else None


def encode(payload: dict[str, Any]) -> bytes:
    """JSON as Meta's servers write it: compact, non-ASCII and "/" escaped, so re-serialising breaks the HMAC."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


# --- requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """A message the bot asked to send, checked as Meta checks it."""

    to_input: str
    wa_id: str
    type: str
    content: Any
    context_wamid: str | None
    callback_data: str | None


@dataclass(frozen=True)
class ReadReceipt:
    """A request to mark an inbound message read, optionally with the typing indicator."""

    message_id: str
    typing: bool


def parse_send(body: Any) -> SendRequest | ReadReceipt:
    """Check a ``POST …/messages`` body; raise the ``CloudAPIError`` Meta would answer with."""
    if not isinstance(body, dict):
        raise required("messaging_product")
    product = body.get("messaging_product")
    if product is None:
        raise required("messaging_product")
    if product != "whatsapp":
        raise invalid_parameter(f"Param messaging_product must be one of {{WHATSAPP}} - got {json.dumps(product)}.")
    if "status" in body:
        return _read_receipt(body)
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise required("to")
    wa_id = normalise_wa_id(to)
    if wa_id is None:
        raise invalid_parameter("Invalid parameter", f"Invalid parameter: to {to!r} is not a phone number")
    kind = body.get("type", "text")
    if kind not in SEND_TYPES:
        raise invalid_parameter(
            f"Param type must be one of {{{', '.join(t.upper() for t in SEND_TYPES)}}} - got {json.dumps(kind)}."
        )
    content = body.get(kind)
    if content is None:
        raise required(kind)
    _check_content(kind, content)
    context = body.get("context")
    context_wamid = context.get("message_id") if isinstance(context, dict) else None
    callback = body.get("biz_opaque_callback_data")
    return SendRequest(
        to,
        wa_id,
        kind,
        content,
        context_wamid if isinstance(context_wamid, str) else None,
        callback if isinstance(callback, str) else None,
    )


def _read_receipt(body: dict[str, Any]) -> ReadReceipt:
    if body.get("status") != "read":
        raise invalid_parameter(f"Param status must be one of {{READ}} - got {json.dumps(body.get('status'))}.")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise required("message_id")
    return ReadReceipt(message_id, isinstance(body.get("typing_indicator"), dict))


def _check_content(kind: str, content: Any) -> None:
    if kind == "contacts":
        if not isinstance(content, list) or not content:
            raise required("contacts")
        return
    if not isinstance(content, dict):
        raise invalid_parameter(f"Param {kind} must be a JSON object.")
    if kind == "text":
        text = content.get("body")
        if not isinstance(text, str) or not text:
            raise required("text['body']")
        if len(text) > TEXT_BODY_MAX:
            raise invalid_parameter(f"Param text['body'] must be at most {TEXT_BODY_MAX} characters long.")
    elif kind == "template":
        if not isinstance(content.get("name"), str) or not content["name"]:
            raise required("template['name']")
        language = content.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            raise required("template['language']['code']")
    elif kind == "interactive":
        _check_interactive(content)
    elif kind in MEDIA_TYPES:
        if not content.get("id") and not content.get("link"):
            raise invalid_parameter(f"Param {kind} must have an id or a link.")
    elif kind == "location":
        if "latitude" not in content or "longitude" not in content:
            raise required("location['latitude']")
    elif kind == "reaction" and not isinstance(content.get("message_id"), str):
        raise required("reaction['message_id']")


def _check_interactive(content: dict[str, Any]) -> None:
    kind = content.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise graph_error(
            131008, "(#131008) Required parameter is missing", "interactive['type'] is missing or unknown"
        )
    action = content.get("action")
    if not isinstance(action, dict):
        raise graph_error(131008, "(#131008) Required parameter is missing", "interactive['action'] is required")
    if kind in ("button", "list", "cta_url", "location_request_message", "flow"):
        body = content.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            raise graph_error(
                131008, "(#131008) Required parameter is missing", "interactive['body']['text'] is required"
            )
    if kind == "button":
        _check_buttons(action.get("buttons"))
    elif kind == "list":
        _check_list(action)
    elif kind == "cta_url":
        _check_cta_url(action)
    elif kind == "location_request_message" and action.get("name") != "send_location":
        raise not_valid("interactive['action']['name'] must be send_location")
    elif kind == "flow":
        _check_flow(action)


def _check_cta_url(action: dict[str, Any]) -> None:
    """https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages"""
    parameters = action.get("parameters")
    if action.get("name") != "cta_url" or not isinstance(parameters, dict):
        raise not_valid("interactive['action'] must be {name: cta_url, parameters: {display_text, url}}")
    _check_field("Display text", parameters.get("display_text"), CTA_TEXT_MAX)
    url = parameters.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise not_valid("interactive['action']['parameters']['url'] must be an https:// URL")


def _check_flow(action: dict[str, Any]) -> None:
    """A Flow send: ``{name: flow, parameters}`` with the message version, a button and one way to name the Flow."""
    parameters = action.get("parameters")
    if action.get("name") != "flow" or not isinstance(parameters, dict):
        raise not_valid("A Flow message's action is {name: flow, parameters: {...}}")
    if parameters.get("flow_message_version") != FLOW_MESSAGE_VERSION:
        raise not_valid(f"flow_message_version must be {FLOW_MESSAGE_VERSION!r}")
    _check_field("flow_cta", parameters.get("flow_cta"), FLOW_CTA_MAX)
    if ("flow_id" in parameters) == ("flow_name" in parameters):
        raise not_valid("Exactly one of flow_id and flow_name is required")
    if parameters.get("flow_action", "navigate") not in ("navigate", "data_exchange"):
        raise not_valid("flow_action must be navigate or data_exchange")
    payload = parameters.get("flow_action_payload")
    if payload is not None and (not isinstance(payload, dict) or payload.get("data") == {}):
        raise not_valid("flow_action_payload is {screen, data} with data a non-empty object")


def _check_buttons(buttons: Any) -> None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS_MAX:
        raise not_valid(f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {BUTTONS_MAX}")
    ids: set[str] = set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict) or button.get("type") != "reply":
            raise not_valid("Each button must be {type: reply, reply: {id, title}}")
        _check_field("Button id", reply.get("id"), BUTTON_ID_MAX)
        _check_field("Button title", reply.get("title"), BUTTON_TITLE_MAX)
        if reply["id"] in ids:
            raise not_valid(f"Duplicate button id {reply['id']!r}; button ids must be unique")
        ids.add(reply["id"])


def _check_list(action: dict[str, Any]) -> None:
    _check_field("List button label", action.get("button"), LIST_BUTTON_MAX)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= SECTIONS_MAX:
        raise not_valid(f"Invalid sections count. Min allowed sections: 1, Max allowed sections: {SECTIONS_MAX}")
    ids: set[str] = set()
    for section in sections:
        rows = section.get("rows") if isinstance(section, dict) else None
        if not isinstance(rows, list) or not rows:
            raise not_valid("Each section must have at least one row")
        for row in rows:
            if not isinstance(row, dict):
                raise not_valid("Each row must be {id, title, description?}")
            _check_field("Row id", row.get("id"), ROW_ID_MAX)
            _check_field("Row title", row.get("title"), ROW_TITLE_MAX)
            if "description" in row:
                _check_field("Row description", row["description"], ROW_DESCRIPTION_MAX, minimum=0)
            if row["id"] in ids:
                raise not_valid(f"Duplicate row id {row['id']!r}; row ids must be unique")
            ids.add(row["id"])
    if len(ids) > ROWS_MAX:
        raise not_valid(f"Invalid rows count. Max allowed rows: {ROWS_MAX}")


def _check_field(name: str, value: Any, maximum: int, *, minimum: int = 1) -> None:
    if not isinstance(value, str) or len(value) < minimum:
        raise not_valid(f"{name} is required")
    if len(value) > maximum:
        raise not_valid(f"{name} length is too long. Max length allowed: {maximum}")


# --- webhooks ---------------------------------------------------------------------------------------


def webhook(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """One notification envelope carrying one ``messages`` change."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": BUSINESS_ACCOUNT_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def status_webhook(
    phone_number_id: str,
    *,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    pricing: dict[str, object] | None,
    callback_data: str | None,
) -> dict[str, Any]:
    """A ``statuses[]`` notification as API v24+ sends it (no ``conversation`` object under PMP)."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": recipient_id}
    if pricing is not None:
        item["pricing"] = pricing
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    return webhook(phone_number_id, {"statuses": [item]})


def inbound_webhook(phone_number_id: str, *, name: str, wa_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """A customer's message as Meta delivers it: the contact beside the ``messages[]`` entry."""
    return webhook(
        phone_number_id,
        {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]},
    )
