"""The sandbox's memory: each simulated customer's chat, the limits' state, and the rules a send must pass.

Why one module of about 430 lines: a send is checked against the customer's window on the sending number,
that number's throughput and the customer's pair rate, then recorded in the chat the page shows, all on
the one state the sandbox holds; split, each half would reach into the other's dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.errors import NotFound, ValidationError
from bot.message_templates.display import display, display_json, display_text
from bot.message_templates.library import Templates
from bot.numbers.number import Number
from bot.sandbox.media import MediaShelf, location_message, location_text
from bot.sandbox.rules import PairBucket, Pricing, ServiceCount, ThroughputWindow, service_pricing, template_pricing
from bot.sandbox.wire import (
    DISPLAY_PHONE_NUMBER,
    MEDIA_TYPES,
    MEDIA_UNKNOWN,
    PAIR_RATE,
    REENGAGEMENT,
    THROUGHPUT,
    WA_ID,
    SendRequest,
    graph_error,
    invalid_parameter,
)
from bot.settings import Settings
from bot.whatsapp.category import pricing_category, service_window_open
from bot.whatsapp.rendered_template import HeaderMedia

Direction = Literal["in", "out"]
TemplateCategory = Callable[[str], str | None]

DEFAULT_NAME = "Sandbox User"
NAME_MAX = 256
TEXT_MAX = 4096
TYPING_FOR = timedelta(seconds=25)  # Meta hides the typing indicator after 25 s at most
# How far each status may go; "failed" ends a message wherever it was.
_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def _no_category(name: str) -> str | None:
    return None


@dataclass(frozen=True)
class StatusDelays:
    """Seconds after acceptance at which the sandbox reports sent, delivered and read."""

    sent: float = 0.3
    delivered: float = 0.8
    read: float = 1.5


@dataclass
class ChatItem:
    """One message in a customer's chat; "in" is from the customer, "out" from the bot."""

    direction: Direction
    wamid: str
    at: datetime
    type: str
    text: str | None
    status: str
    template: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    pricing: dict[str, object] | None = None
    media: dict[str, Any] | None = None  # {kind, id?, link?, url, mime_type?, filename?, caption?}
    location: dict[str, Any] | None = None  # {latitude, longitude, name?, address?}
    phone_number_id: str | None = None  # the business number it was sent to or from

    def advance(self, status: str) -> bool:
        """Move to `status` unless the message is already there or further; a webhook never undoes a read."""
        if _RANK.get(status, 0) <= _RANK.get(self.status, 0):
            return False
        self.status = status
        return True

    def as_json(self) -> dict[str, Any]:
        """The item as the chat history lists it; `media` and `location` only on the messages that carry them."""
        extra = {k: v for k, v in (("media", self.media), ("location", self.location)) if v is not None}
        return extra | {
            "phone_number_id": self.phone_number_id,
            "direction": self.direction,
            "wamid": self.wamid,
            "timestamp": self.at.isoformat(),
            "type": self.type,
            "text": self.text,
            "template": self.template,
            "interactive": self.interactive,
            "status": self.status,
            "pricing": self.pricing,
        }


@dataclass
class SandboxUser:
    """A simulated customer: name, customer service window, pair-rate bucket and chat."""

    wa_id: str
    pair: PairBucket
    name: str = DEFAULT_NAME
    last_inbound_at: datetime | None = None
    # When the customer last wrote to each business number: Meta keeps a service window per number.
    windows: dict[str, datetime] = field(default_factory=dict)
    typing_until: datetime | None = None
    chat: list[ChatItem] = field(default_factory=list)

    def items_after(self, wamid: str | None) -> list[ChatItem]:
        """The chat, oldest first, after the message `wamid` (all of it for None)."""
        if wamid is None:
            return list(self.chat)
        for position, item in enumerate(self.chat):
            if item.wamid == wamid:
                return self.chat[position + 1 :]
        raise NotFound(f"no message {wamid!r} in the chat with {self.wa_id}")

    @property
    def last_message_at(self) -> datetime | None:
        return self.chat[-1].at if self.chat else None


