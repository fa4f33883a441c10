"""`bot chat`: the real flows in a terminal, run offline on a throwaway database with a virtual clock.

Each typed line goes the way a customer's message goes in the service: a Meta-format webhook payload is
parsed and stored as a delivery, and one round of the real dispatcher runs the real flow runner, engine,
actions and one-time codes over it. What the round queued in the outbox is printed: texts as text,
buttons and list rows as numbered choices (typing the number taps the choice), templates rendered as the
customer reads them. Nothing is sent anywhere: the app's sender does not run. Because the database is a
throwaway, a one-time code is printed as its message shows it, marked as a sandbox code, so it can be
typed back.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot import keys
from bot.app import create_app
from bot.devtools.demo import CONTACTS as DEMO_CONTACTS
from bot.devtools.demo import load_demo
from bot.devtools.rehearsal import VirtualClock, customer_message, customer_webhook, run_until_idle
from bot.engine.flow_file import parse_duration
from bot.errors import ConfigError
from bot.inbound.dispatcher import DISPATCHER
from bot.message_templates.display import display
from bot.message_templates.library import TEMPLATES, Templates
from bot.sandbox.wire import WA_ID, new_wamid
from bot.settings import SANDBOX_APP_SECRET, SANDBOX_PHONE_NUMBER_ID, SANDBOX_VERIFY_TOKEN, Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.rendered_template import HeaderMedia
from bot.whatsapp.webhook_parser import parse_payload
from storage.inbox import Delivery
from storage.models import OutboxBase

DEFAULT_WA_ID = "15550001234"
DEFAULT_NAME = "Ana"
PROMPT = "> "
BOT = "bot: "
INDENT = " " * len(BOT)
MAX_ROUNDS = 5  # dispatcher rounds per line; one is enough, more only if a round leaves work due
HELP = (
    "Type a message, or the number of a choice to tap it. "
    "/wait 30m lets time pass (30s, 10m, 2h, 1d), /location LAT LON [NAME] shares a place, "
    "/reset starts over as a new contact, /quit leaves."
)
HISTORY_FILE = Path("~/.bot_chat_history")  # what was typed, between chats (at a terminal only)
HISTORY_LINES = 1000
SANDBOX_CODE = "sandbox code: this chat runs on a throwaway database, so its one-time codes are shown; type it back"


@dataclass(frozen=True)
class Choice:
    """A numbered choice on screen: how tapping it looks on the wire (`reply` is Meta's reply type)."""

    reply: str  # button_reply, list_reply, or quick_reply (a template's button)
    id: str
    title: str
    description: str | None = None

    def message(self) -> dict[str, Any]:
        """The `messages[]` entry of the tap, without `from`, `id` and `timestamp`."""
        if self.reply == "quick_reply":
            return customer_message("button", {"payload": self.id, "text": self.title})
        picked = {"id": self.id, "title": self.title}
        if self.description:
            picked["description"] = self.description
        return customer_message("interactive", {"type": self.reply, self.reply: picked})


@dataclass(frozen=True)
class Shown:
    """One queued message as the chat prints it: its lines, and the choices it offers."""

    lines: list[str]
    choices: list[Choice]


def chat_settings(database_url: str, timezone: str = "UTC") -> Settings:
    """Sandbox-like settings on the chat's own database, with fresh secrets each run."""
    return Settings(
        database_url=database_url,
        admin_token=secrets.token_urlsafe(24),
        secret_key=secrets.token_urlsafe(32),
        access_token=None,
        phone_number_id=SANDBOX_PHONE_NUMBER_ID,
        app_secret=SANDBOX_APP_SECRET,
        verify_token=SANDBOX_VERIFY_TOKEN,
        api_url="http://127.0.0.1:9/unused",  # never called: the chat reads the outbox and runs no sender
        api_version="v25.0",
        business_timezone=timezone,
    )


def line_editing(history: Path) -> Callable[[], None]:
    """Line editing and history (arrow keys, Ctrl-R) for the prompt at a terminal; returns what saves the history.

    The standard `readline` module gives `input()` both once imported; the history is kept in `history`
    between chats. Where `readline` is missing (Windows), typing works as before.
    """
    try:
        import readline
    except ImportError:  # pragma: no cover - every POSIX Python has it
        return lambda: None
    readline.set_history_length(HISTORY_LINES)
    with suppress(OSError):
        readline.read_history_file(history)

    def save() -> None:
        with suppress(OSError):
            readline.write_history_file(history)

    return save


def terminal_lines(prompt: str = "") -> Iterator[str]:
    """Lines typed at the terminal (or piped in) until end of input; Ctrl-C ends the chat the same way."""
    while True:
        try:
            yield input(prompt)
        except (EOFError, KeyboardInterrupt):
            return


async def run_chat(
    lines: Iterable[str],
    out: TextIO,
    *,
    flows: Path = Path("flows"),
    templates: Path = Path("templates"),
    wa_id: str | None = None,
    name: str | None = None,
    timezone: str = "UTC",
    database_url: str | None = None,
    start: datetime | None = None,
    echo: bool = True,
    demo: bool = False,
) -> None:
    """Chat with the flows: each line is what the customer sends, or a /command; the bot's replies go to `out`.

    `echo` writes each line after the prompt, so a piped or scripted chat reads as a transcript. The
    database is a temporary SQLite file unless `database_url` names one (tests look into it afterwards).
    With `demo`, `bot demo`'s contacts, orders, appointments and accounts are loaded first, and the chat is
    as the first demo contact unless `wa_id` names another.
    """
    known = {c.wa_id: c for c in DEMO_CONTACTS} if demo else {}
    wa_id = wa_id or (DEMO_CONTACTS[0].wa_id if demo else DEFAULT_WA_ID)
    name = name or (known[wa_id].name if wa_id in known else DEFAULT_NAME)
    if not WA_ID.fullmatch(wa_id):
        raise ConfigError(f"--as {wa_id!r} must be a WhatsApp number: 6 to 15 digits, without the +")
    with tempfile.TemporaryDirectory(prefix="bot-chat-") as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'chat.db'}"
        clock = VirtualClock(start or datetime.now(UTC).replace(microsecond=0))
        # No roles: no dispatcher, sender or scheduler loop runs; the chat drives the dispatcher itself.
        app = create_app(
            chat_settings(url, timezone),
            clock=clock,
            transport=RecordingTransport(),
            roles=(),
            migrate=True,
            templates=templates,
            flows=flows,
        )
        runner = web.AppRunner(app)
        await runner.setup()  # the cleanup_ctx start-up half: database, migrations, dispatcher
        try:
            chat = Chat(app, clock, out, wa_id, name)
            chat.say(f"Chatting with the flows in {flows}/ as {name} (+{wa_id}); nothing is sent to WhatsApp.")
            if demo:
                loaded = await load_demo(app[keys.REPOSITORY], now=clock())
                people = ", ".join(f"{c.name} (+{c.wa_id})" for c in DEMO_CONTACTS)
                chat.say(f"demo data loaded: {loaded.orders} orders, {loaded.appointments} appointments; {people}")
            chat.say(HELP)
            for line in lines:
                if echo:
                    out.write(f"{PROMPT}{line}\n")
                if not await chat.take(line.strip()):
                    break
            chat.say("bye")
        finally:
            await runner.cleanup()


