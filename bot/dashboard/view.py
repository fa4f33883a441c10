"""What the dashboard shows of stored rows, in plain words: transcript entries, statuses, reasons, windows.

Pure functions over storage rows; the page templates escape every text they are given, so customers'
words are shown as they wrote them and never read as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from bot.message_templates.display import display
from bot.message_templates.library import Templates
from bot.whatsapp.category import service_window_expires_at, service_window_open
from bot.whatsapp.flow_reply import answers_text, nfm_reply
from bot.whatsapp.message_shape import shared_location
from bot.whatsapp.rendered_template import HeaderMedia
from storage.models import ConversationBase, MediaBase, MessageBase, OutboxBase
from storage.outbox import SECRET_KINDS
from storage.timeline import Timeline

EntryKind = Literal["in", "out", "unsent", "conversation"]
# Plain words for the statuses a message goes through.
STATUS_WORDS = {
    "received": "received",
    "accepted": "accepted by WhatsApp",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "failed": "failed",
    "queued": "waiting to be sent",
    "sending": "being sent",
    "cancelled": "not sent",
    "expired": "expired before it was sent",
    "unknown": "unknown: the sender stopped while sending it",
}
ORIGINS = {
    "user_initiated": "started by the customer",
    "business_initiated": "started by the business",
    "free_entry_point": "from an ad or a free entry point (free for 72 hours)",
}


class Shown(NamedTuple):
    """What a message body says, a detail line, and a header (a text, or a file or place) and footer."""

    text: str
    detail: str | None = None
    header: str | None = None
    footer: str | None = None
    header_media: HeaderMedia | None = None


@dataclass(frozen=True)
class Entry:
    """One line of a transcript: a message in or out, one not sent, or a conversation opening."""

    at: datetime
    kind: EntryKind
    text: str
    detail: str | None = None
    category: str | None = None
    status: str | None = None
    reason: str | None = None
    header: str | None = None
    footer: str | None = None
    media: MediaView | None = None
    location: Place | None = None
    sent_file: HeaderMedia | None = None  # a file the business sent as a header: its link or media id

    @property
    def status_words(self) -> str | None:
        return STATUS_WORDS.get(self.status, self.status) if self.status else None


@dataclass(frozen=True)
class MediaView:
    """A message's file as the dashboard shows it: inline (an image), a link (any other file), or why not."""

    id: int
    kind: str
    state: str  # stored | waiting | refused | failed | purged
    mime_type: str | None
    size: int | None
    filename: str | None
    caption: str | None
    error: str | None

    @property
    def inline(self) -> bool:
        return self.state == "stored" and (self.mime_type or "").startswith("image/")

    @property
    def url(self) -> str:
        return f"/dashboard/media/{self.id}"

    @property
    def size_words(self) -> str:
        if self.size is None:
            return ""
        return f"{self.size / 1024 / 1024:.1f} MB" if self.size >= 1024 * 1024 else f"{max(1, self.size // 1024)} KB"

    @property
    def state_words(self) -> str:
        return MEDIA_STATES.get(self.state, self.state)


MEDIA_STATES = {
    "waiting": "the file is being fetched from WhatsApp",
    "refused": "the file was refused",
    "failed": "the file could not be fetched",
    "purged": "the file was deleted when its retention ran out",
}


@dataclass(frozen=True)
class Place:
    """A shared location: its coordinates, name and address, and a map link."""

    latitude: float
    longitude: float
    name: str | None
    address: str | None

    @property
    def map_url(self) -> str:
        lat, lon = self.latitude, self.longitude
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def media_view(row: MediaBase) -> MediaView:
    assert row.id is not None
    state = row.status if row.status in ("stored", "refused", "failed", "purged") else "waiting"
    return MediaView(
        row.id, row.kind, state, row.mime_type or row.declared_mime, row.size, row.filename, row.caption, row.error
    )


def place(body: Mapping[str, Any] | None) -> Place | None:
    """The location a message's raw body carries, if it is one with numeric coordinates."""
    found = shared_location(body)
    if found is None:
        return None
    return Place(found["latitude"], found["longitude"], found.get("name"), found.get("address"))


