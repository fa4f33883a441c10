"""Conversation transcripts (`tests/transcripts/*.yaml`): a chat as written, played against the real app offline.

A transcript says what the customer writes or taps and what the bot is expected to send, with slots,
the session and stored records asserted in between. It runs on a fresh temporary SQLite database
(migrated), the real flows and templates, the real webhook, dispatcher, flow runner, one-time code
service and sender (into a recording transport instead of Meta), under a virtual clock that `wait:`
moves forward so timeouts, the 24-hour window and reminders happen without waiting. Actions run for
real unless the transcript stubs them. A failing transcript answers a diff: every line up to the first
mismatch, with what was expected and what came, each at its line in the file.
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jinja2 import Environment, StrictUndefined, TemplateError

from bot import keys
from bot.actions import ACTIONS, ActionContext
from bot.app import create_app
from bot.cloudapi import RecordingTransport
from bot.conversation_state import State
from bot.engine import Engine
from bot.errors import BotError
from bot.flow import Flow, Position
from bot.flow_file import load_flows, parse_duration
from bot.flow_runner import FlowRunner
from bot.metrics import Metrics
from bot.rehearsal import VirtualClock, customer_message, customer_webhook, run_until_idle
from bot.settings import SANDBOX_PHONE_NUMBER_ID, Settings
from bot.signature import sign
from bot.templates import TemplateLibrary
from bot.validate import VALIDATORS
from bot.yaml_file import Problem, load_yaml, node_position
from storage import session as sessions
from storage.repository import Repository

SUFFIX = ".yaml"
DEFAULT_FOLDER = Path("tests/transcripts")
DEFAULT_NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
DEFAULT_WA_ID = "31612345678"
TOP_KEYS = ("transcript", "flows", "templates", "now", "timezone", "contact", "given", "stub", "xfail", "steps")
ACTING = ("customer", "customer taps", "customer sends", "agent", "wait", "release")
EXPECTING = ("bot", "expect slots", "expect session", "expect records")
BOT_KEYS = ("text", "text_contains", "choose", "buttons", "list", "options", "button", "template", "values", "not_sent")
SESSION_KEYS = ("flow", "step", "handed_off", "attempts")
SENDS: dict[str, dict[str, Any]] = {
    "image": {"id": "media.1", "mime_type": "image/jpeg"},
    "sticker": {"id": "media.2", "mime_type": "image/webp"},
    "audio": {"id": "media.3", "mime_type": "audio/ogg"},
    "video": {"id": "media.4", "mime_type": "video/mp4"},
    "document": {"id": "media.5", "mime_type": "application/pdf", "filename": "file.pdf"},
    "location": {"latitude": 52.3731, "longitude": 4.8922},
    "reaction": {"message_id": "wamid.bot", "emoji": "👍"},
}
# What `given:` creates, through the admin API the business uses for it.
GIVEN = {
    "orders": ("POST", "/api/orders"),
    "appointments": ("POST", "/api/appointments"),
    "accounts": ("PUT", "/api/accounts/{wa_id}"),
}
# What `expect records:` reads, through the admin API's own reads.
RECORDS = {
    "conversations": "/api/conversations?wa_id={wa_id}",
    "messages": "/api/messages?wa_id={wa_id}",
    "appointments": "/api/appointments?wa_id={wa_id}",
    "contact": "/api/contacts/{wa_id}",
    "handoffs": "/api/handoffs",
}
MAX_ROUNDS = 100  # sender rounds per settle, and stops per wait: a runaway loop ends the transcript
UNSET = "<unset>"

# The transcript's own app: a made-up Meta account that only the recording transport ever hears from.
ADMIN_TOKEN = "transcript-admin-token"
APP_SECRET = "transcript-app-secret"
_LINES = Environment(undefined=StrictUndefined, autoescape=False)


class TranscriptError(BotError):
    """A transcript that cannot be read or played as written; the message starts with `path:line:col:`."""

    code = "transcript_error"


# --- the format -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One line of the chat: its kind (the key), its value, where it was written, and its source text."""

    kind: str
    value: Any
    line: int
    source: str = ""  # a scalar's text as written (the customer's words stay text: 0042 is not 42)

    def shown(self) -> str:
        return f"{self.kind}: {self.source}" if self.source else f"{self.kind}: {_yaml(self.value)}"