@dataclass
class SandboxState:
    """Everything the sandbox remembers, in memory: it is a development tool and starts empty."""

    settings: Settings
    clock: Callable[[], datetime]
    template_category: TemplateCategory = _no_category
    templates: Templates | None = None  # the approved templates, as Meta holds them, to show sends filled in
    status_delays: StatusDelays = field(default_factory=StatusDelays)
    webhook_retry_delays: tuple[float, ...] = (1.0, 4.0, 16.0)
    webhook_timeout: float = 10.0
    # The number's record as Meta keeps it (`GET /{phone_number_id}`, read by `bot templates sync`).
    quality_rating: str = "GREEN"
    messaging_limit_tier: str = "TIER_250"
    users: dict[str, SandboxUser] = field(default_factory=dict)
    shelf: MediaShelf = field(default_factory=MediaShelf)
    service_count: ServiceCount = field(default_factory=ServiceCount)
    # The business numbers the sandbox hosts (the deployment's, bot/numbers/); unset: the settings' one.
    numbers: Callable[[], Iterable[Number]] | None = None
    throughput: ThroughputWindow = field(init=False)  # the default number's
    _throughputs: dict[str, ThroughputWindow] = field(default_factory=dict, init=False, repr=False)
    _index: dict[str, tuple[SandboxUser, ChatItem]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.throughput = ThroughputWindow(self.settings.throughput)

    def hosted(self) -> list[Number]:
        """The business numbers customers may write to, the default first."""
        if self.numbers is None:
            return [Number(self.settings.phone_number_id, DISPLAY_PHONE_NUMBER, throughput=self.settings.throughput)]
        return list(self.numbers())

    @property
    def default_number(self) -> str:
        """The number a customer writes to when they name none, and the one the bot sends from by default."""
        return self.hosted()[0].id

    def hosts(self, number: str) -> bool:
        return any(n.id == number for n in self.hosted())

    def _throughput(self, number: str) -> ThroughputWindow:
        """Each number's own throughput limit, as Meta counts it."""
        if number == self.default_number or self.numbers is None:
            return self.throughput
        limit = next((n.throughput for n in self.hosted() if n.id == number), self.settings.throughput)
        window = self._throughputs.get(number)
        if window is None or window.limit != limit:
            window = self._throughputs[number] = ThroughputWindow(limit)
        return window

    def user(self, wa_id: str, now: datetime) -> SandboxUser:
        """The customer with this number, met now if never before."""
        found = self.users.get(wa_id)
        if found is None:
            found = self.users[wa_id] = SandboxUser(wa_id, PairBucket.full(now))
        return found

    def find(self, wamid: str) -> tuple[SandboxUser, ChatItem] | None:
        return self._index.get(wamid)

    def accept(
        self, request: SendRequest, wamid: str, now: datetime, number: str | None = None
    ) -> tuple[SandboxUser, ChatItem]:
        """Apply Meta's rules to a send from `number` at `now`; record it, or raise the error Meta would answer with."""
        number = number or self.default_number
        known = self.users.get(request.wa_id)
        in_window = known is not None and service_window_open(known.windows.get(number), now)
        if request.type != "template" and not in_window:
            raise graph_error(*REENGAGEMENT)
        throughput = self._throughput(number)
        if not throughput.allows(now):
            raise graph_error(*THROUGHPUT)
        self._check_media_id(request)
        user = self.user(request.wa_id, now)
        bucket = user.pair.take(now)
        if bucket is None:
            raise graph_error(*PAIR_RATE)
        user.pair = bucket
        throughput.record(now)
        category, pricing = self._price(request, in_window, now)
        item = outbound_item(request, wamid, now, category, pricing, self.templates, self.shelf)
        item.phone_number_id = number
        self._append(user, item)
        user.typing_until = None
        return user, item

    def _check_media_id(self, request: SendRequest) -> None:
        """A file sent by id must be one uploaded here and still kept, as Meta keeps uploads 30 days."""
        media_id = request.content.get("id") if request.type in MEDIA_TYPES else None
        if isinstance(media_id, str):
            try:
                self.shelf.get(media_id)
            except NotFound:
                raise graph_error(*MEDIA_UNKNOWN, f"Media id {media_id} is unknown or has expired") from None

    def _price(self, request: SendRequest, in_window: bool, now: datetime) -> tuple[str | None, Pricing]:
        if request.type == "template":
            category = pricing_category(self.template_category(request.content["name"]) or "utility", is_template=True)
            if category != "service":
                return category, template_pricing(category, in_window=in_window, now=now)
        else:
            category = None
        pricing = service_pricing(self.service_count.used(now), now)
        self.service_count = self.service_count.plus_one(now)
        return category, pricing

    def receive(self, user: SandboxUser, item: ChatItem, now: datetime, number: str | None = None) -> None:
        """A customer's message to `number`: it opens or refreshes that number's window and counts to its throughput."""
        number = item.phone_number_id = number or self.default_number
        user.last_inbound_at = user.windows[number] = now
        self._throughput(number).record(now)
        self._append(user, item)

    def mark_read(self, message_id: str, *, typing: bool, now: datetime) -> None:
        """The bot read a customer's message, and with it every earlier one, as WhatsApp shows it."""
        found = self._index.get(message_id)
        if found is None or found[1].direction != "in":
            raise invalid_parameter("Invalid parameter", f"message_id {message_id!r} is not a message to this number")
        user, target = found
        for item in user.chat:
            if item.direction == "in":
                item.advance("read")
            if item is target:
                break
        if typing:
            user.typing_until = now + TYPING_FOR

    def _append(self, user: SandboxUser, item: ChatItem) -> None:
        user.chat.append(item)
        self._index[item.wamid] = (user, item)


# --- what the bot sent ------------------------------------------------------------------------------


def outbound_item(
    request: SendRequest,
    wamid: str,
    now: datetime,
    category: str | None,
    pricing: Pricing,
    templates: Templates | None = None,
    shelf: MediaShelf | None = None,
) -> ChatItem:
    """The chat entry for a message the bot sent, with a readable text for each type.

    A template is shown as the phone displays it, filled in from `templates` (the customer sees a one-time
    code, so the sandbox shows it); without the template, its name and values stand in.
    """
    content = request.content
    item = ChatItem("out", wamid, now, request.type, None, "accepted", pricing=pricing.as_json())
    if request.type == "text":
        item.text = content["body"]
    elif request.type == "interactive":
        item.interactive = content
        body = content.get("body")
        item.text = body.get("text") if isinstance(body, dict) else None
        header = HeaderMedia.from_component(content.get("header"))
        if header is not None:
            _show_header(item, header, shelf)
    elif request.type == "template":
        item.template = template_view(content, category or "utility")
        rendered = display(templates, content) if templates is not None else None
        if rendered is None:
            item.text = render_template(item.template)
        else:
            item.template |= display_json(rendered)
            item.template["quick_replies"] = [b["payload"] for b in item.template["buttons"] if "payload" in b]
            item.text = display_text(rendered)
            if rendered.header_media is not None:
                _show_header(item, rendered.header_media, shelf)
    elif request.type == "location":
        item.location = {k: content[k] for k in ("latitude", "longitude", "name", "address") if k in content}
        item.text = ", ".join(str(content[k]) for k in ("name", "address") if content.get(k)) or "[location]"
    elif request.type == "reaction":
        item.text = content.get("emoji") or ""
    else:
        caption = content.get("caption") if isinstance(content, dict) else None
        item.text = caption if isinstance(caption, str) else None
        if request.type in MEDIA_TYPES and isinstance(content, dict):
            item.media = _sent_media(request.type, content, shelf)
        item.text = item.text or (None if item.media else f"[{request.type}]")
    return item


def _show_header(item: ChatItem, header: HeaderMedia, shelf: MediaShelf | None) -> None:
    """A file or place header shown as the chat shows any file or place the bot sends, above the text."""
    if header.format == "location":
        named = {k: v for k, v in header.object().items() if k in ("name", "address")}
        item.location = named | {"latitude": header.latitude, "longitude": header.longitude}
    else:
        item.media = _sent_media(header.format, header.object(), shelf)


def _sent_media(kind: str, content: dict[str, Any], shelf: MediaShelf | None) -> dict[str, Any]:
    """What the chat page shows of a file the bot sent: by its uploaded id (served by the sandbox) or its link."""
    shown: dict[str, Any] = {"kind": kind, "caption": content.get("caption"), "filename": content.get("filename")}
    media_id, link = content.get("id"), content.get("link")
    if isinstance(media_id, str) and shelf is not None:
        try:
            found = shelf.get(media_id)
        except NotFound:
            found = None
        shown |= {"id": media_id, "url": f"/sandbox/files/{media_id}" if found else None}
        if found is not None:
            shown["mime_type"], shown["filename"] = found.mime_type, shown["filename"] or found.filename
    elif isinstance(link, str):
        shown |= {"link": link, "url": link if link.startswith(("http://", "https://")) else None}
    return shown


def template_view(content: dict[str, Any], category: str) -> dict[str, Any]:
    """What the chat shows of a template: name, category, language, body parameters, quick replies."""
    components = [c for c in content.get("components") or [] if isinstance(c, dict)]
    parameters = [
        _parameter_text(p)
        for c in components
        if c.get("type") == "body"
        for p in c.get("parameters") or []
        if isinstance(p, dict)
    ]
    quick_replies = [
        p["payload"]
        for c in components
        if c.get("type") == "button" and c.get("sub_type") == "quick_reply"
        for p in c.get("parameters") or []
        if isinstance(p, dict) and isinstance(p.get("payload"), str)
    ]
    return {
        "name": content["name"],
        "category": category,
        "language": content["language"]["code"],
        "parameters": parameters,
        "quick_replies": quick_replies,
        "components": components,
    }


def render_template(view: dict[str, Any]) -> str:
    """A readable stand-in for a template's text: its name and body parameters."""
    parameters = view["parameters"]
    return f"{view['name']}: {', '.join(parameters)}" if parameters else str(view["name"])


def _parameter_text(parameter: dict[str, Any]) -> str:
    kind = parameter.get("type")
    value = parameter.get(kind) if isinstance(kind, str) else None
    if isinstance(value, str):
        return value
    fallback = value.get("fallback_value") if isinstance(value, dict) else None
    return fallback if isinstance(fallback, str) else f"[{kind}]"


# --- what the customer sends ------------------------------------------------------------------------


def profile_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise ValidationError(f"name must be a non-empty string of at most {NAME_MAX} characters")
    return name.strip()


def check_wa_id(wa_id: str) -> str:
    if not WA_ID.fullmatch(wa_id):
        raise ValidationError(f"wa_id {wa_id!r} must be 6 to 15 digits (E.164 without the +)")
    return wa_id


def customer_message(
    wa_id: str, chat: list[ChatItem], body: dict[str, Any], wamid: str, now: datetime
) -> tuple[dict[str, Any], ChatItem]:
    """The ``messages[]`` entry for what the simulator was asked to send, and its chat entry."""
    given = [key for key in ("text", "button", "list", "location") if key in body]
    if len(given) != 1:
        raise ValidationError(
            'send exactly one of {"text": "…"}, {"button": "<id>"}, {"list": "<row id>"} '
            'or {"location": {"latitude": …, "longitude": …}}'
        )
    kind, value = given[0], body[given[0]]
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp()))}
    if kind == "location":
        place = location_message(value)
        item = ChatItem("in", wamid, now, "location", location_text(place), "sent", location=place)
        return message | {"type": "location", "location": place}, item
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{kind!r} must be a non-empty string")
    item = ChatItem("in", wamid, now, "text", value, "sent")
    if kind == "text":
        if len(value) > TEXT_MAX:
            raise ValidationError(f"text is {len(value)} characters; WhatsApp allows at most {TEXT_MAX}")
        message |= {"type": "text", "text": {"body": value}}
        return message, item
    source, reply = find_button(chat, value) if kind == "button" else find_row(chat, value)
    message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": source.wamid}
    message |= reply
    item.type = reply["type"]
    if reply["type"] == "button":
        item.text = reply["button"]["text"]
    else:
        item.interactive = reply["interactive"]
        item.text = reply["interactive"][reply["interactive"]["type"]]["title"]
    return message, item