class Chat:
    """One chat: the contact typing, the clock, what the bot last offered, and the outbox read so far."""

    def __init__(self, app: web.Application, clock: VirtualClock, out: TextIO, wa_id: str, name: str) -> None:
        self.app, self.clock, self.out = app, clock, out
        self.wa_id, self.name = wa_id, name
        self.choices: list[Choice] = []
        self.seen = 0  # the last outbox row printed

    def say(self, text: str) -> None:
        """A line from the chat itself (not the bot)."""
        self.out.write(f"-- {text}\n")

    async def take(self, line: str) -> bool:
        """Handle one typed line; False when the chat should end."""
        if not line:
            return True
        if line.startswith("/"):
            return await self._command(line)
        choice = self._choice(line)
        if choice is not None:
            self.say(f"tapped {choice.title!r}")
            await self._send(choice.message())
        else:
            await self._send(customer_message("text", {"body": line}))
        return True

    def _choice(self, line: str) -> Choice | None:
        if line.isdecimal() and 1 <= int(line) <= len(self.choices):
            return self.choices[int(line) - 1]
        return None

    async def _command(self, line: str) -> bool:
        word, _, rest = line.partition(" ")
        if word == "/quit":
            return False
        if word == "/wait":
            await self._wait(rest.strip())
        elif word == "/location":
            await self._location(rest.split(maxsplit=2))
        elif word == "/reset":
            self.wa_id = str(int(self.wa_id) + 1)[: len(self.wa_id)]
            self.choices = []
            self.say(f"a new contact: {self.name} (+{self.wa_id}), with no history")
        else:
            self.say(HELP)
        return True

    async def _location(self, words: list[str]) -> None:
        """Share a place as the phone's "Send location" does: latitude, longitude and an optional name."""
        try:
            latitude, longitude = float(words[0]), float(words[1])
        except (IndexError, ValueError):
            self.say("/location takes a latitude and a longitude, then a name if you like: /location 52.37 4.89 Home")
            return
        place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if len(words) > 2:
            place["name"] = words[2]
        await self._send(customer_message("location", place))

    async def _wait(self, text: str) -> None:
        duration = parse_duration(text)
        if duration is None:
            self.say("/wait takes a duration: 30s, 10m, 2h or 1d")
            return
        self.clock.now += duration
        self.say(f"{text} later ({self.clock.now:%Y-%m-%d %H:%M} UTC)")
        if not await self._round():
            self.say("(nothing happened)")

    async def _send(self, message: dict[str, Any]) -> None:
        """Store the message as the webhook stores a delivery, then run the dispatcher and show the replies."""
        now = self.clock()
        wamid = new_wamid(inbound=True)
        body = json.dumps(customer_webhook(message, wa_id=self.wa_id, name=self.name, wamid=wamid, now=now))
        await self.app[keys.REPOSITORY].store_deliveries([Delivery(body, parse_payload(body), now)])
        if not await self._round():
            self.say("(no reply)")

    async def _round(self) -> bool:
        """Run the dispatcher until it has nothing left, print what was queued; whether anything was."""
        await run_until_idle(self.app[DISPATCHER].run_once, MAX_ROUNDS)
        rows = await self._queued()
        library = self.app[TEMPLATES]
        shown = [show(row.payload, library) for row in rows]
        for message in shown:
            self.out.write("".join(f"{INDENT if i else BOT}{line}\n" for i, line in enumerate(message.lines)))
        if shown:
            self.choices = shown[-1].choices
        return bool(shown)

    async def _queued(self) -> list[OutboxBase]:
        """The contact's outbox rows queued since the last look, in the order the sender would send them."""
        rows = await self.app[keys.REPOSITORY].outbox_after(self.seen, recipient=self.wa_id)
        if rows:
            self.seen = max(r.id or 0 for r in rows)
        return sorted(rows, key=lambda r: (r.due_at, r.id or 0))  # one contact: the sender keeps this order