@dataclass(frozen=True)
class Stub:
    """A canned result for an action: the value it returns, or the error it raises."""

    returns: Any = None
    raises: str | None = None

    async def __call__(self, ctx: ActionContext, args: Mapping[str, str]) -> Any:
        if self.raises is not None:
            raise BotError(self.raises)
        return self.returns


@dataclass(frozen=True)
class Transcript:
    path: Path
    title: str
    steps: tuple[Step, ...]
    flows: Path = Path("flows")
    templates: Path = Path("templates")
    now: datetime = DEFAULT_NOW
    timezone: str = "UTC"
    wa_id: str = DEFAULT_WA_ID
    name: str | None = None
    given: Mapping[str, Sequence[tuple[int, Mapping[str, Any]]]] = field(default_factory=dict)
    stubs: Mapping[str, Stub] = field(default_factory=dict)
    xfail: str | None = None


def transcript_files(paths: Sequence[Path]) -> list[Path]:
    """The transcript files named, folders read for their `*.yaml` files, sorted so reports are stable."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob(f"*{SUFFIX}")) if path.is_dir() else [path]
    return found


def load_transcript(path: Path) -> Transcript:
    """Read one transcript file; anything wrong is a `TranscriptError` at its line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError(f"{path}:1:1: cannot read the file: {exc}") from None
    loaded = load_yaml(path, text)
    if isinstance(loaded, Problem):
        raise TranscriptError(loaded.located)
    node, data = loaded
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise TranscriptError(f"{path}:1:1: a transcript is a mapping with 'transcript' and 'steps'")
    return _Reader(path, node, data).transcript()


