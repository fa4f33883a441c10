"""The values the flow engine reads and returns: a contact's state, what happened, what to send, what to do.

All frozen and free of I/O. `State` is what the session row stores; events are what the engine reacts to
(a customer's message, a timeout, the result of an action it asked for); outputs are messages in the
engine's own terms, which `bot.inbound.flow_runner` turns into Cloud API bodies; effects are I/O the engine needs
done before it can go on (run an action, call an endpoint, send or check a one-time code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.engine.flow import Option
from bot.whatsapp.rendered_template import HeaderMedia

Header = str | HeaderMedia  # a header as sent: a text, or a file


@dataclass(frozen=True)
class Frame:
    """Where a called flow returns to: the caller's flow and the step after the call."""

    flow: str
    step: str | None


@dataclass(frozen=True)
class State:
    """One contact's place in the flows. `flow` None means no flow is running."""

    flow: str | None = None
    step: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    stack: tuple[Frame, ...] = ()
    attempts: int = 0  # wrong answers at the current waiting step
    page: int = 0  # the page of a long list being shown
    version: str | None = None  # the flow's version when the current step was entered
    deadline: datetime | None = None  # the current step's timeout
    expires_at: datetime | None = None  # idle expiry of the whole session
    handed_off: bool = False
    token: str | None = None  # the flow_token of the WhatsApp Flow (form) the current step sent

    def to_row(self) -> dict[str, Any]:
        """The session row's columns."""
        return {
            "flow": self.flow,
            "step": self.step,
            "slots": dict(self.slots),
            "flow_version": self.version,
            "expires_at": self.expires_at,
            "handed_off": self.handed_off,
            "deadline_at": self.deadline,
            "state": {
                "stack": [[f.flow, f.step] for f in self.stack],
                "attempts": self.attempts,
                "page": self.page,
                "token": self.token,
            },
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> State:
        """Read a session row back; a missing or damaged one is a fresh state, never an error."""
        if not row:
            return cls()
        extra = row.get("state") if isinstance(row.get("state"), dict) else {}
        assert isinstance(extra, dict)
        stack = tuple(
            Frame(str(item[0]), None if item[1] is None else str(item[1]))
            for item in extra.get("stack", [])
            if isinstance(item, list | tuple) and len(item) == 2
        )
        slots = row.get("slots")
        return cls(
            flow=row.get("flow"),
            step=row.get("step"),
            slots=dict(slots) if isinstance(slots, dict) else {},
            stack=stack,
            attempts=int(extra.get("attempts", 0) or 0),
            page=int(extra.get("page", 0) or 0),
            version=row.get("flow_version"),
            deadline=row.get("deadline_at"),
            expires_at=row.get("expires_at"),
            handed_off=bool(row.get("handed_off")),
            token=extra.get("token") if isinstance(extra.get("token"), str) else None,
        )


@dataclass(frozen=True)
class Who:
    """The contact as flows see it (`contact.name` in texts and expressions)."""

    wa_id: str | None = None
    name: str | None = None
    language: str | None = None

    def as_slot(self) -> dict[str, Any]:
        return {"wa_id": self.wa_id, "name": self.name, "language": self.language}


# -- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormAnswer:
    """A WhatsApp Flow's answer: the token its send carried and the fields, or why it could not be read."""

    token: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Inbound:
    """A customer's message: `kind` is Meta's message type; `reply_id` the tapped button or list row.

    `form` is set for the answer to a WhatsApp Flow (an ``nfm_reply``); `location` is a shared place as the
    phone sent it: ``{latitude, longitude, name?, address?}``; it answers a `request_location` step and an
    `ask` with `validate: location`. `media` is what a photo or a document answers an `ask` with: the stored
    file's media row and what Meta said of it.
    """

    kind: str
    text: str | None = None
    reply_id: str | None = None
    form: FormAnswer | None = None
    location: Mapping[str, Any] | None = None
    media: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TimedOut:
    """The waiting step's timeout, or the session's idle expiry, has passed."""


@dataclass(frozen=True)
class ActionDone:
    """What an `act` step's action or an `http` step's endpoint returned, or why it failed."""

    value: Any = None
    error: str | None = None


@dataclass(frozen=True)
class CodeSent:
    """Whether the one-time code for a `verify` step went out (it can be refused: paced, locked)."""

    ok: bool
    reason: str | None = None


@dataclass(frozen=True)
class CodeChecked:
    verified: bool


@dataclass(frozen=True)
class Released:
    """A person released a handed-off conversation back to the bot."""


@dataclass(frozen=True)
class Enter:
    """The customer tapped a campaign's quick reply: start `flow`, with `slots` (the campaign) set."""

    flow: str
    slots: Mapping[str, Any] = field(default_factory=dict)


Event = Inbound | TimedOut | ActionDone | CodeSent | CodeChecked | Released | Enter


# -- outputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class SendMedia:
    """A file: `file` (relative to the flows folder, uploaded by the sender) or `link`, with its caption rendered."""

    kind: str
    file: str | None = None
    link: str | None = None
    caption: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class Buttons:
    """Up to three reply buttons under a text, with a header (a text or a file) and a footer if given."""

    text: str
    options: tuple[Option, ...]
    header: Header | None = None
    footer: str | None = None


@dataclass(frozen=True)
class ListMenu:
    """A list message: up to ten rows behind a button."""

    text: str
    button: str
    options: tuple[Option, ...]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True)
class LinkButton:
    """A call-to-action URL button: `button` is its title, `url` what it opens."""

    text: str
    button: str
    url: str
    header: Header | None = None
    footer: str | None = None


@dataclass(frozen=True)
class LocationRequest:
    """A text with WhatsApp's "Send location" button."""

    text: str


@dataclass(frozen=True)
class SendTemplate:
    """A template from `templates/`, with its values rendered; the contact's language picks the file."""

    name: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class SendForm:
    """A WhatsApp Flow: `text` above a button (`cta`) that opens the form; `token` comes back with the answer."""

    text: str
    flow_json: str
    flow_id: str | None
    cta: str
    token: str
    screen: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    action: str = "navigate"
    header: Header | None = None
    footer: str | None = None


Output = Say | SendMedia | Buttons | ListMenu | LinkButton | LocationRequest | SendTemplate | SendForm


# -- effects ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunAction:
    name: str
    args: Mapping[str, str]
    timeout: timedelta


@dataclass(frozen=True)
class CallEndpoint:
    """Call the business's endpoint `endpoint`; the answer comes back as `ActionDone`."""

    endpoint: str
    query: Mapping[str, str]
    body: Mapping[str, str] | None
    timeout: timedelta | None


@dataclass(frozen=True)
class SendCode:
    purpose: str


@dataclass(frozen=True)
class CheckCode:
    purpose: str
    code: str


Effect = RunAction | CallEndpoint | SendCode | CheckCode


@dataclass(frozen=True)
class Turn:
    """The engine's answer: the new state, what to send, and the I/O to do before going on (if any)."""

    state: State
    outputs: tuple[Output, ...] = ()
    effect: Effect | None = None
