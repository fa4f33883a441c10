"""A WhatsApp Flow's answer: `interactive.nfm_reply.response_json`, a JSON text read safely into its fields.

Meta sends what the customer submitted as a JSON *string* inside the webhook's JSON: the Flow's `complete`
payload plus the `flow_token` the send carried. The customer's phone writes it, so it is read like any
stranger's body: bounded in size and depth before it is decoded, decoded strictly (`storable_json`), and
required to be an object whose `flow_token` is a string. Whatever fails is a `FlowReply` with an `error`,
never an exception: the webhook still stores the message, and the flow re-prompts.
https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/guides/receiveflowresponse
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.whatsapp import storable_json

MAX_CHARS = 64 * 1024  # a Flow's form is a few fields; Meta's payload limit is far above any honest answer
MAX_DEPTH = 8  # a form's answers are flat, or lists of ids: a little nesting, never a tower
MAX_FIELDS = 200


@dataclass(frozen=True)
class FlowReply:
    """The answer read: the token the send carried and the fields, or why it could not be read."""

    token: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_reply(response_json: Any) -> FlowReply:
    """Read `response_json` (the text Meta sends); never raises."""
    if not isinstance(response_json, str):
        return FlowReply(error="response_json is not a text")
    if len(response_json) > MAX_CHARS:
        return FlowReply(error=f"response_json is {len(response_json)} characters; at most {MAX_CHARS} are read")
    depth = _depth(response_json)
    if depth > MAX_DEPTH:
        return FlowReply(error=f"response_json is nested {depth} deep; at most {MAX_DEPTH} is read")
    try:
        data = storable_json.loads(response_json)
    except (ValueError, RecursionError) as exc:
        return FlowReply(error=f"response_json is not JSON: {str(exc)[:120]}")
    if not isinstance(data, dict):
        return FlowReply(error="response_json is not a JSON object")
    token = data.pop("flow_token", None)
    if not isinstance(token, str) or not token:
        return FlowReply(error="response_json has no flow_token")
    if len(data) > MAX_FIELDS:
        return FlowReply(token, error=f"response_json has {len(data)} fields; at most {MAX_FIELDS} are read")
    return FlowReply(token, data)


def nfm_reply(body: Mapping[str, Any] | None) -> FlowReply | None:
    """The Flow answer a stored inbound message body carries, or None when it is not one."""
    interactive = (body or {}).get("interactive")
    if not isinstance(interactive, dict) or interactive.get("type") != "nfm_reply":
        return None
    reply = interactive.get("nfm_reply")
    return read_reply(reply.get("response_json") if isinstance(reply, dict) else None)


def answers_text(reply: FlowReply) -> str:
    """The answer in one line for people (the dashboard, `bot chat`): ``rating: 5 · comment: Great``."""
    if reply.error is not None:
        return f"Form answer not readable: {reply.error}"
    shown = []
    for name, value in reply.fields.items():
        if isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        shown.append(f"{name}: {text[:200]}")
    return "Form answers: " + (" · ".join(shown) if shown else "none")


def _depth(text: str) -> int:
    """How deeply `text` nests arrays and objects, strings skipped: checked before decoding, in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
