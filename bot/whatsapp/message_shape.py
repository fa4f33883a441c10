"""What a message of each type Meta documents must carry in its type object, checked before it is read.

A message of a known type whose object is missing or broken (a `text` without a string `body`, a button
reply without its id, a location without numbers) is not a message the flows can answer: the parser keeps
it as a notice instead. Types not listed here are kept as they come, since Meta adds types without notice.
Reasons name keys and JSON types only, never the values, so no customer text reaches a reason.
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
"""

from __future__ import annotations

from typing import Any

_TEXT = "a string"
_NUMBER = "a number"

# For each type: its object's keys that are read, what each must be, and whether it must be there.
_MEDIA = {"id": (_TEXT, True), "caption": (_TEXT, False), "mime_type": (_TEXT, False)}
_OBJECTS: dict[str, dict[str, tuple[str, bool]]] = {
    "text": {"body": (_TEXT, True)},
    "image": _MEDIA,
    "video": _MEDIA,
    "audio": _MEDIA,
    "document": _MEDIA | {"filename": (_TEXT, False)},
    "sticker": _MEDIA,
    "button": {"text": (_TEXT, False), "payload": (_TEXT, False)},
    "location": {
        "latitude": (_NUMBER, True),
        "longitude": (_NUMBER, True),
        "name": (_TEXT, False),
        "address": (_TEXT, False),
    },
    "reaction": {"message_id": (_TEXT, True), "emoji": (_TEXT, False)},  # an empty emoji: the reaction removed
    "interactive": {"type": (_TEXT, True)},
    "order": {},
    "system": {},
}
# The replies inside an `interactive` object whose keys are read; other kinds are kept as they come.
_REPLIES: dict[str, dict[str, tuple[str, bool]]] = {
    "button_reply": {"id": (_TEXT, True), "title": (_TEXT, False)},
    "list_reply": {"id": (_TEXT, True), "title": (_TEXT, False), "description": (_TEXT, False)},
    "nfm_reply": {"body": (_TEXT, False), "response_json": (_TEXT, False)},
}


def fault(kind: str, message: dict[str, Any]) -> str | None:
    """Say what is wrong with the type object of `message` (of type `kind`), or None if it can be read."""
    if kind == "contacts":  # shared contact cards: a list, kept whole
        cards = message.get(kind)
        return None if isinstance(cards, list) else _wrong(kind, "a list", cards, kind in message)
    keys = _OBJECTS.get(kind)
    if keys is None:
        return None
    body = message.get(kind)
    if not isinstance(body, dict):
        return _wrong(kind, "an object", body, kind in message)
    problem = _keys_fault(kind, body, keys)
    if problem is None and kind == "interactive":
        sub = body["type"]
        reply_keys = _REPLIES.get(sub)
        if reply_keys is not None:
            reply, path = body.get(sub), f"interactive.{sub}"
            if not isinstance(reply, dict):
                return _wrong(path, "an object", reply, sub in body)
            problem = _keys_fault(path, reply, reply_keys)
    return problem


def _keys_fault(path: str, body: dict[str, Any], keys: dict[str, tuple[str, bool]]) -> str | None:
    """The first key of `body` that is missing though required, or present but of the wrong JSON type."""
    for key, (expected, required) in keys.items():
        if key not in body:
            if required:
                return f"missing '{path}.{key}'"
            continue
        value = body[key]
        if not (_is_number(value) if expected is _NUMBER else isinstance(value, str)):
            return _wrong(f"{path}.{key}", expected, value, True)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wrong(path: str, expected: str, value: Any, present: bool) -> str:
    """Say that `path` is missing, or is not what it must be, naming only the JSON type it had."""
    if not present:
        return f"missing '{path}'"
    kind = "null" if value is None else "object" if isinstance(value, dict) else type(value).__name__
    return f"'{path}' must be {expected}, got {kind}"


def shared_location(body: Any) -> dict[str, Any] | None:
    """A stored message's shared location as ``{latitude, longitude, name?, address?}``; None if it has none."""
    found = body.get("location") if isinstance(body, dict) else None
    if not isinstance(found, dict) or any(not _is_number(found.get(k)) for k in ("latitude", "longitude")):
        return None
    place: dict[str, Any] = {k: float(found[k]) for k in ("latitude", "longitude")}
    place |= {k: found[k] for k in ("name", "address") if isinstance(found.get(k), str) and found[k]}
    return place