@dataclass(frozen=True)
class Given:
    """What the customer sent a flow's `ask` (a photo, a document, a location), kept in a slot: for the handoff."""

    slot: str
    media: MediaView | None = None
    place: Place | None = None

    @property
    def label(self) -> str:
        return self.slot.replace("_", " ").capitalize()


def given_media_ids(slots: Mapping[str, Any]) -> list[int]:
    """The media rows the session's slots name (`{"media": id, "kind": …}`, as `ask` keeps a file)."""
    return [v["media"] for v in slots.values() if isinstance(v, Mapping) and type(v.get("media")) is int]


def given(slots: Mapping[str, Any], media: Mapping[int, MediaBase]) -> list[Given]:
    """The files and places in the session's slots, in the order the flow filled them."""
    found = []
    for slot, value in slots.items():
        if not isinstance(value, Mapping):
            continue
        row = media.get(value["media"]) if type(value.get("media")) is int else None
        spot = place({"location": value})
        if row is not None:
            found.append(Given(slot, media=media_view(row)))
        elif spot is not None:
            found.append(Given(slot, place=spot))
    return found


@dataclass(frozen=True)
class Window:
    """The customer service window: open until `closes_at`, or closed (then only templates may go)."""

    open: bool
    closes_at: datetime | None


def window(last_inbound_at: datetime | None, now: datetime) -> Window:
    return Window(service_window_open(last_inbound_at, now), service_window_expires_at(last_inbound_at))


def reason(error: Mapping[str, Any] | None) -> str | None:
    """Why a message failed or was not sent, from Meta's error webhook or the sender's own record."""
    if not error:
        return None
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        details = (first.get("error_data") or {}).get("details") if isinstance(first.get("error_data"), dict) else None
        words = first.get("message") or first.get("title") or "no reason given"
        text = f"{words} ({details})" if details and details != words else str(words)
        return f"error {first['code']}: {text}" if first.get("code") else text
    message = error.get("message") or error.get("code") or "no reason given"
    return f"error {error['error_code']}: {message}" if error.get("error_code") else str(message)


def content(payload: Mapping[str, Any] | None, templates: Templates | None = None, *, secret: bool = False) -> Shown:
    """What a Cloud API message body says, and a detail line (its buttons, or which template it is).

    A template is shown as the customer's phone displays it, filled in from `templates`; a one-time code
    never shows on the business's screens.
    """
    if not payload:
        return Shown("")
    kind = str(payload.get("type", "text"))
    body = payload.get(kind)
    if not isinstance(body, dict):
        return Shown(f"[{kind}]")
    if kind == "text":
        return Shown(str(body.get("body", "")))
    if kind == "interactive":
        return _interactive(body)
    if kind == "template":
        return _template(body, templates, secret=secret)
    named = body.get("filename") or body.get("link")  # a document's name, or the URL Meta fetches the file from
    caption = f" {body['caption']}" if body.get("caption") else ""
    return Shown(f"[{kind}]{caption}", f"File: {named}" if isinstance(named, str) else None)


def _template(body: Mapping[str, Any], templates: Templates | None, *, secret: bool) -> Shown:
    name = body.get("name", "?")
    language = (body.get("language") or {}).get("code", "")
    rendered = display(templates, body, hide_code=True) if templates is not None else None
    if rendered is None:  # a template no longer in `templates/`: its name and values stand in
        values = [] if secret else _template_values(body.get("components"))
        shown = f" with {', '.join(values)}" if values else (" (the code is hidden)" if secret else "")
        return Shown(f"Template {name} ({language}){shown}")
    titles = " · ".join(button.text for button in rendered.buttons)
    detail = f"Template {name} ({language})" + (f" · Buttons: {titles}" if titles else "")
    return Shown(rendered.text, detail, rendered.header, rendered.footer, rendered.header_media)


