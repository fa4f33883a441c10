"""Specification of ``bot.whatsapp.message_shape``: what each message type's object must hold to be read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.whatsapp.message_shape import fault
from bot.whatsapp.webhook_parser import Notice, parse_payload
from tests.whatsapp.test_webhook_parser import FIRST, PAYLOADS, SHEENA, first_value, load


def _set(*path: str, to: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets the key at `path` (under the message) to `to`."""

    def edit(message: dict[str, Any]) -> None:
        node = message
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = to

    return edit


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    """An edit that removes the key at `path` (under the message)."""

    def edit(message: dict[str, Any]) -> None:
        node = message
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


BROKEN = [
    ("text.json", _drop("text"), "missing 'text'"),
    ("text.json", _set("text", to="hello"), "'text' must be an object, got str"),
    ("text.json", _drop("text", "body"), "missing 'text.body'"),
    ("text.json", _set("text", "body", to=7), "'text.body' must be a string, got int"),
    ("text.json", _set("text", "body", to=None), "'text.body' must be a string, got null"),
    ("image.json", _drop("image", "id"), "missing 'image.id'"),
    ("image.json", _set("image", "caption", to=["a"]), "'image.caption' must be a string, got list"),
    ("document.json", _set("document", "filename", to={}), "'document.filename' must be a string, got object"),
    ("button.json", _set("button", "text", to=[[]]), "'button.text' must be a string, got list"),
    ("button.json", _set("button", "payload", to=1), "'button.payload' must be a string, got int"),
    ("location.json", _set("location", "latitude", to="37.4"), "'location.latitude' must be a number, got str"),
    ("location.json", _set("location", "longitude", to=True), "'location.longitude' must be a number, got bool"),
    ("location.json", _drop("location", "latitude"), "missing 'location.latitude'"),
    ("reaction.json", _drop("reaction", "message_id"), "missing 'reaction.message_id'"),
    ("reaction.json", _set("reaction", "emoji", to=None), "'reaction.emoji' must be a string, got null"),
    ("interactive_button_reply.json", _drop("interactive", "type"), "missing 'interactive.type'"),
    (
        "interactive_button_reply.json",
        _set("interactive", "button_reply", to="menu"),
        "'interactive.button_reply' must be an object, got str",
    ),
    (
        "interactive_button_reply.json",
        _drop("interactive", "button_reply", "id"),
        "missing 'interactive.button_reply.id'",
    ),
    (
        "interactive_list_reply.json",
        _set("interactive", "list_reply", "title", to=[]),
        "'interactive.list_reply.title' must be a string, got list",
    ),
    (
        "interactive_nfm_reply.json",
        _set("interactive", "nfm_reply", "response_json", to={"a": 1}),
        "'interactive.nfm_reply.response_json' must be a string, got object",
    ),
    ("contacts.json", _set("contacts", to={}), "'contacts' must be a list, got object"),
    ("order.json", _set("order", to=[]), "'order' must be an object, got list"),
    ("system_user_changed_number.json", _drop("system"), "missing 'system'"),
]


@pytest.mark.parametrize(("sample", "edit", "reason"), BROKEN, ids=[r for _, _, r in BROKEN])
def test_a_known_type_with_a_broken_object_is_a_notice_saying_what(
    sample: str, edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    """A message of a known type whose object lacks or mistypes what is read is its sender's notice, not a message."""
    payload = load(sample)
    message = first_value(payload)["messages"][0]
    edit(message)
    parsed = parse_payload(payload)
    assert parsed.messages == []
    assert parsed.notices == [Notice("messages", "unparsed", f"{FIRST}.messages[0]: {reason}", message, SHEENA)]


def test_a_reason_names_types_never_values() -> None:
    """What the customer wrote never reaches a reason: a wrong value is named by its JSON type."""
    assert fault("location", {"location": {"latitude": "my home is at 5 Elm St", "longitude": 1}}) == (
        "'location.latitude' must be a number, got str"
    )


@pytest.mark.parametrize("sample", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_every_sample_message_has_a_sound_object(sample: str) -> None:
    """Every message in the sample payloads passes, so the checks refuse nothing Meta documents."""
    for entry in load(sample)["entry"]:
        for change in entry["changes"]:
            for message in change["value"].get("messages", []):
                assert fault(message["type"], message) is None


@pytest.mark.parametrize(
    "message",
    [
        {"type": "hologram", "hologram": "anything"},
        {"type": "unsupported", "errors": [{"code": 131051}]},
        {"type": "interactive", "interactive": {"type": "call_permission_reply", "call_permission_reply": 5}},
    ],
    ids=["future-type", "unsupported", "future-interactive"],
)
def test_types_not_listed_are_kept_as_they_come(message: dict[str, Any]) -> None:
    """A type (or interactive reply kind) Meta adds later is not judged: it is kept, as Meta sent it."""
    assert fault(message["type"], message) is None
