"""WhatsApp message bodies for the Cloud API's send endpoint, checked against Meta's limits before sending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.errors import LimitExceeded, ValidationError
from bot.whatsapp.rendered_template import MEDIA_FORMATS, HeaderMedia, Parameter, RenderedButton, RenderedTemplate

# Limits: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/
# The OpenAPI file gives every interactive body 1024; Meta's list-message page allows 4096 there.
TEXT_BODY_MAX = 4096
BUTTONS_BODY_MAX = 1024
LIST_BODY_MAX = 4096
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20
LIST_BUTTON_MAX = 20
SECTIONS_MAX = 10
SECTION_TITLE_MAX = 24
ROWS_MAX = 10
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
TEMPLATE_BUTTON_INDEX_MAX = 9
FLOW_CTA_MAX = 30  # the Flow's button; Meta advises 30 characters or fewer, no emoji
FLOW_MESSAGE_VERSION = "3"
AUTH_CODE_MAX = 15
CAPTION_MAX = 1024
FILENAME_MAX = 240
MEDIA_KINDS = ("image", "document", "video", "audio", "sticker")
CTA_BODY_MAX = 1024
CTA_TEXT_MAX = 20
URL_MAX = 2000

Params = Sequence[str] | Mapping[str, str]
Row = tuple[str, str, str | None]
Section = tuple[str | None, Sequence[Row]]
ButtonParams = tuple[str, int, Sequence[str]]


# --- limits -----------------------------------------------------------------------------------------


def _chars(n: int) -> str:
    return "1 character" if n == 1 else f"{n} characters"


def _check_length(name: str, value: str, maximum: int, minimum: int = 1) -> None:
    n = len(value)
    if n > maximum:
        raise LimitExceeded(f"{name} is {_chars(n)}; WhatsApp allows at most {maximum}")
    if n < minimum:
        raise LimitExceeded(f"{name} is {_chars(n)}; WhatsApp requires at least {minimum}")


def _check_count(owner: str, n: int, items: str, maximum: int, minimum: int = 1) -> None:
    if n > maximum:
        raise LimitExceeded(f"{owner} has {n} {items}; WhatsApp allows at most {maximum}")
    if n < minimum:
        raise LimitExceeded(f"{owner} has {n} {items}; WhatsApp requires at least {minimum}")


def _check_unique(items: Sequence[tuple[str, str]], what: str) -> None:
    """Each item is (label, value); a repeated value names both labels."""
    seen: dict[str, str] = {}
    for label, value in items:
        if value in seen:
            raise LimitExceeded(f"{label} {what} {value!r} repeats {seen[value]}; WhatsApp requires unique {what}s")
        seen[value] = label


# --- builders ---------------------------------------------------------------------------------------


def _envelope(to: str, kind: str, content: Any, reply_to: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    body["type"] = kind
    if reply_to is not None:
        body["context"] = {"message_id": reply_to}
    body[kind] = content
    return body


def text_message(to: str, body: str, *, preview_url: bool = False, reply_to: str | None = None) -> dict[str, Any]:
    """A free-form text message; ``reply_to`` quotes an earlier message by its wamid."""
    _check_length("text body", body, TEXT_BODY_MAX)
    return _envelope(to, "text", {"body": body, "preview_url": preview_url}, reply_to)


def media_message(
    to: str,
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    """An image, document, video, audio or sticker message: by an uploaded file's id, or by a link Meta fetches.

    Only images, videos and documents carry a caption; only documents a file name.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/document-messages
    """
    if kind not in MEDIA_KINDS:
        raise ValidationError(f"media kind {kind!r} is not one of {', '.join(MEDIA_KINDS)}")
    if (media_id is None) == (link is None):
        raise ValidationError(f"a {kind} message takes a media id or a link, exactly one")
    content: dict[str, Any] = {"id": media_id} if media_id is not None else {"link": link}
    if caption and kind in ("image", "video", "document"):
        _check_length("caption", caption, CAPTION_MAX)
        content["caption"] = caption
    if filename and kind == "document":
        _check_length("file name", filename, FILENAME_MAX)
        content["filename"] = filename
    return _envelope(to, kind, content, None)


def _interactive(
    kind: str, body: str, action: dict[str, Any], header: str | HeaderMedia | None, footer: str | None
) -> dict[str, Any]:
    interactive: dict[str, Any] = {"type": kind}
    if isinstance(header, HeaderMedia):
        if header.format not in MEDIA_FORMATS:
            raise LimitExceeded(
                f"an interactive header is text, an image, a video or a document, not a {header.format}"
            )
        interactive["header"] = header.component()
    elif header is not None:
        _check_length("header text", header, HEADER_MAX)
        interactive["header"] = {"type": "text", "text": header}
    interactive["body"] = {"text": body}
    if footer is not None:
        _check_length("footer text", footer, FOOTER_MAX)
        interactive["footer"] = {"text": footer}
    interactive["action"] = action
    return interactive


def buttons_message(
    to: str,
    body: str,
    buttons: Sequence[tuple[str, str]],
    *,
    header: str | HeaderMedia | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """An interactive message with one to three reply buttons given as ``(id, title)``; a header may be a file."""
    _check_length("body text", body, BUTTONS_BODY_MAX)
    _check_count("the message", len(buttons), "buttons", BUTTONS_MAX)
    for number, (button_id, title) in enumerate(buttons, start=1):
        _check_length(f"button {number} id", button_id, BUTTON_ID_MAX)
        _check_length(f"button {number} title", title, BUTTON_TITLE_MAX)
    _check_unique([(f"button {n}", b[0]) for n, b in enumerate(buttons, start=1)], "id")
    _check_unique([(f"button {n}", b[1]) for n, b in enumerate(buttons, start=1)], "title")
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in buttons]}
    return _envelope(to, "interactive", _interactive("button", body, action, header, footer), reply_to)


def cta_url_message(
    to: str,
    body: str,
    text: str,
    url: str,
    *,
    header: str | HeaderMedia | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """An interactive call-to-action URL button: `text` on the button opens `url` (https).

    https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages
    """
    _check_length("body text", body, CTA_BODY_MAX)
    _check_length("button text", text, CTA_TEXT_MAX)
    _check_length("button URL", url, URL_MAX)
    if not url.startswith("https://") or any(ch.isspace() for ch in url):
        raise LimitExceeded("the button URL must be an https:// address without spaces")
    action = {"name": "cta_url", "parameters": {"display_text": text, "url": url}}
    return _envelope(to, "interactive", _interactive("cta_url", body, action, header, footer), None)


def location_request_message(to: str, body: str) -> dict[str, Any]:
    """An interactive location request: the phone shows a "Send location" button under `body`.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/location-request-messages
    """
    _check_length("body text", body, BUTTONS_BODY_MAX)
    interactive = {"type": "location_request_message", "body": {"text": body}, "action": {"name": "send_location"}}
    return _envelope(to, "interactive", interactive, None)


def _list_section(number: int, title: str | None, rows: Sequence[Row], titled: bool) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if title:
        _check_length(f"section {number} title", title, SECTION_TITLE_MAX)
        section["title"] = title
    elif titled:
        raise LimitExceeded(f"section {number} has no title; WhatsApp requires one when there are several")
    _check_count(f"section {number}", len(rows), "rows", ROWS_MAX)
    section["rows"] = [_list_row(f"section {number} row {n}", row) for n, row in enumerate(rows, start=1)]
    return section


def _list_row(label: str, row: Row) -> dict[str, Any]:
    row_id, title, description = row
    _check_length(f"{label} id", row_id, ROW_ID_MAX)
    _check_length(f"{label} title", title, ROW_TITLE_MAX)
    out = {"id": row_id, "title": title}
    if description is not None:
        _check_length(f"{label} description", description, ROW_DESCRIPTION_MAX, minimum=0)
        out["description"] = description
    return out


def list_message(
    to: str,
    body: str,
    button: str,
    sections: Sequence[Section],
    *,
    header: str | HeaderMedia | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """An interactive list: sections of ``(id, title, description)`` rows behind one button."""
    _check_length("body text", body, LIST_BODY_MAX)
    _check_length("list button label", button, LIST_BUTTON_MAX)
    _check_count("the list", len(sections), "sections", SECTIONS_MAX)
    _check_count("the list", sum(len(rows) for _, rows in sections), "rows in all", ROWS_MAX)
    titled = len(sections) > 1
    built = [_list_section(n, t, rows, titled) for n, (t, rows) in enumerate(sections, start=1)]
    ids = [(f"section {s} row {r}", row[0]) for s, (_, rows) in enumerate(sections, 1) for r, row in enumerate(rows, 1)]
    _check_unique(ids, "id")
    action = {"button": button, "sections": built}
    return _envelope(to, "interactive", _interactive("list", body, action, header, footer), reply_to)


def flow_message(
    to: str,
    body: str,
    *,
    cta: str,
    token: str,
    flow_name: str | None = None,
    flow_id: str | None = None,
    screen: str | None = None,
    data: Mapping[str, Any] | None = None,
    action: str = "navigate",
    header: str | HeaderMedia | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """An interactive WhatsApp Flow: a button (`cta`) that opens the Flow `flow_id` or `flow_name` on `screen`.

    `token` comes back in the answer's `response_json`, which ties the answer to this send. `data` is the
    first screen's input (Meta wants a non-empty object, so an empty one is left out).
    https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/guides/sendingaflow
    """
    if (flow_id is None) == (flow_name is None):
        raise ValidationError("a Flow message names exactly one of flow_id and flow_name")
    if action not in ("navigate", "data_exchange"):
        raise ValidationError(f"flow_action {action!r} is not navigate or data_exchange")
    _check_length("body text", body, BUTTONS_BODY_MAX)
    _check_length("flow call to action", cta, FLOW_CTA_MAX)
    parameters: dict[str, Any] = {"flow_message_version": FLOW_MESSAGE_VERSION, "flow_token": token}
    parameters |= {"flow_id": flow_id} if flow_id is not None else {"flow_name": flow_name}
    parameters |= {"flow_cta": cta, "flow_action": action}
    if action == "navigate":
        payload: dict[str, Any] = {"screen": screen} if screen else {}
        if data:
            payload["data"] = dict(data)
        if payload:
            parameters["flow_action_payload"] = payload
    action_body = {"name": "flow", "parameters": parameters}
    return _envelope(to, "interactive", _interactive("flow", body, action_body, header, footer), None)


def _as_parameters(params: Params) -> list[Parameter]:
    if isinstance(params, Mapping):
        return [Parameter(text, name) for name, text in params.items()]
    return [Parameter(text) for text in params]


def _text_parameter(parameter: Parameter) -> dict[str, str]:
    if parameter.name is None:
        return {"type": "text", "text": parameter.text}
    return {"type": "text", "parameter_name": parameter.name, "text": parameter.text}


def _button_component(sub_type: str, index: int, values: Sequence[str]) -> dict[str, Any]:
    if not 0 <= index <= TEMPLATE_BUTTON_INDEX_MAX:
        raise LimitExceeded(
            f"template button index {index} is out of range; WhatsApp allows 0 to {TEMPLATE_BUTTON_INDEX_MAX}"
        )
    if sub_type == "quick_reply":
        parameters = [{"type": "payload", "payload": v} for v in values]
    elif sub_type == "url":
        parameters = [{"type": "text", "text": v} for v in values]
    else:
        raise ValidationError(f"template button {index} sub_type {sub_type!r} is not quick_reply or url")
    return {"type": "button", "sub_type": sub_type, "index": str(index), "parameters": parameters}


def _template(
    to: str,
    name: str,
    language: str,
    header: Sequence[Parameter],
    body: Sequence[Parameter],
    buttons: Sequence[ButtonParams],
    media: HeaderMedia | None = None,
) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if media is not None:
        components.append({"type": "header", "parameters": [media.component()]})
    elif header:
        components.append({"type": "header", "parameters": [_text_parameter(p) for p in header]})
    if body:
        components.append({"type": "body", "parameters": [_text_parameter(p) for p in body]})
    components += [_button_component(*button) for button in buttons]
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    return _envelope(to, "template", template, None)


def template_message(
    to: str,
    name: str,
    language: str,
    *,
    body_params: Params = (),
    header_params: Params = (),
    button_params: Sequence[ButtonParams] = (),
) -> dict[str, Any]:
    """A template message; a sequence gives positional parameters, a mapping named ones."""
    return _template(to, name, language, _as_parameters(header_params), _as_parameters(body_params), button_params)


def authentication_message(to: str, name: str, language: str, code: str) -> dict[str, Any]:
    """An authentication (copy-code) template: the code goes in the body and in URL button 0."""
    _check_length("authentication code", code, AUTH_CODE_MAX)
    return template_message(to, name, language, body_params=[code], button_params=[("url", 0, [code])])


def rendered_message(to: str, template: RenderedTemplate) -> dict[str, Any]:
    """The send body for a rendered template, built in one pass over the value.

    Service templates are in-window replies, so they go as text or reply buttons, not as templates.
    """
    if template.category == "service":
        return _in_window_reply(to, template)
    buttons = [params for index, button in enumerate(template.buttons) for params in _button_params(index, button)]
    return _template(
        to,
        template.name,
        template.language,
        template.header_parameters,
        template.body_parameters,
        buttons,
        template.header_media,
    )


def _button_params(index: int, button: RenderedButton) -> list[ButtonParams]:
    """A quick reply sends its payload, a URL button its suffix; a copy-code button goes as a URL button with the code.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/authentication-templates/
    """
    if button.type == "quick_reply":
        return [("quick_reply", index, [button.payload])] if button.payload else []
    if button.type == "copy_code":
        for code in button.parameters:
            _check_length("authentication code", code, AUTH_CODE_MAX)
    return [("url", index, [text]) for text in button.parameters]


def _in_window_reply(to: str, template: RenderedTemplate) -> dict[str, Any]:
    if not template.buttons:
        return text_message(to, template.text)
    buttons = [(b.payload or b.text, b.text) for b in template.buttons]
    return buttons_message(to, template.text, buttons, header=template.header, footer=template.footer)


def read_receipt(message_id: str, *, typing: bool = False) -> dict[str, Any]:
    """Marks an inbound message read and, with ``typing``, shows the typing indicator."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body