def _interactive(body: Mapping[str, Any]) -> Shown:
    """The text and what comes with it: buttons, list rows, a link button or a location request; header, footer."""
    text = str((body.get("body") or {}).get("text", ""))
    action = body.get("action") or {}
    found = body.get("header")
    header: Mapping[str, Any] = found if isinstance(found, dict) else {}
    title = header.get("text") if header.get("type") == "text" and isinstance(header.get("text"), str) else None
    footer = (body.get("footer") or {}).get("text") if isinstance(body.get("footer"), dict) else None
    parts = (title, footer if isinstance(footer, str) else None, HeaderMedia.from_component(header))
    titles = [str((b.get("reply") or {}).get("title", "")) for b in action.get("buttons") or []]
    rows = [str(r.get("title", "")) for s in action.get("sections") or [] for r in s.get("rows") or []]
    if body.get("type") == "cta_url":
        link = action.get("parameters") or {}
        detail: str | None = f"Link button: {link.get('display_text', '')} → {link.get('url', '')}"
    elif body.get("type") == "location_request_message":
        detail = "Asks for the customer's location"
    elif body.get("type") == "flow":  # a WhatsApp Flow: which form, behind which button
        flow = action.get("parameters") or {}
        name = flow.get("flow_name") or f"id {flow.get('flow_id', '?')}"
        detail = f"WhatsApp Flow {name} · Button: {flow.get('flow_cta', '')}"
    elif titles:
        detail = "Buttons: " + " · ".join(titles)
    elif rows:
        detail = f"List ({action.get('button', 'options')}): " + " · ".join(rows)
    else:
        detail = None
    return Shown(text, detail, *parts)


def _template_values(components: Any) -> list[str]:
    values = []
    for component in components if isinstance(components, list) else []:
        for parameter in component.get("parameters") or [] if isinstance(component, dict) else []:
            if isinstance(parameter, dict) and "text" in parameter:
                name = parameter.get("parameter_name")
                values.append(f"{name}={parameter['text']}" if name else str(parameter["text"]))
    return values


def message_entry(message: MessageBase, templates: Templates | None = None, media: MediaBase | None = None) -> Entry:
    if message.direction == "in":
        file = media_view(media) if media is not None else None
        location = place(message.body) if message.type == "location" else None
        # A file shows its caption, a place its name and address, beside them; anything else its text.
        text = "" if file is not None or location is not None else message.text or f"[{message.type}]"
        form = nfm_reply(message.body) if message.type == "interactive" else None
        text = answers_text(form) if form is not None else text  # a WhatsApp Flow's answers, readably
        return Entry(message.created_at, "in", text, status=message.status, media=file, location=location)
    shown = content(message.body, templates)
    return Entry(
        message.created_at,
        "out",
        shown.text or message.text or f"[{message.type}]",
        shown.detail,
        message.category,
        message.status,
        reason(message.error),
        shown.header,
        shown.footer,
        **_header_parts(shown.header_media),
    )


def _header_parts(media: HeaderMedia | None) -> dict[str, Any]:
    """A sent header as an entry shows it: a place as any shared location, a file as a link."""
    if media is None:
        return {}
    if media.format == "location" and media.latitude is not None and media.longitude is not None:
        return {"location": Place(media.latitude, media.longitude, media.name, media.address)}
    return {"sent_file": media}


def unsent_entry(row: OutboxBase, templates: Templates | None = None) -> Entry:
    shown = content(row.payload, templates, secret=row.kind in SECRET_KINDS)
    held = row.last_error if row.status in ("queued", "sending") else None  # why it waits (quiet hours, limits)
    why = reason(held) if held else (None if row.status in ("queued", "sending") else reason(row.last_error))
    category = row.template_category or row.category
    return Entry(
        row.created_at,
        "unsent",
        shown.text,
        shown.detail,
        category,
        row.status,
        why,
        shown.header,
        shown.footer,
        **_header_parts(shown.header_media),
    )


def conversation_entry(conversation: ConversationBase) -> Entry:
    origin = ORIGINS.get(conversation.origin, conversation.origin.replace("_", " "))
    text = f"{conversation.category.capitalize()} conversation opened, {origin}"
    return Entry(conversation.opened_at, "conversation", text, category=conversation.category)


def entries(timeline: Timeline, templates: Templates | None = None) -> list[Entry]:
    """The whole transcript in time order: conversation openings, messages, and what is not sent."""
    found: Iterable[Entry] = [
        *(conversation_entry(c) for c in timeline.conversations),
        *(
            message_entry(m, templates, timeline.media.get(m.id) if m.id is not None else None)
            for m in timeline.messages
        ),
        *(unsent_entry(r, templates) for r in timeline.unsent),
    ]
    order = {"conversation": 0, "in": 1, "out": 2, "unsent": 3}
    return sorted(found, key=lambda e: (e.at, order[e.kind]))
