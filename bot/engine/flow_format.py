"""The flow file format, declared once: each step kind with its keys, each key's kind of value and its words.

The reader (`bot.engine.flow_file`) takes its step kinds, their keys, what each requires and how each value is
read from `KINDS`; `flow_schema()` builds `flows/flow.schema.json` (for editors) from the same declarations and
the value shapes of `bot.engine.flow_shapes`. `bot schema` writes the file; a test keeps the committed one equal
to what these declarations give, so the format is never described twice by hand.

To add a step kind: its model in `bot.engine.flow`, one `Kind` below (its keys naming value kinds that
`VALUES` knows), then `bot schema`. A new kind of value is one entry in `VALUES` (its schema) and one reader in
`bot.engine.flow_file.VALUE_READERS`; flows/README.md says the same for flow authors' helpers.

Why one module of about 250 lines: it is the format's one declaration, a table of kinds and keys.
"""

# ruff: noqa: E501  (the descriptions are what editors show on hover; each is kept on one line)

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine.flow import (
    Act,
    AnyStep,
    Ask,
    Branch,
    Call,
    Choose,
    End,
    Form,
    Goto,
    Handoff,
    Http,
    Link,
    RequestLocation,
    Say,
    Verify,
)
from bot.engine.flow_shapes import SHAPES
from bot.language.words import INTENT_NAMES

SCHEMA_FILE = Path("flows") / "flow.schema.json"
ID_DESCRIPTION = "The step's id, unique in this flow; other steps name it in next, goto and on_… keys."


@dataclass(frozen=True)
class Key:
    """One key of a step: the kind of value it takes (a name in `VALUES`), what it means, and its model field."""

    value: str
    description: str
    field: str | None = None  # the model's name for it, where it differs from the key


@dataclass(frozen=True)
class Kind:
    """A step kind: its description, its model class and the field its own key fills, and its other keys."""

    name: str
    description: str
    model: Callable[..., AnyStep]
    field: str  # the model's field for the kind's own key (`say: Hi` fills `Say.text`)
    keys: Mapping[str, Key]  # the kind's own key first, then the rest
    required: tuple[str, ...] = ()  # keys it needs besides `id` and its own
    one_of: tuple[str, ...] = ()  # keys of which it needs at least one

    @property
    def allowed(self) -> tuple[str, ...]:
        return ("id", *self.keys)

    def field_of(self, key: str) -> str:
        """The model's field that `key` fills."""
        return self.field if key == self.name else self.keys[key].field or key


NEXT = Key("target", "The step after this one; without it the flow ends here.")
FOOTER = Key("footer", "A small text under the message; at most 60 characters.")
# The keys of a step that waits for the customer's answer (ask, choose).
WAITING: Mapping[str, Key] = {
    "reprompt": Key("text", "Said after an answer that does not fit, before asking again."),
    "max_attempts": Key("attempts", "How many answers that do not fit are allowed before `on_exhausted` (default 3)."),
    "on_exhausted": Key("target", "Where to go when the attempts run out; without it the flow ends politely."),
    "timeout": Key("duration", "How long to wait for an answer before `on_timeout`."),
    "on_timeout": Key(
        "target", "Where to go when no answer comes within `timeout`; without it the flow ends politely."
    ),
    "commands": Key(
        "flag", "Whether the global commands (menu, cancel, help, agent) work at this step (default true)."
    ),
}

