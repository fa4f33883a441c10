"""A template send as the customer's phone displays it: the stored template filled in with the send's values.

Meta holds the approved template and fills it in with the parameters a send carries. The sandbox, the
dashboard and `bot chat` do the same here, so all three show one rendering: header, body, footer and the
buttons' titles (never a payload such as ``SHOP_NOW``, never ``name=value`` lists).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from bot.errors import NotFound, ValidationError
from bot.message_templates.library import Templates, render
from bot.message_templates.rules import AUTH_VARIABLE
from bot.whatsapp.rendered_template import HeaderMedia, RenderedButton, RenderedTemplate
from storage.outbox import REDACTED  # a code scrubbed from a stored send body: shown hidden, never as the marker

# What a dashboard shows in place of a one-time code: the phone saw it, the business's screen does not.
HIDDEN_CODE = "••••••"


def sent_parameters(
    content: Mapping[str, Any], parts: Collection[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """A template send body's text parameters read back: named ones by name, positional ones in order.

    `parts` keeps only some components (``header``, ``body``); a quick reply's payload carries no text.
    """
    named: dict[str, str] = {}
    positional: list[str] = []
    for component in content.get("components") or []:
        if not isinstance(component, Mapping) or (parts is not None and component.get("type") not in parts):
            continue
        for parameter in component.get("parameters") or []:
            text = parameter.get("text") if isinstance(parameter, Mapping) else None
            if not isinstance(text, str):
                continue
            if parameter.get("parameter_name"):
                named[str(parameter["parameter_name"])] = text
            else:
                positional.append(text)
    return named, positional


def sent_values(variables: Collection[str], content: Mapping[str, Any]) -> dict[str, str]:
    """A template's values read back from its send body: named parameters by name, positional ones in order.

    Positional parameters (an authentication code, a URL button's suffix) fill the variables the named ones
    left, in the template's order; a code repeated in the copy-code button finds no variable left.
    """
    named, positional = sent_parameters(content)
    left = [name for name in variables if name not in named]
    return named | dict(zip(left, positional, strict=False))


def _payloads(content: Mapping[str, Any]) -> dict[int, str]:
    """The quick replies' payloads a send sets, by button index: Meta returns these when one is tapped."""
    found: dict[int, str] = {}
    for component in content.get("components") or []:
        if not isinstance(component, Mapping) or component.get("sub_type") != "quick_reply":
            continue
        for parameter in component.get("parameters") or []:
            if isinstance(parameter, Mapping) and isinstance(parameter.get("payload"), str):
                try:
                    found[int(component.get("index", -1))] = parameter["payload"]
                except (TypeError, ValueError):
                    continue
    return found


def sent_header(content: Mapping[str, Any]) -> HeaderMedia | None:
    """The file or place a template send carries in its header, as the phone shows it; None for none."""
    for component in content.get("components") or []:
        if isinstance(component, Mapping) and component.get("type") == "header":
            parameters = component.get("parameters") or [None]
            return HeaderMedia.from_component(parameters[0] if isinstance(parameters, list) else None)
    return None


def display(templates: Templates, content: Mapping[str, Any], *, hide_code: bool = False) -> RenderedTemplate | None:
    """A Cloud API ``template`` object rendered from the stored template; None if no template fits it.

    `hide_code` shows an authentication code as dots (the business's screens); a code already scrubbed
    from a stored body is always shown so.
    """
    name, language = content.get("name"), (content.get("language") or {}).get("code")
    if not isinstance(name, str) or not isinstance(language, str):
        return None
    try:
        template = templates.get(name, language)
        values: dict[str, Any] = sent_values(template.variables, content)
        if template.category == "authentication":
            code = values.get(AUTH_VARIABLE)
            values = {AUTH_VARIABLE: HIDDEN_CODE if hide_code or code in (None, REDACTED) else code}
        media = sent_header(content) if template.header_media is not None else None
        if media is not None:  # the header's own variables travel inside the file or place, not as texts
            values = dict.fromkeys(template.variables, "") | values
        rendered = render(template, values, media=media)
    except (NotFound, ValidationError):
        return None
    payloads = _payloads(content)
    if not payloads:
        return rendered
    buttons = tuple(
        RenderedButton(b.type, b.text, payloads.get(i, b.payload), b.url, b.parameters)
        for i, b in enumerate(rendered.buttons)
    )
    return replace(rendered, buttons=buttons)


def display_text(rendered: RenderedTemplate) -> str:
    """The rendering as one plain text: header, body, footer, then the buttons' titles in brackets."""
    header = rendered.header_media.words if rendered.header_media else rendered.header
    parts = [part for part in (header, rendered.text, rendered.footer) if part]
    if rendered.buttons:
        parts.append(" ".join(f"[{button.text}]" for button in rendered.buttons))
    return "\n\n".join(parts)


def display_json(rendered: RenderedTemplate) -> dict[str, Any]:
    """The rendering for a page to draw: header, body, footer and each button's type, title and payload."""
    buttons = []
    for button in rendered.buttons:
        shown: dict[str, Any] = {"type": button.type, "text": button.text}
        if button.type == "quick_reply":
            shown["payload"] = button.payload or button.text
        elif button.type == "url":
            shown["url"] = button.url
        elif button.parameters:
            shown["code"] = button.parameters[0]
        buttons.append(shown)
    shown = {"header": rendered.header, "body": rendered.text, "footer": rendered.footer, "buttons": buttons}
    return shown | {"header_media": media_json(rendered.header_media)} if rendered.header_media else shown


def media_json(media: HeaderMedia) -> dict[str, Any]:
    """A file or place header for a page to draw: a file's kind, link or media id and name; a place's fields."""
    if media.format == "location":
        place = {"latitude": media.latitude, "longitude": media.longitude, "name": media.name, "address": media.address}
        return {"kind": "location"} | place
    return {"kind": media.format, "link": media.link, "id": media.media_id, "filename": media.filename}