class _Reader:
    """Builds a `Transcript` from the parsed file, pointing every complaint at the node at fault."""

    def __init__(self, path: Path, node: yaml.MappingNode, data: dict[Any, Any]) -> None:
        self.path, self.data = path, data
        self.nodes = {str(k.value): (k, v) for k, v in node.value}

    def fail(self, node: yaml.Node | None, message: str) -> TranscriptError:
        where = node_position(node) if node is not None else Position(1, 1)
        return TranscriptError(f"{self.path}:{where.line}:{where.column}: {message}")

    def value(self, key: str) -> yaml.Node | None:
        return self.nodes[key][1] if key in self.nodes else None

    def transcript(self) -> Transcript:
        for key, (key_node, _) in self.nodes.items():
            if key not in TOP_KEYS:
                raise self.fail(key_node, f"unknown key {key!r}; allowed keys: {', '.join(TOP_KEYS)}")
        title = self.data.get("transcript")
        if not isinstance(title, str) or not title.strip():
            raise self.fail(self.value("transcript"), "'transcript' names what this chat shows, e.g. 'order status'")
        wa_id, name = self._contact()
        return Transcript(
            path=self.path,
            title=title.strip(),
            steps=self._steps(),
            flows=Path(self._text("flows", "flows")),
            templates=Path(self._text("templates", "templates")),
            now=self._now(),
            timezone=self._zone(),
            wa_id=wa_id,
            name=name,
            given=self._given(),
            stubs=self._stubs(),
            xfail=self._text("xfail", "") or None,
        )

    def _text(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(self.value(key), f"'{key}' must be text")
        return value

    def _now(self) -> datetime:
        value = self.data.get("now", DEFAULT_NOW)
        try:
            now = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            raise self.fail(self.value("now"), "'now' is a time with its UTC offset, e.g. 2026-04-10T12:00:00+02:00")
        return now.astimezone(UTC)

    def _zone(self) -> str:
        zone = self._text("timezone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(self.value("timezone"), f"'timezone' {zone!r} is not an IANA time zone") from None
        return zone

    def _contact(self) -> tuple[str, str | None]:
        contact = self.data.get("contact", {})
        if not isinstance(contact, dict) or set(contact) - {"wa_id", "name"}:
            raise self.fail(self.value("contact"), "'contact' is {wa_id: DIGITS, name: NAME}, both optional")
        wa_id = str(contact.get("wa_id", DEFAULT_WA_ID))
        if not wa_id.isdigit():
            raise self.fail(self.value("contact"), "the contact's wa_id is the phone number's digits")
        name = contact.get("name")
        return wa_id, None if name is None else str(name)

    def _given(self) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
        given, node = self.data.get("given", {}), self.value("given")
        if not isinstance(given, dict) or not isinstance(node, yaml.MappingNode | type(None)):
            raise self.fail(node, f"'given' maps {', '.join(GIVEN)} to lists of records")
        read: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for key_node, items_node in node.value if node is not None else []:
            kind, items = str(key_node.value), given[key_node.value]
            if kind not in GIVEN:
                raise self.fail(key_node, f"unknown records {kind!r}; 'given' knows {', '.join(GIVEN)}")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise self.fail(items_node, f"'{kind}' is a list of records, each a mapping")
            read[kind] = [(n.start_mark.line + 1, item) for n, item in zip(items_node.value, items, strict=True)]
        return read

    def _stubs(self) -> dict[str, Stub]:
        stubs, node = self.data.get("stub", {}), self.value("stub")
        if not isinstance(stubs, dict):
            raise self.fail(node, "'stub' maps action names to {returns: VALUE} or {raises: MESSAGE}")
        read = {}
        for name, stub in stubs.items():
            where = (
                next((k for k, _ in node.value if k.value == name), node)
                if isinstance(node, yaml.MappingNode)
                else node
            )
            if name not in ACTIONS:
                raise self.fail(where, f"no action {name!r} to stub; actions: {', '.join(sorted(ACTIONS))}")
            if not isinstance(stub, dict) or len(stub) != 1 or not set(stub) <= {"returns", "raises"}:
                raise self.fail(where, f"stub {name!r} is {{returns: VALUE}} or {{raises: MESSAGE}}")
            read[str(name)] = Stub(stub.get("returns"), str(stub["raises"]) if "raises" in stub else None)
        return read

    def _steps(self) -> tuple[Step, ...]:
        node, steps = self.value("steps"), self.data.get("steps")
        if not isinstance(node, yaml.SequenceNode) or not isinstance(steps, list) or not steps:
            raise self.fail(node, "'steps' is a list of chat lines: customer, bot, wait, expect …")
        return tuple(self._step(n, s) for n, s in zip(node.value, steps, strict=True))

    def _step(self, node: yaml.Node, data: Any) -> Step:
        if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict) or len(data) != 1:
            raise self.fail(node, f"a step is one of {', '.join((*ACTING, *EXPECTING))}, with its value")
        [(key_node, value_node)] = node.value
        [(kind, value)] = data.items()
        line = key_node.start_mark.line + 1
        if kind not in ACTING and kind not in EXPECTING:
            raise self.fail(key_node, f"unknown step {kind!r}; steps: {', '.join((*ACTING, *EXPECTING))}")
        source = ""
        if isinstance(value_node, yaml.ScalarNode):  # plain text as written; quoted text re-quoted on one line
            source = value_node.value if value_node.style is None else _yaml(value)
        problem = _step_problem(kind, value)
        if problem:
            raise self.fail(value_node, problem)
        if kind in ("customer", "customer taps", "agent") and isinstance(value_node, yaml.ScalarNode):
            value = str(value_node.value)
        return Step(kind, value, line, source)


def _step_problem(kind: str, value: Any) -> str | None:
    """What is wrong with a step's value, or None."""
    if kind in ("customer", "customer taps") and (value is None or isinstance(value, dict | list)):
        return f"'{kind}' is followed by the text"
    if kind == "agent" and not (
        isinstance(value, str | int | float)
        or (isinstance(value, dict) and set(value) == {"text", "refused"} and isinstance(value["text"], str))
    ):
        return "'agent' is followed by the text, or {text: TEXT, refused: CODE} when the API must refuse it"
    if kind == "customer sends" and value not in SENDS:
        return f"'customer sends' is one of {', '.join(SENDS)}"
    if kind == "wait" and not (isinstance(value, str) and parse_duration(value)):
        return "'wait' is a duration: 30s, 10m, 2h or 1d"
    if kind == "release" and value is not True:
        return "write 'release: true' to release a handed-off chat back to the bot"
    if kind == "bot":
        return _bot_problem(value)
    if kind == "expect slots" and not isinstance(value, dict):
        return "'expect slots' maps slot names to their values"
    if kind == "expect session" and not (isinstance(value, dict) and set(value) <= set(SESSION_KEYS)):
        return f"'expect session' maps some of {', '.join(SESSION_KEYS)} to their values"
    if kind == "expect records" and not (isinstance(value, dict) and set(value) <= set(RECORDS)):
        return f"'expect records' maps some of {', '.join(RECORDS)} to what they hold"
    return None


def _bot_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, dict) or not value or set(value) - set(BOT_KEYS):
        return f"'bot' is a text, nothing, ..., or a mapping of {', '.join(BOT_KEYS)}"
    heads = [k for k in ("text", "text_contains", "choose", "buttons", "list", "template", "not_sent") if k in value]
    if len(heads) != 1:
        return "a bot message is one of text, text_contains, choose (buttons, list), template or not_sent"
    options = value.get("options")
    if options is not None and not (
        isinstance(options, list) and all(isinstance(o, str) or (isinstance(o, dict) and len(o) == 1) for o in options)
    ):
        return "options are ids, or {id: title}"
    if "values" in value and not isinstance(value["values"], dict):
        return "a template's values map its parameter names to their texts"
    return None