KINDS: tuple[Kind, ...] = (
    Kind(
        "say",
        "Says a text, or sends a file, then goes on to `next`.",
        Say,
        "text",
        {
            "say": Key("say", "What the bot says, or the file it sends."),
            "next": NEXT,
        },
    ),
    Kind(
        "ask",
        "Asks a question and keeps the valid answer in `slot`.",
        Ask,
        "prompt",
        {
            "ask": Key("text", "The question."),
            "slot": Key("slot", "Where the valid answer is kept."),
            "validate": Key("validator", "How the answer is checked (default: text).", field="validator"),
            **WAITING,
            "next": NEXT,
        },
        required=("slot",),
    ),
    Kind(
        "choose",
        "Offers options: up to 3 as reply buttons, up to 10 as a list, more as a paged list.",
        Choose,
        "prompt",
        {
            "choose": Key("text", "The question above the options."),
            "options": Key("options", "The options, in order."),
            "options_from": Key(
                "slot",
                "A slot holding a list of {id, title, description?} (filled by an action), offered before `options`.",
            ),
            "slot": Key("slot", "Where the chosen option's id is kept."),
            "button": Key("label", 'The list\'s button label (default "Choose"); at most 20 characters.'),
            "header": Key(
                "header",
                "Above the question: a text, or an image, video or document (reply buttons only: 3 options or fewer, no options_from).",
            ),
            "footer": FOOTER,
            **WAITING,
            "next": Key(
                "target", "The step after a choice whose option has no `next` of its own; without it the flow ends."
            ),
        },
        one_of=("options", "options_from"),
    ),
    Kind(
        "request_location",
        "Asks for the customer's location with WhatsApp's \"Send location\" button; the place shared fills `slot`.",
        RequestLocation,
        "prompt",
        {
            "request_location": Key("text", 'The text above the "Send location" button (inline, not a template).'),
            "slot": Key("slot", "Where the shared place is kept: {latitude, longitude, name?, address?}."),
            **WAITING,
            "reprompt": Key(
                "text", 'Said with the "Send location" button again after a message that is not a location.'
            ),
            "next": Key("target", "The step after the customer shared a location; without it the flow ends."),
        },
        required=("slot",),
    ),
    Kind(
        "link",
        "A text with a call-to-action button that opens a URL, then goes on to `next`.",
        Link,
        "text",
        {
            "link": Key("text", "The text above the button (inline, not a template)."),
            "button": Key("label", "The button's title; at most 20 characters."),
            "url": Key("url", "What the button opens: an https:// address; Jinja over the slots."),
            "header": Key("header", "Above the text: a text, or an image, video or document."),
            "footer": FOOTER,
            "next": NEXT,
        },
        required=("button", "url"),
    ),
    Kind(
        "form",
        "Sends a WhatsApp Flow (a form on the customer's phone) and waits for its answer; each field fills the slot of its name.",
        Form,
        "prompt",
        {
            "form": Key("text", "The message's body, above the button that opens the form."),
            "flow_json": Key(
                "flow_json",
                "The project's Flow JSON, whatsapp_flows/<flow_json>.json; sent as the Flow's name unless flow_id is given.",
            ),
            "flow_id": Key("flow_id", "Meta's id of the published Flow (digits, quoted); sent instead of the name."),
            "cta": Key("cta", "The button that opens the form; at most 30 characters."),
            "screen": Key("screen", "The first screen's id (default: the Flow's first)."),
            "data": Key("texts", "The first screen's input data, each value Jinja over the slots."),
            "action": Key(
                "form_action",
                "navigate (default: open `screen` with `data`) or data_exchange (the Flow's endpoint decides).",
            ),
            "header": Key("header", "Above the body: a text, or an image, video or document."),
            "footer": FOOTER,
            "fields": Key(
                "fields", "The answers kept: NAME: KIND, or NAME: {type: KIND, required: BOOL}; each fills slot NAME."
            ),
            **WAITING,
            "next": NEXT,
        },
        required=("flow_json", "cta"),
    ),
    Kind(
        "act",
        "Runs a named async Python action; its result lands in `result`.",
        Act,
        "action",
        {
            "act": Key("action", "The action's registered name, as in orders.lookup."),
            "args": Key("texts", "The action's arguments, each Jinja over the slots."),
            "result": Key("slot", "Where the action's result is kept."),
            "timeout": Key("duration", "How long the action may take (default 5s); running out is an error."),
            "on_error": Key(
                "target",
                "Where to go when the action fails or times out; without it the bot apologises and ends the flow.",
            ),
            "next": NEXT,
        },
    ),
    Kind(
        "http",
        "Calls one of the business's endpoints (endpoints.yaml in the project folder); its JSON answer lands in `result`.",
        Http,
        "endpoint",
        {
            "http": Key("endpoint", "The endpoint's name, as declared in endpoints.yaml."),
            "query": Key("texts", "Query parameters added to the endpoint's URL, each Jinja over the slots."),
            "body": Key("texts", "The JSON object sent as the request body, each value Jinja over the slots."),
            "result": Key("slot", "Where the endpoint's JSON answer is kept."),
            "timeout": Key(
                "duration",
                "How long the call may take, retries included (default: the endpoint's timeout); running out is an error.",
            ),
            "on_error": Key(
                "target",
                "Where to go when the call fails (timeout, error status, an answer not JSON, too big or of the wrong shape), with the reason in the `error` slot; without it the bot apologises and ends the flow.",
            ),
            "next": NEXT,
        },
    ),
    Kind(
        "branch",
        "Goes to the first case whose condition holds, else to `otherwise`.",
        Branch,
        "cases",
        {
            "branch": Key("cases", "The cases, tried in order."),
            "otherwise": Key("target", "Where to go when no case holds."),
        },
    ),
    Kind(
        "goto",
        "Goes to another step.",
        Goto,
        "goto",
        {
            "goto": Key("target", "The step to go to."),
        },
    ),
    Kind(
        "call",
        "Runs another flow, then comes back to `next` with the slots it set.",
        Call,
        "flow",
        {
            "call": Key("flow_name", "The flow's name (its file's name in flows/ without .yaml)."),
            "next": NEXT,
        },
    ),
    Kind(
        "handoff",
        "A person takes over: the bot says this and stays silent for this contact until released.",
        Handoff,
        "text",
        {
            "handoff": Key("optional_text", "What the bot says before a person takes over (or null to say nothing)."),
        },
    ),
    Kind(
        "verify",
        "Sends a one-time code (an authentication template) and asks for it; sets the slot `verified`.",
        Verify,
        "purpose",
        {
            "verify": Key("purpose", "What the code is for, as in login."),
            "prompt": Key("text", "What the bot says after sending the code."),
            "max_attempts": Key("attempts", "Wrong codes allowed before `on_failure` (default 3)."),
            "valid_for": Key("duration", "Skipped when the contact verified this recently (default 15m)."),
            "on_failure": Key("target", "Where to go after too many wrong codes; without it the flow ends."),
            "next": NEXT,
        },
    ),
    Kind(
        "end",
        "Ends the flow, optionally saying a last text.",
        End,
        "text",
        {
            "end": Key("optional_text", "The last text (or null to say nothing)."),
        },
    ),
)
KIND_NAMES = tuple(kind.name for kind in KINDS)
BY_NAME: Mapping[str, Kind] = {kind.name: kind for kind in KINDS}
ALL_STEP_KEYS = frozenset(key for kind in KINDS for key in kind.allowed)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


