"""Transcript files (`tests/transcripts/*.yaml`): the chat as written, read with every complaint at its line.

A transcript says what the customer writes or taps and what the bot is expected to send, with slots,
the session and stored records asserted in between; `bot.devtools.transcript` plays it. Reading checks the whole
format up front, so a mistake in the file is a `TranscriptError` at its line and column, not a failure
halfway through the chat.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.engine.flow_file import parse_duration
from bot.errors import BotError
from bot.inbound.actions import ActionContext
from bot.inbound.endpoint_call import CANNED_FORMS, Canned, canned_answer
from bot.inbound.plugin import load_plugins
from bot.settings import project_path
from bot.yaml_file import Position, Problem, load_yaml, node_position, unknown_key

SUFFIX = ".yaml"
DEFAULT_FOLDER = Path("tests/transcripts")  # in the bot project: `bot test` runs these
DEFAULT_NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
DEFAULT_WA_ID = "31612345678"
TOP_KEYS = (
    "transcript",
    "flows",
    "templates",
    "now",
    "time_zone",
    "contact",
    "given",
    "stub",
    "endpoints",
    "xfail",
    "steps",
)
OLD_KEYS = {"timezone": "time_zone"}  # still read, with a deprecation warning on standard error
ACTING = ("customer", "customer taps", "customer sends", "customer submits", "agent", "wait", "release")
EXPECTING = ("bot", "expect slots", "expect session", "expect records")
CONTACT_KEYS = ("wa_id", "name", "language", "time_zone")
MEDIA_HEADS = ("image", "document", "video", "audio")
BOT_HEADS = (
    "text",
    "text_contains",
    "choose",
    "buttons",
    "list",
    "link",
    "location_request",
    "template",
    "not_sent",
    *MEDIA_HEADS,
)
BOT_KEYS = ("form", *BOT_HEADS, "options", "button", "url", "values", "caption", "filename")
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
        return f"{self.kind}: {self.source}" if self.source else f"{self.kind}: {one_line(self.value)}"


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
    business_zone: str = "UTC"  # the file's `time_zone`: BOT_TIMEZONE for this chat
    wa_id: str = DEFAULT_WA_ID
    name: str | None = None
    language: str | None = None  # the contact's, stored through the admin API before the chat
    time_zone: str | None = None
    given: Mapping[str, Sequence[tuple[int, Mapping[str, Any]]]] = field(default_factory=dict)
    stubs: Mapping[str, Stub] = field(default_factory=dict)
    endpoints: Mapping[str, Canned] = field(default_factory=dict)  # canned answers by endpoint name
    xfail: str | None = None


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def transcript_files(paths: Sequence[Path]) -> list[Path]:
    """The transcript files named, folders read for their `*.yaml` files, sorted so reports are stable."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob(f"*{SUFFIX}")) if path.is_dir() else [path]
    return found


def load_transcript(path: Path, project: Path = Path()) -> Transcript:
    """Read one transcript file; anything wrong is a `TranscriptError` at its line and column.

    Its `flows` and `templates` (default `flows` and `templates`) are folders of the bot project `project`.
    """
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
    return _Reader(path, node, data, project).transcript()