# --- what the bot sent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message the customer received (or one the sender refused), read from the Cloud API body."""

    kind: Literal["text", "buttons", "list", "template", "not_sent"]
    text: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (id, title)
    button: str | None = None  # a list's button label
    template: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    code: str | None = None  # an authentication template's code: never shown, only typed back

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Message:
        kind = body.get("type")
        if kind == "interactive":
            interactive = body["interactive"]
            text, action = interactive.get("body", {}).get("text", ""), interactive.get("action", {})
            if interactive.get("type") == "list":
                rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
                return cls("list", text, tuple((r["id"], r["title"]) for r in rows), button=action.get("button"))
            buttons = [b["reply"] for b in action.get("buttons", [])]
            return cls("buttons", text, tuple((b["id"], b["title"]) for b in buttons))
        if kind == "template":
            template = body["template"]
            values: dict[str, str] = {}
            positional: list[str] = []
            for component in template.get("components", []):
                if component.get("type") in ("header", "body"):
                    for parameter in component.get("parameters", []):
                        if "parameter_name" in parameter:
                            values[parameter["parameter_name"]] = str(parameter.get("text"))
                        else:
                            positional.append(str(parameter.get("text")))
            # Authentication templates carry the code as their one positional body parameter.
            return cls("template", template=template["name"], values=values, code=positional[0] if positional else None)
        return cls("text", str(body.get("text", {}).get("body", "")))

    def shown(self, like: Mapping[str, Any] | None = None) -> str:
        """This message as a `bot:` line, in the shape of the expectation it is compared with."""
        like = like or {}
        if self.kind == "text":
            return f"bot: {_yaml(self.text)}"
        if self.kind == "not_sent":
            return f"bot: {_yaml({'not_sent': self.text})}"
        if self.kind == "template":
            shown: dict[str, Any] = {"template": self.template}
            if self.values and self.code is None:
                shown["values"] = dict(self.values)
            return f"bot: {_yaml(shown)}"
        titled = any(isinstance(o, dict) for o in like.get("options") or [])
        options = [{i: t} if titled else i for i, t in self.options]
        shown = {self.kind: self.text, "options": options}
        if self.kind == "list" and "button" in like:
            shown["button"] = self.button
        return f"bot: {_yaml(shown)}"

    def offers(self, wanted: str) -> tuple[str, str] | None:
        """The (id, title) of the option with this id, else with this title."""
        return next((o for o in self.options if o[0] == wanted), None) or next(
            (o for o in self.options if o[1].casefold() == wanted.casefold()), None
        )


def matches(expected: Any, message: Message) -> bool:
    """Whether a `bot:` expectation (text or mapping) describes this message."""
    if isinstance(expected, str):
        return message.kind == "text" and message.text == expected
    if "not_sent" in expected:
        return message.kind == "not_sent" and message.text == expected["not_sent"]
    if "text" in expected:
        return message.kind == "text" and message.text == str(expected["text"])
    if "text_contains" in expected:
        return message.kind in ("text", "buttons", "list") and str(expected["text_contains"]) in message.text
    if "template" in expected:
        wanted = {k: str(v) for k, v in (expected.get("values") or {}).items()}
        return message.template == expected["template"] and all(message.values.get(k) == v for k, v in wanted.items())
    head = next(k for k in ("choose", "buttons", "list") if k in expected)
    if message.kind not in ("buttons", "list") or (head != "choose" and message.kind != head):
        return False
    if expected[head] not in (None, "...") and message.text != str(expected[head]):
        return False
    if "button" in expected and message.button != expected["button"]:
        return False
    options = expected.get("options")
    if options is None:
        return True
    wanted_options = [next(iter(o.items())) if isinstance(o, dict) else (o, None) for o in options]
    return len(wanted_options) == len(message.options) and all(
        str(i) == got_id and (t is None or str(t) == got_title)
        for (i, t), (got_id, got_title) in zip(wanted_options, message.options, strict=True)
    )