# Each kind of value a key takes, as JSON Schema: a shape of `bot.engine.flow_shapes` by reference, or inline.
NAME = {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}
FIELD_KIND = {
    "description": "The answer's kind: text, number, date (YYYY-MM-DD), choice (one option id), list (option ids) or boolean (OptIn).",
    "enum": ["text", "number", "date", "choice", "list", "boolean"],
}
VALUES: Mapping[str, dict[str, Any]] = {
    **{name: _ref(name) for name in ("target", "slot", "duration", "text", "validator", "header")},
    "say": {"oneOf": [_ref("text"), _ref("media")]},
    "attempts": {"type": "integer", "minimum": 1},
    "flag": {"type": "boolean"},
    "options": {"type": "array", "items": _ref("option"), "minItems": 1},
    "label": {"type": "string", "minLength": 1, "maxLength": 20},
    "footer": {"type": "string", "minLength": 1, "maxLength": 60},
    "url": {"type": "string", "pattern": "^(https://|\\{\\{)"},
    "action": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)*$"},
    "texts": {"type": "object", "additionalProperties": _ref("jinja")},
    "endpoint": NAME,
    "cases": {"type": "array", "items": _ref("case"), "minItems": 1},
    "flow_name": NAME,
    "optional_text": {"oneOf": [_ref("text"), {"type": "null"}]},
    "purpose": NAME,
    "flow_json": NAME,
    "flow_id": {"type": "string", "pattern": "^[0-9]{1,30}$"},
    "cta": {"type": "string", "minLength": 1, "maxLength": 30},
    "screen": {"type": "string", "pattern": "^[A-Za-z_]+$"},
    "form_action": {"enum": ["navigate", "data_exchange"]},
    "fields": {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": "^[a-z_][a-z0-9_]*$"},
        "additionalProperties": {
            "oneOf": [
                FIELD_KIND,
                {
                    "type": "object",
                    "properties": {
                        "type": FIELD_KIND,
                        "required": {
                            "description": "Whether the answer must carry it (default false).",
                            "type": "boolean",
                        },
                    },
                    "additionalProperties": False,
                },
            ]
        },
    },
}
TOP_KEYS = ("flow", "description", "intent", "start", "idle_timeout", "steps")
TOP_REQUIRED = ("flow", "start", "steps")