def find_button(chat: list[ChatItem], button_id: str) -> tuple[ChatItem, dict[str, Any]]:
    """The bot's latest message with this reply button (or template quick reply), and the tap it produces."""
    for item in reversed(chat):
        if item.direction != "out":
            continue
        if item.interactive is not None and item.interactive.get("type") == "button":
            for button in item.interactive["action"]["buttons"]:
                if button["reply"]["id"] == button_id:
                    reply = {"id": button_id, "title": button["reply"]["title"]}
                    return item, {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": reply}}
        if item.template is not None and button_id in item.template["quick_replies"]:
            # As Meta's webhook: the payload the send set, and the title the customer tapped.
            titles = {b["payload"]: b["text"] for b in item.template.get("buttons", []) if b.get("payload")}
            tap = {"payload": button_id, "text": titles.get(button_id, button_id)}
            return item, {"type": "button", "button": tap}
    raise ValidationError(f"no message from the bot has a reply button with id {button_id!r}")


def find_row(chat: list[ChatItem], row_id: str) -> tuple[ChatItem, dict[str, Any]]:
    """The bot's latest list message with this row, and the pick it produces."""
    for item in reversed(chat):
        if item.direction != "out" or item.interactive is None or item.interactive.get("type") != "list":
            continue
        for section in item.interactive["action"]["sections"]:
            for row in section["rows"]:
                if row["id"] == row_id:
                    reply = {k: row[k] for k in ("id", "title", "description") if k in row}
                    return item, {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}
    raise ValidationError(f"no list message from the bot has a row with id {row_id!r}")