# -- showing a Cloud API body --------------------------------------------------------------------------


def show(body: Mapping[str, Any], library: Templates) -> Shown:
    """A Cloud API send body as the chat prints it: text, numbered choices, or a rendered template."""
    kind = body.get("type")
    if kind == "text":
        return Shown(str(body["text"]["body"]).splitlines() or [""], [])
    if kind == "interactive":
        return _interactive(body["interactive"])
    if kind == "template":
        return _template(body["template"], library)
    content = body.get(str(kind))
    if kind in ("image", "document", "video", "audio") and isinstance(content, Mapping):
        named = content.get("filename") or content.get("link") or ""
        caption = str(content.get("caption") or "")
        return Shown([f"[{kind}{' ' + str(named) if named else ''}]", *caption.splitlines()], [])
    return Shown([f"[a {kind} message]"], [])


def _interactive(content: Mapping[str, Any]) -> Shown:
    lines = []
    if media := HeaderMedia.from_component(content.get("header")):
        lines.append(_header_line(media))
    elif header := content.get("header", {}).get("text"):
        lines.append(f"*{header}*")
    lines += str(content["body"]["text"]).splitlines()
    choices: list[Choice] = []
    if content["type"] == "cta_url":
        link = content["action"]["parameters"]
        lines.append(f"[{link['display_text']}] → {link['url']}")
    elif content["type"] == "location_request_message":
        lines.append("[Send location] (type /location LAT LON [NAME] to share one)")
    if content["type"] == "button":
        for button in content["action"]["buttons"]:
            choices.append(Choice("button_reply", button["reply"]["id"], button["reply"]["title"]))
    elif content["type"] == "list":
        for section in content["action"]["sections"]:
            for row in section["rows"]:
                choices.append(Choice("list_reply", row["id"], row["title"], row.get("description")))
        lines.append(f"[{content['action']['button']}]")
    elif content["type"] == "flow":  # a form the terminal cannot draw: the sandbox's chat page can
        lines.append(f"[{content['action']['parameters']['flow_cta']}] (a WhatsApp Flow: open it at /sandbox)")
    if footer := content.get("footer", {}).get("text"):
        lines.append(f"_{footer}_")
    return Shown(lines + _numbered(choices), choices)


def _header_line(media: HeaderMedia) -> str:
    """A file or place header as one line: what it is, and where it is (a link, a media id, a map)."""
    if media.format == "location":
        return f"{media.words} https://www.openstreetmap.org/?mlat={media.latitude}&mlon={media.longitude}"
    return f"{media.words} {media.link or f'media id {media.media_id}'}"


def _numbered(choices: list[Choice]) -> list[str]:
    return [f"  {n}) {c.title}" + (f" ({c.description})" if c.description else "") for n, c in enumerate(choices, 1)]


def _template(content: Mapping[str, Any], library: Templates) -> Shown:
    """A template as the phone displays it (`bot.message_templates.display`); its quick replies as choices."""
    name, language = str(content["name"]), str(content["language"]["code"])
    rendered = display(library, content)
    if rendered is None:
        return Shown([f"[template {name} ({language}): {json.dumps(content.get('components', []))}]"], [])
    lines = [f"[{rendered.category} template {name}]"]
    if rendered.header_media:
        lines.append(_header_line(rendered.header_media))
    elif rendered.header:
        lines.append(f"*{rendered.header}*")
    lines += rendered.text.splitlines()
    if rendered.footer:
        lines.append(f"_{rendered.footer}_")
    choices = [Choice("quick_reply", b.payload or b.text, b.text) for b in rendered.buttons if b.type == "quick_reply"]
    lines += [f"[{b.text}]" for b in rendered.buttons if b.type != "quick_reply"]
    if rendered.category == "authentication":
        lines.append(f"({SANDBOX_CODE})")
    return Shown(lines + _numbered(choices), choices)