def agrees(expected: Any, actual: Any) -> bool:
    """Whether a stored value agrees with what a transcript expects: mappings by the keys given, lists in full."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k not in actual if v == UNSET else k in actual and agrees(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(agrees(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, datetime | date) and isinstance(actual, str):
        try:
            return datetime.fromisoformat(actual) == expected
        except ValueError:
            return False
    return bool(expected == actual)


def _projected(expected: Any, actual: Any) -> Any:
    """`actual` cut to the shape of `expected`, so a diff shows only what the transcript asked about."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: _projected(v, actual[k]) if k in actual else UNSET for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list):
        shape = expected[0] if expected else None
        return [_projected(expected[i] if i < len(expected) else shape, a) for i, a in enumerate(actual)]
    return actual


def _yaml(value: Any) -> str:
    """A value as one line of YAML (flow style), the way a transcript would write it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**9)
    text = text.removesuffix("\n").removesuffix("\n...").strip()
    # Text with line breaks folds over several lines in YAML; JSON (which YAML reads too) keeps it on one.
    return json.dumps(_jsonable(value), ensure_ascii=False) if "\n" in text else text


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# --- playing a transcript ---------------------------------------------------------------------------


class _Mismatch(Exception):
    """The chat went otherwise than written: stop here, the lines so far show where."""


@dataclass(frozen=True)
class Result:
    """How a transcript went: `ok` when it played as written; `report` the diff (or the error) when not."""

    path: Path
    title: str
    ok: bool
    report: str = ""
    xfail: str | None = None

    @property
    def passed(self) -> bool:
        """Played as written, or failed as its `xfail:` says it does (a bug written down, not yet fixed)."""
        return self.ok != bool(self.xfail)

    @property
    def status(self) -> str:
        if self.xfail:
            return "XPASS" if self.ok else "xfail"
        return "ok" if self.ok else "FAILED"


class Workshop:
    """What the transcripts of one run share: flows and templates read once per folder, one migrated database.

    Each transcript still gets a database of its own, copied from the migrated one, so no state passes
    from one transcript to the next; only the slow parts (migrations, reading content) happen once.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="bot-transcripts-")
        self._migrated: Path | None = None
        self._content: dict[tuple[Path, Path], tuple[dict[str, Flow], TemplateLibrary]] = {}

    def close(self) -> None:
        self._folder.cleanup()

    async def database(self, into: Path) -> str:
        """A fresh, migrated SQLite database in `into`, as a URL."""
        if self._migrated is None:
            migrated = Path(self._folder.name) / "migrated.db"
            repository = Repository.connect(f"sqlite+aiosqlite:///{migrated}")
            try:
                await repository.migrate()
            finally:
                await repository.close()
            self._migrated = migrated
        target = into / "bot.db"
        for suffix in ("", "-wal"):  # a write-ahead log left behind holds part of the schema
            if self._migrated.with_name(self._migrated.name + suffix).exists():
                shutil.copyfile(self._migrated.with_name(self._migrated.name + suffix), f"{target}{suffix}")
        return f"sqlite+aiosqlite:///{target}"

    def content(self, transcript: Transcript) -> tuple[dict[str, Flow], TemplateLibrary]:
        """The flows and templates the transcript names, read as `bot serve` reads them: any error stops it."""
        key = (transcript.flows.resolve(), transcript.templates.resolve())
        if key not in self._content:
            self._content[key] = _content(transcript)
        return self._content[key]


async def run_transcript(path: Path, workshop: Workshop | None = None) -> Result:
    """Play one transcript file against the real app on a fresh temporary database."""
    try:
        transcript = load_transcript(path)
    except TranscriptError as exc:
        return Result(path, path.stem, ok=False, report=str(exc))
    own = workshop is None
    workshop = workshop or Workshop()
    try:
        return await _play(transcript, workshop)
    except TranscriptError as exc:
        return Result(path, transcript.title, ok=False, report=str(exc), xfail=transcript.xfail)
    finally:
        if own:
            workshop.close()


