"""Read Meta's webhook notification bodies into plain values, keeping whatever cannot be read as notices.

Why one module of about 500 lines: every shape Meta posts (a dozen message types, statuses, user
preferences, system changes) is read by the same envelope walk into the same notices for what cannot
be read; one reader keeps "nothing is dropped unseen" checkable in one place. (What each message type's
object must hold is `bot.whatsapp.message_shape`'s; the business account's lifecycle changes are read by
`bot.whatsapp.lifecycle`.)

Only the envelope can refuse a body: a JSON object whose `entry` is a list. Below it, an entry, a change or
an item that cannot be read becomes an "unparsed" notice naming its path and why, and everything else is
still read: one bad item must not cost the good ones their answer, nor make Meta retry the whole POST.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.errors import MalformedPayload
from bot.whatsapp import lifecycle, message_shape, storable_json
from bot.whatsapp.flow_reply import nfm_reply
from storage.lifecycle import Report

# Change fields whose values we read item by item, and the value keys each may carry. Any other key in
# such a value, and any other field, is kept whole as a "field" notice: Meta adds fields without notice.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference
_VALUE_KEYS: dict[str, frozenset[str]] = {
    "messages": frozenset({"messaging_product", "metadata", "contacts", "messages", "statuses", "errors"}),
    "user_preferences": frozenset({"messaging_product", "metadata", "contacts", "user_preferences", "errors"}),
}
_MAX_ID = 10**30  # larger "ids" are noise, and str() of a huge int can raise
# The longest identifiers read, as storage keeps them: a wa_id is E.164 digits (at most 15), wamids and
# business-scoped user ids are well under 128 characters. Anything longer is not an id of Meta's.
_WA_ID_LENGTH = 20
_ID_LENGTH = 128
_WAMID = f"a string of 1 to {_ID_LENGTH} characters"
_PHONE = f"a phone number of 1 to {_WA_ID_LENGTH} characters"
_USER = f"a user id of 1 to {_ID_LENGTH} characters"

_T = TypeVar("_T")


@dataclass(frozen=True)
class ContactInfo:
    """A sender as listed in ``value.contacts[]``."""

    wa_id: str | None
    user_id: str | None
    name: str | None
    username: str | None


@dataclass(frozen=True)
class InboundMessage:
    """One entry of ``value.messages[]``, with the sender's contact details joined in."""

    wamid: str
    wa_id: str | None
    user_id: str | None
    profile_name: str | None
    phone_number_id: str | None
    timestamp: datetime
    type: str
    text: str | None
    reply_id: str | None
    context_wamid: str | None
    referral: dict[str, Any] | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class StatusUpdate:
    """One entry of ``value.statuses[]``: what happened to a message we sent."""

    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None
    phone_number_id: str | None
    pricing: dict[str, Any] | None
    conversation: dict[str, Any] | None
    errors: list[dict[str, Any]]
    biz_opaque_callback_data: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class UserPreference:
    """One entry of ``value.user_preferences[]``: a user stopped or resumed a category of messages."""

    wa_id: str | None
    user_id: str | None
    category: str
    value: str
    detail: str | None
    timestamp: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """Something to store though not acted on: an error, a field we do not read, or an unreadable item."""

    field: str
    kind: str
    reason: str | None
    raw: dict[str, Any]
    wa_id: str | None = None  # whose it is, when an unreadable item names them: so erasure finds it


@dataclass(frozen=True)
class ParsedPayload:
    """Everything one webhook body carried, in delivery order within each list."""

    contacts: list[ContactInfo]
    messages: list[InboundMessage]
    statuses: list[StatusUpdate]
    preferences: list[UserPreference]
    notices: list[Notice]
    object: str | None = None
    lifecycle: list[Report] = field(default_factory=list)  # the business account's own changes


@dataclass(frozen=True)
class _Senders:
    """A value's contacts, indexed for joining messages to them."""

    by_wa_id: dict[str, ContactInfo]
    by_user_id: dict[str, ContactInfo]
    sole: ContactInfo | None

    def match(self, wa_id: str | None, user_id: str | None) -> ContactInfo | None:
        """Return the contact a message came from, falling back to the only contact listed."""
        if wa_id is not None and (found := self.by_wa_id.get(wa_id)) is not None:
            return found
        if user_id is not None and (found := self.by_user_id.get(user_id)) is not None:
            return found
        return self.sole


