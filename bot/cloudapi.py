"""Meta Cloud API: message builders that enforce Meta's limits, error mapping, and the sending client."""

from __future__ import annotations

import json as jsonlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.errors import (
    AccountBlocked,
    CloudAPIError,
    LimitExceeded,
    MarketingLimited,
    MarketingStopped,
    NumberUpgrading,
    PairRateLimited,
    ReEngagementRequired,
    SpamRateLimited,
    TemplateError,
    ThroughputExceeded,
    TransientError,
    Undeliverable,
    ValidationError,
)

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
AUTH_CODE_MAX = 15

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


def _interactive(
    kind: str, body: str, action: dict[str, Any], header: str | None, footer: str | None
) -> dict[str, Any]:
    interactive: dict[str, Any] = {"type": kind}
    if header is not None:
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
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """An interactive message with one to three reply buttons given as ``(id, title)``."""
    _check_length("body text", body, BUTTONS_BODY_MAX)
    _check_count("the message", len(buttons), "buttons", BUTTONS_MAX)
    for number, (button_id, title) in enumerate(buttons, start=1):
        _check_length(f"button {number} id", button_id, BUTTON_ID_MAX)
        _check_length(f"button {number} title", title, BUTTON_TITLE_MAX)
    _check_unique([(f"button {n}", b[0]) for n, b in enumerate(buttons, start=1)], "id")
    _check_unique([(f"button {n}", b[1]) for n, b in enumerate(buttons, start=1)], "title")
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in buttons]}
    return _envelope(to, "interactive", _interactive("button", body, action, header, footer), reply_to)


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
    header: str | None = None,
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


def _text_parameters(params: Params) -> list[dict[str, str]]:
    if isinstance(params, Mapping):
        return [{"type": "text", "parameter_name": k, "text": v} for k, v in params.items()]
    return [{"type": "text", "text": v} for v in params]


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
    components: list[dict[str, Any]] = []
    if header_params:
        components.append({"type": "header", "parameters": _text_parameters(header_params)})
    if body_params:
        components.append({"type": "body", "parameters": _text_parameters(body_params)})
    components += [_button_component(*button) for button in button_params]
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    return _envelope(to, "template", template, None)


def authentication_message(to: str, name: str, language: str, code: str) -> dict[str, Any]:
    """An authentication (copy-code) template: the code goes in the body and in URL button 0."""
    _check_length("authentication code", code, AUTH_CODE_MAX)
    return template_message(to, name, language, body_params=[code], button_params=[("url", 0, [code])])


def read_receipt(message_id: str, *, typing: bool = False) -> dict[str, Any]:
    """Marks an inbound message read and, with ``typing``, shows the typing indicator."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


# --- errors -----------------------------------------------------------------------------------------

# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
ERROR_CLASSES: Mapping[int, type[CloudAPIError]] = {
    131047: ReEngagementRequired,
    131026: Undeliverable,
    130429: ThroughputExceeded,
    131056: PairRateLimited,
    131048: SpamRateLimited,
    131049: MarketingLimited,
    131050: MarketingStopped,
    132000: TemplateError,
    132001: TemplateError,
    132015: TemplateError,
    132016: TemplateError,
    131057: NumberUpgrading,
    368: AccountBlocked,
    131000: TransientError,
}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _from_error_object(error: Mapping[str, Any], http_status: int | None, raw: dict[str, Any]) -> CloudAPIError:
    """Builds the typed error for one Meta error object, choosing the class by ``code`` alone."""
    code = _int_or_none(error.get("code"))
    error_data = error.get("error_data")
    details = _str_or_none(error_data.get("details")) if isinstance(error_data, Mapping) else None
    if code is None:
        cls: type[CloudAPIError] = TransientError
    else:
        fallback = TransientError if http_status is not None and http_status >= 500 else CloudAPIError
        cls = ERROR_CLASSES.get(code, fallback)
    text = _str_or_none(error.get("message")) or _str_or_none(error.get("title")) or "no message"
    message = f"WhatsApp error {code}: {text}" + (f" ({details})" if details else "")
    return cls(
        message,
        error_code=code,
        subcode=_int_or_none(error.get("error_subcode")),
        http_status=http_status,
        details=details,
        fbtrace_id=_str_or_none(error.get("fbtrace_id")),
        raw=raw,
    )


def error_from_response(http_status: int, body: Any) -> CloudAPIError:
    """The typed error for a non-2xx answer of the Graph API; an unreadable body is transient."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, Mapping):
        return TransientError(
            f"Cloud API answered HTTP {http_status} without a readable error",
            http_status=http_status,
            raw=body if isinstance(body, dict) else None,
        )
    return _from_error_object(error, http_status, body)