async def _play(transcript: Transcript, workshop: Workshop) -> Result:
    flows, library = workshop.content(transcript)
    runner = None
    if transcript.stubs:
        engine = Engine(flows, zone=ZoneInfo(transcript.timezone), validators=VALIDATORS)
        runner = FlowRunner(engine, library, actions={**ACTIONS, **transcript.stubs})
    clock, transport = VirtualClock(transcript.now), RecordingTransport()
    with tempfile.TemporaryDirectory(prefix="bot-transcript-") as folder:
        settings = Settings(
            database_url=await workshop.database(Path(folder)),
            phone_number_id=SANDBOX_PHONE_NUMBER_ID,
            api_url="http://127.0.0.1:9/offline",
            api_version="v25.0",
            business_timezone=transcript.timezone,
            throughput=1000,
            admin_token=ADMIN_TOKEN,
            secret_key="transcript-secret-key",
            access_token="transcript-access-token",
            app_secret=APP_SECRET,
            verify_token="transcript-verify-token",
        )
        app = create_app(
            settings,
            clock=clock,
            transport=transport,
            handler=runner,
            roles={"web"},
            migrate=False,
            flows=flows,
            templates=library,
        )
        async with TestClient(TestServer(app)) as client:
            if runner is not None:
                runner.otp = app[keys.OTP]  # the app's code service exists once the app has started
            chat = _Chat(transcript, app, client, clock, transport)
            ok = await chat.play()
    return Result(transcript.path, transcript.title, ok, "" if ok else chat.diff(), transcript.xfail)


def _content(transcript: Transcript) -> tuple[dict[str, Flow], TemplateLibrary]:
    flows, problems = load_flows(transcript.flows)
    errors = [str(p) for p in problems if p.severity == "error"]
    if errors or not flows:
        found = "\n".join(errors) or f"no flows in {transcript.flows}"
        raise TranscriptError(f"{transcript.path}:1:1: the flows cannot be loaded (run `bot check`):\n{found}")
    try:
        library = TemplateLibrary.load(transcript.templates)
    except BotError as exc:
        raise TranscriptError(f"{transcript.path}:1:1: the templates cannot be loaded: {exc.message}") from None
    return flows, library