def parse_payload(data: bytes | str | Any) -> ParsedPayload:
    """Parse a webhook body; raise ``MalformedPayload`` only when the envelope itself is unreadable.

    The envelope is a JSON object whose ``entry`` is a list; whatever inside it cannot be read is a notice.
    """
    body = _decode(data)
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayload(_misfit(body, "entry", "a list", ""))
    obj = body.get("object")
    out = ParsedPayload([], [], [], [], [], obj if isinstance(obj, str) else None)
    for ei, entry in enumerate(entries):
        _parse_entry(entry, f"entry[{ei}]", out)
    return out


_PATH = re.compile(r"entry\[\d+\](?:\.[a-z_]+(?:\[\d+\])?)*")


def unreadable_paths(parsed: ParsedPayload) -> list[str]:
    """Where each part that could not be read was, as JSON paths (``entry[1].changes[0]``), in order.

    Paths only: safe to log, where a reason may quote a value the customer sent.
    """
    found = (_PATH.match(n.reason or "") for n in parsed.notices if n.kind == "unparsed")
    return [m.group() for m in found if m is not None]


def _decode(data: Any) -> dict[str, Any]:
    """Turn raw bytes or text into a JSON object, or check that an already decoded body is one."""
    if isinstance(data, bytes | bytearray | str):
        try:
            # Bytes are UTF-8 or nothing: json.loads would also take UTF-16 and UTF-32, which Meta never sends.
            data = storable_json.loads(data if isinstance(data, str) else bytes(data).decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise MalformedPayload(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload(_wrong("body", "a JSON object", data))
    return data


def _misfit(parent: dict[str, Any], key: str, expected: str, path: str) -> str:
    """Say why ``parent[key]``, which the walk needs, cannot be read: absent, or not what it must be."""
    if key not in parent:
        return f"{path}: missing '{key}'" if path else f"missing '{key}'"
    return _wrong(f"{path}.{key}" if path else key, expected, parent[key])


def _parse_entry(entry: Any, path: str, out: ParsedPayload) -> None:
    """Read one ``entry[]`` item's changes into ``out``; an entry without a list of them is a notice."""
    if not isinstance(entry, dict):
        out.notices.append(Notice("", "unparsed", _wrong(path, "an object", entry), _raw(entry)))
        return
    changes = entry.get("changes")
    if not isinstance(changes, list):
        out.notices.append(Notice("", "unparsed", _misfit(entry, "changes", "a list", path), entry))
        return
    for ci, change in enumerate(changes):
        _parse_change(change, f"{path}.changes[{ci}]", out, entry)


def _parse_change(change: Any, path: str, out: ParsedPayload, entry: dict[str, Any]) -> None:
    """Read one ``changes[]`` item into ``out``; a change without an object for its value is a notice."""
    if not isinstance(change, dict):
        out.notices.append(Notice("", "unparsed", _wrong(path, "an object", change), _raw(change)))
        return
    name, value = change.get("field"), change.get("value")
    if not isinstance(value, dict):
        field = name if isinstance(name, str) else ""
        out.notices.append(Notice(field, "unparsed", _misfit(change, "value", "an object", path), change))
        return
    if not isinstance(name, str):
        out.notices.append(Notice("", "unparsed", f"{path}: {_bad(change, 'field', 'a string')}", change))
    elif name in _VALUE_KEYS:
        _parse_value(name, value, f"{path}.value", out)
    elif name in lifecycle.KINDS:
        got = lifecycle.read_change(name, value, _id(entry.get("id")), lifecycle.entry_time(entry))
        if isinstance(got, str):
            out.notices.append(Notice(name, "unparsed", f"{path}.value: {got}", value))
        else:
            out.lifecycle.append(got)
    else:
        out.notices.append(Notice(name, "field", None, value))


def _parse_value(name: str, value: dict[str, Any], path: str, out: ParsedPayload) -> None:
    """Read the contacts, messages, statuses, preferences and errors of one value we understand."""
    lists = _Lists(value, name, path, out)
    metadata = value.get("metadata")
    phone_number_id = _id(metadata.get("phone_number_id")) if isinstance(metadata, dict) else None
    contacts: list[ContactInfo] = []
    lists.read("contacts", _read_contact, contacts)
    out.contacts.extend(contacts)
    if name == "messages":
        senders = _senders(contacts)
        read_before = len(out.messages)
        lists.read("messages", lambda item: _read_message(item, phone_number_id, senders), out.messages)
        out.notices.extend(_flow_reply_faults(name, out.messages[read_before:]))
        lists.read("statuses", lambda item: _read_status(item, phone_number_id), out.statuses)
    else:
        lists.read("user_preferences", _read_preference, out.preferences)
    lists.read("errors", lambda item: _read_error(item, name), out.notices)
    if not value.keys() <= _VALUE_KEYS[name]:
        out.notices.append(Notice(name, "field", f"{path}: unknown keys {_unknown_keys(value, name)}", value))


class _Lists:
    """Reads the lists of one change's value, turning what cannot be read into "unparsed" notices."""

    __slots__ = ("_name", "_out", "_path", "_value")

    def __init__(self, value: dict[str, Any], name: str, path: str, out: ParsedPayload) -> None:
        self._value, self._name, self._path, self._out = value, name, path, out

    def read(self, key: str, read: Callable[[Any], _T | str], into: list[_T]) -> None:
        """Read each item of ``value[key]`` into ``into``; a reader answers a string to say why it cannot."""
        items = self._value.get(key)
        if items is None:
            return
        if not isinstance(items, list):
            self._unparsed(_wrong(f"{self._path}.{key}", "a list", items), {key: items})
            return
        for i, item in enumerate(items):
            got = read(item)
            if isinstance(got, str):
                self._unparsed(f"{self._path}.{key}[{i}]: {got}", _raw(item), _named(item))
            else:
                into.append(got)

    def _unparsed(self, reason: str, raw: dict[str, Any], wa_id: str | None = None) -> None:
        """Keep what could not be read, with the reason and where it was."""
        self._out.notices.append(Notice(self._name, "unparsed", reason, raw, wa_id))


def _flow_reply_faults(name: str, messages: list[InboundMessage]) -> list[Notice]:
    """A "flow_reply" notice for each WhatsApp Flow answer whose `response_json` cannot be read.

    The message itself is still stored and handed to its flow, which asks again; the notice keeps the why.
    """
    found = []
    for message in messages:
        reply = nfm_reply(message.raw) if message.type == "interactive" else None
        if reply is not None and reply.error is not None:
            raw = {"id": message.wamid, "type": message.type}  # the message keeps the text; no second copy of it
            found.append(Notice(name, "flow_reply", f"{message.wamid}: {reply.error}", raw, message.wa_id))
    return found


def _named(item: Any) -> str | None:
    """The number an item names as its sender, recipient or user, if one can be read."""
    if not isinstance(item, dict):
        return None
    return _wa_id(item.get("from")) or _wa_id(item.get("recipient_id")) or _wa_id(item.get("wa_id"))


def _read_error(item: Any, name: str) -> Notice | str:
    """Keep one ``value.errors[]`` entry as an "error" notice."""
    return Notice(name, "error", None, item) if isinstance(item, dict) else _not_object(item)


def _read_contact(item: Any) -> ContactInfo | str:
    """Read one ``contacts[]`` entry, or say why it cannot be read."""
    if not isinstance(item, dict):
        return _not_object(item)
    wa_id, user_id = _wa_id(item.get("wa_id")), _id(item.get("user_id"))
    if wa_id is None and user_id is None:
        return "has neither 'wa_id' nor 'user_id'"
    profile = item.get("profile")
    if not isinstance(profile, dict):
        return ContactInfo(wa_id, user_id, None, None)
    return ContactInfo(wa_id, user_id, _str(profile.get("name")), _str(profile.get("username")))


def _senders(contacts: list[ContactInfo]) -> _Senders:
    """Index a value's contacts by ``wa_id`` and ``user_id``; the first of duplicates wins."""
    by_wa_id: dict[str, ContactInfo] = {}
    by_user_id: dict[str, ContactInfo] = {}
    for contact in contacts:
        if contact.wa_id is not None:
            by_wa_id.setdefault(contact.wa_id, contact)
        if contact.user_id is not None:
            by_user_id.setdefault(contact.user_id, contact)
    return _Senders(by_wa_id, by_user_id, contacts[0] if len(contacts) == 1 else None)


def _read_message(item: Any, phone_number_id: str | None, senders: _Senders) -> InboundMessage | str:
    """Read one ``messages[]`` entry and join its sender's contact, or say why it cannot be read."""
    if not isinstance(item, dict):
        return _not_object(item)
    wamid, kind, timestamp = _wamid(item), item.get("type"), _timestamp(item.get("timestamp"))
    if wamid is None:
        return _bad(item, "id", _WAMID)
    if not isinstance(kind, str) or not kind:
        return _bad(item, "type", "a non-empty string")
    if timestamp is None:
        return _bad(item, "timestamp", "Unix seconds")
    if (fault := message_shape.fault(kind, item)) is not None:
        return fault
    wa_id, user_id = _wa_id(item.get("from")), _id(item.get("from_user_id"))
    for key, got, expected in (("from", wa_id, _PHONE), ("from_user_id", user_id, _USER)):
        if got is None and item.get(key) is not None:  # said, but unreadable: never guess another sender
            return f"'{key}' must be {expected}, got {_kind(item[key])}"  # the type only: it is personal data
    sender = senders.match(wa_id, user_id)
    if sender is not None:
        wa_id, user_id = wa_id or sender.wa_id, user_id or sender.user_id
    if wa_id is None and user_id is None:
        return "has neither 'from' nor 'from_user_id', and no single contact to take them from"
    body, context, referral = item.get(kind), item.get("context"), item.get("referral")
    text, reply_id = _text_and_reply(kind, body) if isinstance(body, dict) else (None, None)
    return InboundMessage(
        wamid=wamid,
        wa_id=wa_id,
        user_id=user_id,
        profile_name=None if sender is None else sender.name,
        phone_number_id=phone_number_id,
        timestamp=timestamp,
        type=kind,
        text=text,
        reply_id=reply_id,
        context_wamid=_str(context.get("id")) if isinstance(context, dict) else None,
        referral=referral if isinstance(referral, dict) else None,
        raw=item,
    )


def _read_status(item: Any, phone_number_id: str | None) -> StatusUpdate | str:
    """Read one ``statuses[]`` entry, or say why it cannot be read."""
    if not isinstance(item, dict):
        return _not_object(item)
    wamid, status, timestamp = _wamid(item), item.get("status"), _timestamp(item.get("timestamp"))
    if wamid is None:
        return _bad(item, "id", _WAMID)
    if not isinstance(status, str) or not status:
        return _bad(item, "status", "a non-empty string")
    if timestamp is None:
        return _bad(item, "timestamp", "Unix seconds")
    pricing, conversation, errors = item.get("pricing"), item.get("conversation"), item.get("errors")
    return StatusUpdate(
        wamid=wamid,
        status=status,
        timestamp=timestamp,
        recipient_id=_wa_id(item.get("recipient_id")),
        recipient_user_id=_id(item.get("recipient_user_id")),
        phone_number_id=phone_number_id,
        pricing=pricing if isinstance(pricing, dict) else None,
        conversation=conversation if isinstance(conversation, dict) else None,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        biz_opaque_callback_data=_str(item.get("biz_opaque_callback_data")),
        raw=item,
    )


def _read_preference(item: Any) -> UserPreference | str:
    """Read one ``user_preferences[]`` entry, or say why it cannot be read."""
    if not isinstance(item, dict):
        return _not_object(item)
    category, choice = item.get("category"), item.get("value")
    if not isinstance(category, str) or not category:
        return _bad(item, "category", "a non-empty string")
    if not isinstance(choice, str) or not choice:
        return _bad(item, "value", "a non-empty string")
    wa_id, user_id = _wa_id(item.get("wa_id")), _id(item.get("user_id"))
    if wa_id is None and user_id is None:
        return "has neither 'wa_id' nor 'user_id'"
    # The timestamp is optional here (and an int in Meta's samples): a stop must not be lost over it.
    timestamp = _timestamp(item.get("timestamp"))
    return UserPreference(wa_id, user_id, category, choice, _str(item.get("detail")), timestamp, item)


# Where each simple type's object keeps what a person reads, and the id a tapped reply answers with.
_TEXT_KEYS: dict[str, tuple[str, str | None]] = {
    "text": ("body", None),
    "image": ("caption", None),
    "video": ("caption", None),
    "audio": ("caption", None),
    "document": ("caption", None),
    "sticker": ("caption", None),
    "button": ("text", "payload"),  # a quick-reply tap on a template
    "reaction": ("emoji", None),  # an empty emoji means the reaction was removed
}


def _text_and_reply(kind: str, body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Find what a person would read in a message's type object, and the reply id it answers with."""
    keys = _TEXT_KEYS.get(kind)
    if keys is not None:
        text_key, reply_key = keys
        return _str(body.get(text_key)), None if reply_key is None else _str(body.get(reply_key))
    if kind == "interactive":
        sub = body.get("type")
        reply = body.get(sub) if isinstance(sub, str) else None
        if isinstance(reply, dict):  # button_reply and list_reply have a title; nfm_reply (a flow) a body
            title = _str(reply.get("title"))
            return title if title is not None else _str(reply.get("body")), _str(reply.get("id"))
    elif kind == "location":  # the whole object (coordinates too) stays in the message's raw body
        parts = [part for part in (_str(body.get("name")), _str(body.get("address"))) if part]
        return ", ".join(parts) or _coordinates(body), None
    return None, None


def _coordinates(body: dict[str, Any]) -> str | None:
    """A location without a name or address reads as its coordinates (`message_shape` checked they are numbers)."""
    latitude, longitude = body.get("latitude"), body.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return f"{latitude}, {longitude}"
    return None


def _timestamp(value: Any) -> datetime | None:
    """Read Unix seconds, sent as a digit string (or an int), as a UTC datetime; None if unreadable."""
    if isinstance(value, str):
        # 12 digits reach past year 9999; the bound also keeps int() away from huge digit strings.
        if not (0 < len(value) <= 12 and value.isascii() and value.isdigit()):
            return None
        value = int(value)
    elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _str(value: Any) -> str | None:
    """Return a string as is, and anything else as None."""
    return value if isinstance(value, str) else None


def _id(value: Any, limit: int = _ID_LENGTH) -> str | None:
    """Return an identifier as a string of at most `limit` characters; Meta's samples sometimes send numbers."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_ID:
        value = str(value)
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _wa_id(value: Any) -> str | None:
    """Return a phone number id (``wa_id``, ``from``, ``recipient_id``) if it can be one."""
    return _id(value, _WA_ID_LENGTH)


def _wamid(item: dict[str, Any]) -> str | None:
    """Return an item's message id if it can be one: a non-empty string that storage can key by."""
    wamid = item.get("id")
    return wamid if isinstance(wamid, str) and 0 < len(wamid) <= _ID_LENGTH else None


def _raw(item: Any) -> dict[str, Any]:
    """Keep an item for a notice: objects as they are, anything else under ``"value"``."""
    return item if isinstance(item, dict) else {"value": item}


def _kind(value: Any) -> str:
    """Name a JSON value's type for an error message."""
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else type(value).__name__


def _show(value: Any) -> str:
    """Show a value briefly and safely (no huge strings, no huge ints, no deep nesting)."""
    if isinstance(value, str):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_ID:
        return "a large int"
    return repr(value) if isinstance(value, bool | int | float) or value is None else _kind(value)


def _wrong(path: str, expected: str, value: Any) -> str:
    """Say that the thing at ``path`` is not what the envelope needs."""
    return f"{path} must be {expected}, got {_kind(value)}"


def _not_object(value: Any) -> str:
    """Say that a list item is not an object."""
    return f"must be an object, got {_kind(value)}"


def _bad(item: dict[str, Any], key: str, expected: str) -> str:
    """Say why ``item[key]`` cannot be read: absent, or present but wrong."""
    if key not in item:
        return f"missing '{key}'"
    return f"'{key}' must be {expected}, got {_show(item[key])}"


def _unknown_keys(value: dict[str, Any], name: str) -> str:
    """List the keys of a value that its field does not define."""
    known = _VALUE_KEYS[name]
    return ", ".join(_show(key) if isinstance(key, str) else _kind(key) for key in value if key not in known)