def _property(value: dict[str, Any], description: str) -> dict[str, Any]:
    """A property's schema with its description: after a `$ref`, before the rest (as editors show them)."""
    if list(value) == ["$ref"]:
        return {**value, "description": description}
    return {"description": description, **value}


def _step_schema(kind: Kind) -> dict[str, Any]:
    properties = {"id": _property(_ref("id"), ID_DESCRIPTION)}
    properties |= {key: _property(VALUES[k.value], k.description) for key, k in kind.keys.items()}
    schema: dict[str, Any] = {
        "title": kind.name,
        "description": kind.description,
        "type": "object",
        "properties": properties,
        "required": ["id", kind.name, *kind.required],
        "additionalProperties": False,
    }
    if kind.one_of:
        schema["anyOf"] = [{"required": [key]} for key in kind.one_of]
    return schema


def flow_schema() -> dict[str, Any]:
    """`flows/flow.schema.json` as these declarations give it (JSON Schema draft 2020-12)."""
    steps = {f"{kind.name}_step": _step_schema(kind) for kind in KINDS}
    step = {
        "description": f"A step is exactly one of: {', '.join(KIND_NAMES)}.",
        "type": "object",
        "required": ["id"],
        "oneOf": [_ref(name) for name in steps],
    }
    intent = (
        'The global intent this flow serves: a customer typing it ("my orders", "saldo", "cita", in six '
        "languages) at any menu jumps here. One flow per intent."
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Flow file",
        "description": "One conversation flow (flows/<name>.yaml): a list of steps, each with an id, run from "
        "`start`. See flows/README.md.",
        "type": "object",
        "properties": {
            "flow": {"description": "The flow's name: the file's name without .yaml.", **NAME},
            "description": {"description": "What the flow is for, for people reading it.", "type": "string"},
            "intent": {"description": intent, "enum": list(INTENT_NAMES)},
            "start": _property(_ref("target"), "The first step."),
            "idle_timeout": _property(_ref("duration"), "A session idle this long ends politely (default 30m)."),
            "steps": {
                "description": "The steps, read like a script.",
                "type": "array",
                "items": _ref("step"),
                "minItems": 1,
            },
        },
        "required": list(TOP_REQUIRED),
        "additionalProperties": False,
        "$defs": {**SHAPES, **steps, "step": step},
    }


def schema_text() -> str:
    """The schema as the committed file holds it: two-space indents, UTF-8 as is, a final newline."""
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False) + "\n"