class _Chat:
    """One transcript being played: the customer's side driven through the webhook, the bot's side read back."""

    def __init__(
        self,
        transcript: Transcript,
        app: web.Application,
        client: TestClient[web.Request, web.Application],
        clock: VirtualClock,
        transport: RecordingTransport,
    ) -> None:
        self.t, self.app, self.client, self.clock, self.transport = transcript, app, client, clock, transport
        self.auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.expected: list[str] = []
        self.got: list[str] = []
        self.pending: list[Message] = []  # the bot's messages no `bot:` line has matched yet
        self.shown: list[Message] = []  # every message the customer received, for taps and codes
        self.seen_requests = 0
        self.unsent: Counter[str] = Counter()
        self.wamids = count(1)

    # -- the report --

    def where(self, line: int) -> str:
        return f"{_display(self.t.path)}:{line}: "

    def same(self, line: int, text: str) -> None:
        self.expected.append(self.where(line) + text)
        self.got.append(self.where(line) + text)

    def differ(self, line: int, expected: str | None, got: Sequence[str]) -> _Mismatch:
        if expected is not None:
            self.expected.append(self.where(line) + expected)
        self.got += [self.where(line) + g for g in got] or [self.where(line) + "bot: nothing"]
        return _Mismatch()

    def diff(self) -> str:
        lines = list(
            difflib.unified_diff(self.expected, self.got, "expected", "got", n=len(self.expected), lineterm="")
        )
        return "\n".join(lines or [*self.expected[:-1], f"{self.expected[-1]}  # not as expected"])

    # -- the chat --

    async def play(self) -> bool:
        try:
            await self.give()
            for step in self.t.steps:
                if step.kind in ACTING:
                    self.no_more(step.line)
                    await self.act(step)
                else:
                    await self.check(step)
            self.no_more(self.t.steps[-1].line + 1)
        except _Mismatch:
            return False
        return True

    async def give(self) -> None:
        """Create the `given:` records through the admin API; what they send goes out before the chat starts."""
        for kind, items in self.t.given.items():
            method, route = GIVEN[kind]
            for line, item in items:
                body = {"wa_id": self.t.wa_id, **({"name": self.t.name} if self.t.name else {}), **_jsonable(item)}
                url = route.format(wa_id=body["wa_id"])
                response = await self.client.request(method, url, json=body, headers=self.auth)
                if response.status >= 300:
                    error = (await response.json()).get("error", {})
                    message = error.get("message", response.reason)
                    raise TranscriptError(f"{_display(self.t.path)}:{line}:1: given {kind}: {message}")
        await self.settle()
        self.pending.clear()
        self.shown.clear()

    def no_more(self, line: int) -> None:
        """Every message so far must have been matched before the chat goes on."""
        if self.pending:
            raise self.differ(line, None, [f"{m.shown()}  # unexpected" for m in self.pending])

    async def act(self, step: Step) -> None:
        if step.kind == "customer":
            self.same(step.line, step.shown())
            await self.inbound("text", {"body": self.words(step)})
        elif step.kind == "customer taps":
            await self.tap(step)
        elif step.kind == "customer sends":
            self.same(step.line, step.shown())
            await self.inbound(str(step.value), SENDS[str(step.value)])
        elif step.kind == "agent":
            await self.agent(step)
        elif step.kind == "wait":
            self.same(step.line, step.shown())
            await self.wait(_duration(step))
        else:
            response = await self.api("POST", f"/api/conversations/{self.t.wa_id}/release")
            if not response.get("released"):
                raise self.differ(step.line, step.shown(), ["release: false  # nothing was handed off"])
            self.same(step.line, step.shown())
            await self.settle()

    def words(self, step: Step) -> str:
        """The customer's text, with `{{ last_code }}` (the latest one-time code) filled in."""
        text = str(step.value)
        if "{{" not in text:
            return text
        codes = [m.code for m in self.shown if m.code]
        names: dict[str, Any] = {"contact": {"wa_id": self.t.wa_id, "name": self.t.name}}
        if codes:
            names["last_code"] = codes[-1]
        try:
            return _LINES.from_string(text).render(names)
        except TemplateError as exc:
            hint = " (no one-time code was sent yet)" if "last_code" in str(exc) else ""
            raise TranscriptError(f"{_display(self.t.path)}:{step.line}:1: {exc}{hint}") from None

    async def tap(self, step: Step) -> None:
        """The customer taps a button or list row, found by id or title in the latest message that offers it."""
        wanted = str(step.value)
        for message in reversed(self.shown):
            chosen = message.offers(wanted)
            if chosen is not None:
                self.same(step.line, step.shown())
                kind = "button_reply" if message.kind == "buttons" else "list_reply"
                await self.inbound("interactive", {"type": kind, kind: {"id": chosen[0], "title": chosen[1]}})
                return
        menus = [m for m in self.shown if m.options]
        offered = ", ".join(i for i, _ in menus[-1].options) if menus else "nothing"
        raise self.differ(step.line, step.shown(), [f"{step.shown()}  # not offered; the last menu had: {offered}"])

    async def agent(self, step: Step) -> None:
        """A person replies through the handoff API (or is refused); their message is theirs, not the bot's."""
        text = str(step.value["text"] if isinstance(step.value, dict) else step.value)
        refusal = step.value.get("refused") if isinstance(step.value, dict) else None
        response = await self.client.post(
            f"/api/conversations/{self.t.wa_id}/reply", json={"text": text}, headers=self.auth
        )
        refused = (await response.json()).get("error", {}).get("code") if response.status >= 300 else None
        if refused != refusal:
            shown = f"agent: {_yaml({'text': text, 'refused': refused})}" if refused else f"agent: {_yaml(text)}"
            raise self.differ(step.line, step.shown(), [shown])
        self.same(step.line, step.shown())
        await self.settle()
        mine = next((m for m in self.pending if m.kind == "text" and m.text == text.strip()), None)
        if mine is not None:
            self.pending.remove(mine)

    async def inbound(self, kind: str, content: Mapping[str, Any]) -> None:
        """A signed Meta webhook carrying one customer message, then the turn it causes."""
        wamid = f"wamid.transcript.{next(self.wamids)}"
        message = customer_message(kind, content)
        payload = customer_webhook(message, wa_id=self.t.wa_id, name=self.t.name, wamid=wamid, now=self.clock())
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"}
        response = await self.client.post("/webhook", data=body, headers=headers)
        if response.status != 200:
            raise TranscriptError(f"{_display(self.t.path)}:1:1: the webhook answered {response.status}")
        await self.settle()

    async def wait(self, delta: timedelta) -> None:
        """Move the clock, stopping at each session deadline and queued message on the way, as time would."""
        target = self.clock() + delta
        for _ in range(MAX_ROUNDS):
            state = await self.state()
            due = [state.deadline, state.expires_at if state.flow else None, await self.next_queued()]
            self.clock.now = min([t for t in due if t is not None and self.clock() < t < target], default=target)
            await self.settle()
            if self.clock() >= target:
                return

    async def next_queued(self) -> datetime | None:
        """When the next queued message falls due (a reminder, a retry), so `wait` stops there to send it."""
        return await self.app[keys.REPOSITORY].next_due_at(self.clock())

    async def settle(self) -> None:
        """Run the dispatcher once and the sender until it has nothing due; collect what the customer got."""
        await self.app[keys.DISPATCHER].run_once()
        await run_until_idle(self.app[keys.SENDER].run_once, MAX_ROUNDS)
        new = self.transport.requests[self.seen_requests :]
        self.seen_requests = len(self.transport.requests)
        got = [Message.from_body(r.json) for r in new if r.json.get("to") == self.t.wa_id and "type" in r.json]
        unsent = _unsent(self.app[keys.METRICS])
        got += [Message("not_sent", reason) for reason in (unsent - self.unsent).elements()]
        self.unsent = unsent
        self.pending += got
        self.shown += got

    # -- expectations --

    async def check(self, step: Step) -> None:
        if step.kind == "bot":
            self.expect_bot(step)
            return
        if step.kind == "expect slots":
            actual: Any = dict((await self.state()).slots)
        elif step.kind == "expect session":
            state = await self.state()
            actual = {
                "flow": state.flow,
                "step": state.step,
                "handed_off": state.handed_off,
                "attempts": state.attempts,
            }
        else:
            actual = {name: await self.record(name) for name in step.value}
        if not agrees(step.value, actual):
            raise self.differ(step.line, step.shown(), [f"{step.kind}: {_yaml(_projected(step.value, actual))}"])
        self.same(step.line, step.shown())

    def expect_bot(self, step: Step) -> None:
        value = step.value
        if value == "...":
            self.same(step.line, step.shown())
            self.pending.clear()
        elif value == "nothing":
            if self.pending:
                raise self.differ(step.line, step.shown(), [m.shown() for m in self.pending])
            self.same(step.line, step.shown())
        elif not self.pending:
            raise self.differ(step.line, step.shown(), [])
        elif matches(value, self.pending[0]):
            self.same(step.line, step.shown())
            self.pending.pop(0)
        else:
            raise self.differ(
                step.line, step.shown(), [self.pending[0].shown(value if isinstance(value, dict) else None)]
            )

    async def state(self) -> State:
        contact = await self.app[keys.REPOSITORY].contact_by_wa_id(self.t.wa_id)
        if contact is None or contact.id is None:
            return State()
        async with self.app[keys.REPOSITORY].engine.connect() as conn:
            found = await sessions.load_sessions(conn, [contact.id])
        row = found.get(contact.id)
        return State.from_row(row.model_dump() if row else None)

    async def record(self, name: str) -> Any:
        body = await self.api("GET", RECORDS[name].format(wa_id=self.t.wa_id))
        return body.get("items", body) if isinstance(body, dict) else body

    async def api(self, method: str, url: str) -> Any:
        response = await self.client.request(method, url, headers=self.auth)
        return await response.json()


