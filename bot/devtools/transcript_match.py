"""What the bot sent in a transcript, and whether it is what the transcript expected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from bot.devtools.transcript_file import MEDIA_HEADS, one_line
from bot.message_templates.display import sent_parameters as template_parameters

FileKind = Literal["image", "document", "video", "audio"]  # MEDIA_HEADS
UNSET = "<unset>"  # an `expect` value for a key that must not be there


@dataclass(frozen=True)
class Message:
    """One message the customer received (or one the sender refused), read from the Cloud API body."""

    kind: Literal["text", "buttons", "list", "link", "location_request", "template", "form", "not_sent"] | FileKind
    text: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (id, title)
    button: str | None = None  # a list's button label, or a link button's title
    url: str | None = None  # what a link button opens
    template: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    code: str | None = None  # an authentication template's code: never shown, only typed back
    form: str | None = None  # a WhatsApp Flow's name (or id); its token is in `code`, for the answer
    source: str | None = None  # a file's link, or the name of the project file uploaded for it
    filename: str | None = None  # a document's name as the customer sees it

    @classmethod
    def from_body(cls, body: Mapping[str, Any], uploaded: Mapping[str, str] | None = None) -> Message:
        """The message a Cloud API body sends; `uploaded` names the project file behind each media id."""
        kind = body.get("type")
        if kind in MEDIA_HEADS:
            media = body[kind]
            source = media.get("link") or (uploaded or {}).get(str(media.get("id")), str(media.get("id")))
            return cls(kind, media.get("caption") or "", source=source, filename=media.get("filename"))
        if kind == "interactive":
            interactive = body["interactive"]
            text, action = interactive.get("body", {}).get("text", ""), interactive.get("action", {})
            if interactive.get("type") == "flow":
                parameters = action.get("parameters", {})
                name = parameters.get("flow_name") or parameters.get("flow_id")
                token = parameters.get("flow_token")
                return cls("form", text, button=parameters.get("flow_cta"), form=name, code=token)
            if interactive.get("type") == "list":
                rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
                return cls("list", text, tuple((r["id"], r["title"]) for r in rows), button=action.get("button"))
            if interactive.get("type") == "cta_url":
                link = action.get("parameters", {})
                return cls("link", text, button=link.get("display_text"), url=link.get("url"))
            if interactive.get("type") == "location_request_message":
                return cls("location_request", text)
            buttons = [b["reply"] for b in action.get("buttons", [])]
            return cls("buttons", text, tuple((b["id"], b["title"]) for b in buttons))
        if kind == "template":
            template = body["template"]
            values, positional = template_parameters(template, ("header", "body"))
            # Authentication templates carry the code as their one positional body parameter.
            return cls("template", template=template["name"], values=values, code=positional[0] if positional else None)
        return cls("text", str(body.get("text", {}).get("body", "")))

    def shown(self, like: Mapping[str, Any] | None = None) -> str:
        """This message as a `bot:` line, in the shape of the expectation it is compared with."""
        like = like or {}
        if self.kind == "text":
            return f"bot: {one_line(self.text)}"
        if self.kind == "not_sent":
            return f"bot: {one_line({'not_sent': self.text})}"
        if self.kind == "link":
            return f"bot: {one_line({'link': self.text, 'button': self.button, 'url': self.url})}"
        if self.kind == "location_request":
            return f"bot: {one_line({'location_request': self.text})}"
        if self.kind == "form":
            return f"bot: {one_line({'form': self.form, 'text': self.text})}"
        if self.kind in MEDIA_HEADS:
            file: dict[str, Any] = {self.kind: self.source}
            file |= {"caption": self.text} if self.text else {}
            file |= {"filename": self.filename} if self.filename and "filename" in like else {}
            return f"bot: {one_line(file)}"
        if self.kind == "template":
            shown: dict[str, Any] = {"template": self.template}
            if self.values and self.code is None:
                shown["values"] = dict(self.values)
            return f"bot: {one_line(shown)}"
        titled = any(isinstance(o, dict) for o in like.get("options") or [])
        options = [{i: t} if titled else i for i, t in self.options]
        shown = {self.kind: self.text, "options": options}
        if self.kind == "list" and "button" in like:
            shown["button"] = self.button
        return f"bot: {one_line(shown)}"

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
    if "form" in expected:
        return (
            message.kind == "form"
            and message.form == str(expected["form"])
            and ("text" not in expected or message.text == str(expected["text"]))
        )
    if "text" in expected:
        return message.kind == "text" and message.text == str(expected["text"])
    if "text_contains" in expected:
        shown = ("text", "buttons", "list", "link", "location_request", "form")
        return message.kind in shown and str(expected["text_contains"]) in message.text
    file = next((k for k in MEDIA_HEADS if k in expected), None)
    if file is not None:  # a file: its project file name or link, its caption and file name as given
        return (
            message.kind == file
            and message.source == str(expected[file])
            and message.text == str(expected.get("caption") or "")
            and ("filename" not in expected or message.filename == expected["filename"])
        )
    if "link" in expected:
        wanted = {k: expected.get(k) for k in ("button", "url") if k in expected}
        same_text = expected["link"] in (None, "...") or message.text == str(expected["link"])
        return message.kind == "link" and same_text and all(getattr(message, k) == v for k, v in wanted.items())
    if "location_request" in expected:
        wanted_text = expected["location_request"]
        return message.kind == "location_request" and wanted_text in (None, "...", message.text)
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


def projected(expected: Any, actual: Any) -> Any:
    """`actual` cut to the shape of `expected`, so a diff shows only what the transcript asked about."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: projected(v, actual[k]) if k in actual else UNSET for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list):
        shape = expected[0] if expected else None
        return [projected(expected[i] if i < len(expected) else shape, a) for i, a in enumerate(actual)]
    return actual