def error_from_status_errors(errors: list[dict[str, Any]]) -> CloudAPIError:
    """The typed error for the ``errors[]`` of a ``failed`` status webhook (its first error decides)."""
    return _from_error_object(_first_dict(errors), None, {"errors": errors})


# --- transport --------------------------------------------------------------------------------------


class Transport(Protocol):
    """Posts one JSON request and returns ``(HTTP status, decoded JSON or None)``."""

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]: ...


class AiohttpTransport:
    """The real transport over a ``ClientSession`` owned by the caller; failures to talk are transient."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        try:
            async with self._session.post(url, json=json, headers=headers, timeout=self._timeout) as response:
                return response.status, _decode(await response.read())
        except TimeoutError as exc:
            raise TransientError(f"Cloud API request timed out after {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(f"Cloud API request failed: {type(exc).__name__}") from exc


def _decode(raw: bytes) -> Any:
    try:
        return jsonlib.loads(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request a ``RecordingTransport`` saw."""

    url: str
    json: dict[str, Any]
    headers: dict[str, str]


Answer = tuple[int, Any] | Exception
Responder = Callable[[RecordedRequest], tuple[int, Any]]


class RecordingTransport:
    """A fake transport for tests: records every request and answers from a queue or a callable.

    Queued answers are ``(status, body)`` pairs or exceptions to raise; with neither queue nor callable
    every request is accepted with a fresh wamid.
    """

    def __init__(self, answers: Iterable[Answer] | Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self._responder: Responder | None = answers if callable(answers) else None
        self._queue: deque[Answer] | None = None if answers is None or callable(answers) else deque(answers)

    def answer(self, *answers: Answer) -> None:
        """Queues more canned answers."""
        if self._queue is None:
            self._queue = deque()
        self._queue.extend(answers)

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        request = RecordedRequest(url, json, dict(headers))
        self.requests.append(request)
        if self._queue is None:
            return (self._responder or self._accept)(request)
        if not self._queue:
            raise LookupError(f"RecordingTransport has no answer left for request {len(self.requests)}")
        answer = self._queue.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _accept(self, request: RecordedRequest) -> tuple[int, Any]:
        to = request.json.get("to")
        contacts = [{"input": to, "wa_id": to}] if to else []
        messages = [{"id": f"wamid.test.{len(self.requests)}"}]
        return 200, {"messaging_product": "whatsapp", "contacts": contacts, "messages": messages}


# --- client -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What Meta returned for an accepted message; acceptance is not delivery."""

    wamid: str
    wa_id: str | None
    message_status: str | None


class CloudAPIClient:
    """Sends built message bodies to ``POST {base}/{version}/{phone_number_id}/messages``."""

    def __init__(
        self, *, transport: Transport, base_url: str, version: str, phone_number_id: str, access_token: str
    ) -> None:
        self._transport = transport
        self._url = f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages"
        self._access_token = access_token

    def __repr__(self) -> str:
        return f"CloudAPIClient(url={self._url!r})"

    async def send(self, body: dict[str, Any]) -> SendResult:
        """Sends one message; raises the mapped ``CloudAPIError`` when Meta refuses it."""
        status, answer = await self._post(body)
        return _send_result(status, answer)

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Marks an inbound message read, optionally showing the typing indicator."""
        await self._post(read_receipt(message_id, typing=typing))

    async def _post(self, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self._access_token}"}
        status, answer = await self._transport.post(self._url, json=body, headers=headers)
        if not 200 <= status < 300:
            raise error_from_response(status, _redact(answer, self._access_token))
        return status, answer


def _send_result(status: int, answer: Any) -> SendResult:
    body = answer if isinstance(answer, dict) else {}
    message = _first_dict(body.get("messages"))
    wamid = _str_or_none(message.get("id"))
    if wamid is None:
        raise TransientError(f"Cloud API answered HTTP {status} without a message id", http_status=status, raw=body)
    contact = _first_dict(body.get("contacts"))
    return SendResult(wamid, _str_or_none(contact.get("wa_id")), _str_or_none(message.get("message_status")))


def _first_dict(value: Any) -> dict[str, Any]:
    first = value[0] if isinstance(value, list) and value else None
    return first if isinstance(first, dict) else {}


def _redact(value: Any, secret: str) -> Any:
    """Replaces the secret wherever a (misbehaving) server echoed it back, so no error can carry it."""
    if isinstance(value, str):
        return value.replace(secret, "[redacted]") if len(secret) >= 8 else value
    if isinstance(value, dict):
        return {k: _redact(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secret) for v in value]
    return value