def _unsent(metrics: Metrics) -> Counter[str]:
    """Messages the sender settled unsent so far, by reason (outside_service_window, undeliverable, …)."""
    counts: Counter[str] = Counter()
    for family in (metrics.failed, metrics.dropped):
        for metric in family.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    counts[sample.labels["reason"]] += int(sample.value)
    return counts


def _duration(step: Step) -> timedelta:
    duration = parse_duration(str(step.value))
    assert duration is not None  # the reader checked it
    return duration


def _display(path: Path) -> str:
    """The path as the person typed it, relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- the report -------------------------------------------------------------------------------------


async def run_transcripts(paths: Sequence[Path]) -> list[Result]:
    """Play each transcript in turn; one that crashes is reported as failed and the others still run."""
    results = []
    workshop = Workshop()
    try:
        for path in paths:
            try:
                results.append(await run_transcript(path, workshop))
            except Exception as exc:  # the command's top-level loop: report it and go on
                results.append(Result(path, path.stem, ok=False, report=f"crashed: {type(exc).__name__}: {exc}"))
    finally:
        workshop.close()
    return results


def report(results: Sequence[Result]) -> tuple[str, bool]:
    """One line per transcript (a failure followed by its diff), then a summary; and whether all passed."""
    lines = []
    for result in results:
        lines.append(f"{result.status:<6} {_display(result.path)}  {result.title}")
        if result.xfail:
            lines.append(f"       known bug: {result.xfail}")
        if not result.passed and result.report:
            lines += ["    " + line for line in result.report.splitlines()]
    tally = Counter(r.status for r in results)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
    lines.append(f"{len(results)} transcripts: {summary or 'none found'}")
    return "\n".join(lines), all(r.passed for r in results) and bool(results)
