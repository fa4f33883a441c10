"""A flow as the engine reads it: frozen steps with their file positions, built by `bot.engine.flow_file` from YAML.

A flow is a script of steps, each with an `id`, run from `start`. Steps that talk to the customer
(`say`, `ask`, `choose`, `request_location`, `link`) carry a `Text`: inline Jinja or a template from
`templates/`. Steps that wait for the customer (`ask`, `choose`, `request_location`) have bounded attempts
and an explicit exit when they run out, and an optional timeout with its own exit. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from bot.language.words import pick_language
from bot.yaml_file import Position

# WhatsApp's limits for interactive messages (checked by `bot check` and again when a message is built).
MAX_BUTTONS = 3
BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
BODY_TEXT = 1024
HEADER_TEXT = 60
FOOTER_TEXT = 60
MediaFormat = Literal["image", "video", "document"]
DEFAULT_ATTEMPTS = 3
DEFAULT_IDLE = timedelta(minutes=30)


@dataclass(frozen=True)
class Text:
    """What the bot says: inline Jinja text (one, or one per language), or a template with its values as Jinja.

    `languages` maps language codes (``en``, ``pt_BR``) to texts; the contact's language picks one, else one of
    its base language, else English, else the first written.
    """

    inline: str | None = None
    template: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    languages: Mapping[str, str] = field(default_factory=dict)

    def inline_for(self, language: str | None) -> str | None:
        """The inline text to say to a contact speaking `language`."""
        chosen = pick_language(self.languages, language)
        return self.languages[chosen] if chosen is not None else self.inline

    @property
    def sources(self) -> tuple[tuple[str | None, str], ...]:
        """Every inline text with its language (None for a text in one language only), for checks."""
        if self.languages:
            return tuple(self.languages.items())
        return ((None, self.inline),) if self.inline is not None else ()


ValidatorKind = Literal[
    "text", "pattern", "number", "date", "time", "datetime", "choice", "phone", "email", "custom",
    "image", "document", "location",
]  # fmt: skip
# Answers that are not typed: a photo, a document or a shared location, kept as a mapping in the slot.
SENT_KINDS: tuple[str, ...] = ("image", "document", "location")


@dataclass(frozen=True)
class Validator:
    """How an `ask` step checks an answer. Unused parameters stay at their defaults.

    `pattern`: a regular expression the whole answer must match. `number`: `minimum`/`maximum`.
    `date`/`time`/`datetime`: read in the business's time zone (`min_days`/`max_days` ahead for dates).
    `choice`: one of `choices` (case-insensitive). `phone`: a valid international number (E.164 out).
    `email`: an address. `custom`: a named Python validator. `image`, `document`, `location`: the customer
    sends a photo, a file or a location instead of typing (`SENT_KINDS`); anything else is a wrong try.
    """

    kind: ValidatorKind = "text"
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    min_days: int | None = None
    max_days: int | None = None
    name: str | None = None  # the custom validator's name


@dataclass(frozen=True)
class Option:
    """One choice: `id` routes the answer, `title` is what the customer reads (and may type).

    `synonyms` are other words a customer may type for it, in any language (``bot.engine.match``).
    """

    id: str
    title: str
    description: str | None = None
    next: str | None = None  # where this option goes; None falls back to the step's `next`
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Header:
    """An interactive message's header: a text, or a file (`media` its kind) by URL or media id.

    `text`, `source` and `filename` are Jinja over the slots, rendered when the message is sent.
    """

    text: str | None = None
    media: MediaFormat | None = None
    source: str | None = None  # the file's URL or Meta's media id
    filename: str | None = None  # a document's name on the phone


@dataclass(frozen=True)
class Step:
    """What every step has: its id, where to go next (if anything), and where it was written."""

    id: str
    position: Position = field(default=Position(), compare=False)
    next: str | None = None


@dataclass(frozen=True)
class Waiting(Step):
    """A step that waits for the customer: bounded attempts, an exit when they run out, an optional timeout."""

    reprompt: Text | None = None
    max_attempts: int = DEFAULT_ATTEMPTS
    on_exhausted: str | None = None  # None: end the flow politely
    timeout: timedelta | None = None
    on_timeout: str | None = None  # None: end the flow politely
    commands: bool = True  # global commands (menu, cancel, help, agent) work here


# What `say` can send besides text, and Meta's longest caption.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/image-messages
MEDIA_SENDS: tuple[str, ...] = ("image", "document", "video", "audio")
CAPTION_MAX = 1024


@dataclass(frozen=True)
class Media:
    """A file `say` sends: from the flows folder (`file`, uploaded to Meta once) or from a URL (`link`, Jinja).

    Audio carries no caption on WhatsApp; a document may carry the `filename` the customer sees.
    """

    kind: str
    file: str | None = None
    link: str | None = None
    caption: Text | None = None
    filename: str | None = None


@dataclass(frozen=True)
class Say(Step):
    """Says a text, or sends a file (`media`) with an optional caption."""

    text: Text = Text()
    media: Media | None = None


@dataclass(frozen=True)
class Ask(Waiting):
    prompt: Text = Text()
    slot: str = ""
    validator: Validator = Validator()


@dataclass(frozen=True)
class Choose(Waiting):
    """Options as data: up to 3 become reply buttons, up to 10 a list, more a paged list.

    `options_from` names a slot holding a list of `{id, title, description?}` (filled by an action), for
    choices known only at run time; `slot` keeps the chosen id.
    """

    prompt: Text = Text()
    options: tuple[Option, ...] = ()
    options_from: str | None = None
    slot: str | None = None
    button: str = "Choose"  # the list message's button label
    header: Header | None = None  # a text, or a file above reply buttons
    footer: str | None = None


@dataclass(frozen=True)
class RequestLocation(Waiting):
    """Ask for the customer's location with WhatsApp's "Send location" button; the place shared fills `slot`.

    The slot holds ``{latitude, longitude, name?, address?}`` as the customer's phone sent it.
    """

    prompt: Text = Text()
    slot: str = ""


@dataclass(frozen=True)
class Link(Step):
    """A call-to-action URL button under a text: `button` is its title, `url` (https, Jinja) what it opens."""

    text: Text = Text()
    button: str = ""
    url: str = ""
    header: Header | None = None
    footer: str | None = None


FieldKind = Literal["text", "number", "date", "choice", "list", "boolean"]


@dataclass(frozen=True)
class FormField:
    """One answer a WhatsApp Flow returns: its kind, and whether the customer must give it.

    `text`: a string; `number`: a number (or a string of one); `date`: ``YYYY-MM-DD`` (a DatePicker);
    `choice`: one option id (Dropdown, RadioButtonsGroup); `list`: option ids (CheckboxGroup); `boolean`: OptIn.
    """

    kind: FieldKind = "text"
    required: bool = False


@dataclass(frozen=True)
class Form(Waiting):
    """Send a WhatsApp Flow (a form on the customer's phone) and wait for its answer.

    `flow_json` names the project's Flow JSON file (``whatsapp_flows/<flow_json>.json``), which `bot check`
    reads, and is sent as the Flow's name unless `flow_id` (Meta's id of the published Flow) is given. `prompt` is
    the message's body, `cta` its button. `data` (Jinja over the slots) is the first screen's input. The
    answer's `fields` fill the slots of the same names.
    """

    prompt: Text = Text()
    flow_json: str = ""
    flow_id: str | None = None
    cta: str = ""
    screen: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    action: Literal["navigate", "data_exchange"] = "navigate"
    header: Header | None = None  # a text, or a file
    footer: str | None = None
    fields: Mapping[str, FormField] = field(default_factory=dict)


@dataclass(frozen=True)
class Act(Step):
    """A named async Python action; its result lands in `result`, an error or timeout goes to `on_error`."""

    action: str = ""
    args: Mapping[str, str] = field(default_factory=dict)  # Jinja expressions over the slots
    result: str | None = None
    timeout: timedelta = timedelta(seconds=5)
    on_error: str | None = None  # None: apologise and end the flow


@dataclass(frozen=True)
class Http(Step):
    """A call to one of the business's endpoints (`endpoints.yaml`); its JSON answer lands in `result`.

    `query` and `body` are Jinja over the slots, like an action's arguments. A failure (timeout, an error
    status, an answer that is not JSON, too big or of the wrong shape) goes to `on_error`, with the reason
    in the `error` slot. `timeout` None uses the endpoint's.
    """

    endpoint: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] | None = None
    result: str | None = None
    timeout: timedelta | None = None
    on_error: str | None = None  # None: apologise and end the flow


@dataclass(frozen=True)
class Case:
    when: str  # an expression (see `bot.engine.expression`)
    goto: str
    position: Position = field(default=Position(), compare=False)


@dataclass(frozen=True)
class Branch(Step):
    cases: tuple[Case, ...] = ()
    otherwise: str | None = None


@dataclass(frozen=True)
class Goto(Step):
    goto: str = ""


@dataclass(frozen=True)
class Call(Step):
    """Run another flow, then come back to `next` with the slots it set."""

    flow: str = ""


@dataclass(frozen=True)
class Handoff(Step):
    """A person takes over: the bot says `text` and stays silent for this contact until released."""

    text: Text | None = None


@dataclass(frozen=True)
class Verify(Step):
    """Send a one-time code (authentication template) and ask for it; `on_failure` after too many wrong tries."""

    purpose: str = "login"
    prompt: Text | None = None
    on_failure: str | None = None
    max_attempts: int = DEFAULT_ATTEMPTS
    valid_for: timedelta = timedelta(minutes=15)  # a verification this recent is not asked for again


@dataclass(frozen=True)
class End(Step):
    text: Text | None = None


AnyStep = (
    Say | Ask | Choose | RequestLocation | Link | Form | Act | Http | Branch | Goto | Call | Handoff | Verify | End
)
WaitingStep = Ask | Choose | RequestLocation | Form  # steps with attempts, a re-prompt and a timeout


@dataclass(frozen=True)
class Flow:
    """One flow file: its steps by id, the first step, and a version that changes when the file does."""

    name: str
    start: str
    steps: Mapping[str, AnyStep]
    version: str
    description: str = ""
    path: str = ""
    idle_timeout: timedelta = DEFAULT_IDLE
    intent: str | None = None  # the global intent (order, appointment, balance) this flow serves

    def step(self, step_id: str) -> AnyStep | None:
        return self.steps.get(step_id)

    def targets(self, step: AnyStep) -> list[tuple[str, str]]:
        """Every step id `step` can go to, with the field that names it (for checks and diagrams)."""
        found: list[tuple[str, str | None]] = [("next", step.next)]
        if isinstance(step, WaitingStep):
            found += [("on_exhausted", step.on_exhausted), ("on_timeout", step.on_timeout)]
        if isinstance(step, Choose):
            found += [(f"options.{o.id}.next", o.next) for o in step.options]
        if isinstance(step, Act | Http):
            found.append(("on_error", step.on_error))
        if isinstance(step, Branch):
            found += [(f"branch[{i}].goto", c.goto) for i, c in enumerate(step.cases)]
            found.append(("otherwise", step.otherwise))
        if isinstance(step, Goto):
            found.append(("goto", step.goto))
        if isinstance(step, Verify):
            found.append(("on_failure", step.on_failure))
        return [(name, target) for name, target in found if target]