class _Reader:
    """Builds a `Transcript` from the parsed file, pointing every complaint at the node at fault."""

    def __init__(self, path: Path, node: yaml.MappingNode, data: dict[Any, Any], project: Path) -> None:
        self.path, self.data, self.project = path, data, project
        self.nodes = {str(k.value): (k, v) for k, v in node.value}

    def fail(self, node: yaml.Node | None, message: str) -> TranscriptError:
        where = node_position(node) if node is not None else Position(1, 1)
        return TranscriptError(f"{self.path}:{where.line}:{where.column}: {message}")

    def value(self, key: str) -> yaml.Node | None:
        return self.nodes[key][1] if key in self.nodes else None

    def transcript(self) -> Transcript:
        for key, (key_node, _) in list(self.nodes.items()):
            if key in OLD_KEYS:
                self.deprecated(key_node, key)
            elif key not in TOP_KEYS:
                raise self.fail(key_node, unknown_key(key, TOP_KEYS))
        title = self.data.get("transcript")
        if not isinstance(title, str) or not title.strip():
            raise self.fail(self.value("transcript"), "'transcript' names what this chat shows, e.g. 'order status'")
        wa_id, name = self._contact()
        contact = self.data.get("contact", {})
        return Transcript(
            path=self.path,
            title=title.strip(),
            steps=self._steps(),
            flows=project_path(self.project, self._text("flows", "flows")),
            templates=project_path(self.project, self._text("templates", "templates")),
            now=self._now(),
            business_zone=self._zone(),
            wa_id=wa_id,
            name=name,
            language=_optional(contact.get("language")),
            time_zone=_optional(contact.get("time_zone")),
            given=self._given(),
            stubs=self._stubs(),
            endpoints=self._canned(),
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

    def deprecated(self, node: yaml.Node, key: str) -> None:
        """An old spelling still read: a warning on standard error, and an error when the new one is there too."""
        new = OLD_KEYS[key]
        if new in self.data:
            raise self.fail(node, f"{key!r} is the old name of {new!r}; keep only {new!r}")
        where = node_position(node)
        print(f"{self.path}:{where.line}:{where.column}: warning: {key!r} is now {new!r}", file=sys.stderr)
        self.data[new], self.nodes[new] = self.data[key], self.nodes[key]

    def _zone(self) -> str:
        zone = self._text("time_zone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(self.value("time_zone"), f"'time_zone' {zone!r} is not an IANA time zone") from None
        return zone

    def _contact(self) -> tuple[str, str | None]:
        contact = self.data.get("contact", {})
        if not isinstance(contact, dict) or set(contact) - set(CONTACT_KEYS):
            raise self.fail(
                self.value("contact"),
                "'contact' is {wa_id: DIGITS, name: NAME, language: CODE, time_zone: ZONE}, all optional",
            )
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
        read: dict[str, Stub] = {}
        actions = load_plugins().actions if stubs else {}
        for name, stub in stubs.items():
            where = (
                next((k for k, _ in node.value if k.value == name), node)
                if isinstance(node, yaml.MappingNode)
                else node
            )
            if name not in actions:
                raise self.fail(where, f"no action {name!r} to stub; actions: {', '.join(sorted(actions))}")
            if not isinstance(stub, dict) or len(stub) != 1 or not set(stub) <= {"returns", "raises"}:
                raise self.fail(where, f"stub {name!r} is {{returns: VALUE}} or {{raises: MESSAGE}}")
            read[str(name)] = Stub(stub.get("returns"), str(stub["raises"]) if "raises" in stub else None)
        return read

    def _canned(self) -> dict[str, Canned]:
        """Canned answers by endpoint: `{json: VALUE}`, `{status: 500}` (with `json` or `text`), `{timeout: true}`."""
        canned, node = self.data.get("endpoints", {}), self.value("endpoints")
        if not isinstance(canned, dict) or not isinstance(node, yaml.MappingNode | type(None)):
            raise self.fail(node, f"'endpoints' maps endpoint names to canned answers: {CANNED_FORMS}")
        read = {}
        for key_node, value_node in node.value if node is not None else []:
            answer = canned_answer(canned[key_node.value])
            if answer is None:
                raise self.fail(value_node, f"the canned answer of {key_node.value!r} is {CANNED_FORMS}")
            read[str(key_node.value)] = answer
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
            source = value_node.value if value_node.style is None else one_line(value)
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
    if kind == "customer submits" and not isinstance(value, dict):
        return "'customer submits' maps a form's fields to the answers (flow_token: to answer an older form)"
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
    heads = [k for k in BOT_HEADS if k in value]
    if "form" in value:  # a WhatsApp Flow: its name, and its text if given
        return None if set(value) <= {"form", "text"} else "a form is {form: NAME} or {form: NAME, text: TEXT}"
    if len(heads) != 1:
        return (
            "a bot message is one of text, text_contains, choose (buttons, list), link, location_request, form, "
            "template, not_sent or a file"
        )
    options = value.get("options")
    if options is not None and not (
        isinstance(options, list) and all(isinstance(o, str) or (isinstance(o, dict) and len(o) == 1) for o in options)
    ):
        return "options are ids, or {id: title}"
    if "values" in value and not isinstance(value["values"], dict):
        return "a template's values map its parameter names to their texts"
    return None


# --- values as a transcript writes them -------------------------------------------------------------


def one_line(value: Any) -> str:
    """A value as one line of YAML (flow style), the way a transcript would write it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**9)
    text = text.removesuffix("\n").removesuffix("\n...").strip()
    # Text with line breaks folds over several lines in YAML; JSON (which YAML reads too) keeps it on one.
    return json.dumps(jsonable(value), ensure_ascii=False) if "\n" in text else text


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
