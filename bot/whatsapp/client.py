"""Meta Cloud API: error mapping, the transport seam and the sending client."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp import web

from bot.errors import (
    AccountBlocked,
    CloudAPIError,
    MarketingLimited,
    MarketingStopped,
    NumberUpgrading,
    PairRateLimited,
    ReEngagementRequired,
    SendOutcomeUnknown,
    SpamRateLimited,
    TemplateError,
    ThroughputExceeded,
    TransientError,
    Undeliverable,
)
from bot.whatsapp.message_body import read_receipt
from storage import json_codec

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
    if isinstance(value, str) and value.isdecimal() and len(value) <= 18:
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


@runtime_checkable
class UploadTransport(Protocol):
    """A transport that can also post one file as multipart form data (Meta's media upload)."""

    async def upload(
        self, url: str, *, fields: dict[str, str], file: tuple[bytes, str, str], headers: dict[str, str]
    ) -> tuple[int, Any]: ...


# Connections to Meta beyond the sends themselves: read receipts and typing indicators, which the throttle
# does not count.
OTHER_REQUESTS = 100


def connector(throughput: int) -> aiohttp.TCPConnector:
    """A connection pool with room for every send the throttle lets out at once, and then some.

    With exact counting at most `throughput` sends are out at a time (the one `throughput` places later
    waits for each to end), so none queues for a connection after the throttle counted it as gone. With
    aiohttp's default pool of 100 it did once the rate times the answer time passed 100 (at 1,000 a
    second, any answer slower than 0.1 s), and that wait lengthened the answers the throttle paces by:
    against a stand-in answering in 0.75 s under a 5 s window (Meta's 0.15 s and 1 s, five times slower),
    the default pool sent 128 a second and this one 174, the window's bound.
    """
    return aiohttp.TCPConnector(limit=throughput + OTHER_REQUESTS)


class AiohttpTransport:
    """The real transport over a ``ClientSession`` owned by the caller; failures to talk are transient."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        # Encoded here (orjson) rather than by aiohttp's `json=` (the standard library): a send's CPU matters.
        body, headers = json_codec.dumps_bytes(json), {**headers, "Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=self._timeout) as response:
                return response.status, _decode(await response.read())
        except TimeoutError as exc:
            raise SendOutcomeUnknown(f"Cloud API request timed out after {self._timeout.total} s") from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise SendOutcomeUnknown(f"Cloud API answer lost: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(f"Cloud API request failed: {type(exc).__name__}") from exc

    async def upload(
        self, url: str, *, fields: dict[str, str], file: tuple[bytes, str, str], headers: dict[str, str]
    ) -> tuple[int, Any]:
        """`file` is (bytes, media type, file name), posted as the form's `file` part beside `fields`."""
        data, mime_type, filename = file
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("file", data, content_type=mime_type, filename=filename)
        try:
            timeout = aiohttp.ClientTimeout(total=max(60.0, self._timeout.total or 0))  # files take longer
            async with self._session.post(url, data=form, headers=headers, timeout=timeout) as response:
                return response.status, _decode(await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"media upload failed: {type(exc).__name__}") from exc


def _decode(raw: bytes) -> Any:
    try:
        return json_codec.loads(raw)
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

    async def upload(
        self, url: str, *, fields: dict[str, str], file: tuple[bytes, str, str], headers: dict[str, str]
    ) -> tuple[int, Any]:
        """Records an upload (the file's name, type and size, not its bytes) and answers a fresh media id."""
        data, mime_type, filename = file
        media_id = f"media.upload.{len(self.requests) + 1}"
        recorded = {**fields, "file": filename, "type": mime_type, "size": len(data), "id": media_id}
        self.requests.append(RecordedRequest(url, recorded, dict(headers)))
        return 200, {"id": media_id}

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


Tokens = Callable[[str], str | None]


class CloudAPIClient:
    """Sends built message bodies to ``POST {base}/{version}/{phone_number_id}/messages``.

    `phone_number_id` and `access_token` are the default number's; a send from another number (several
    numbers, bot/numbers/) goes to that number's path with the token `tokens` gives for it.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        base_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        tokens: Tokens | None = None,
    ) -> None:
        self._transport = transport
        self._base = f"{base_url.rstrip('/')}/{version}"
        self._number = phone_number_id
        self._url = f"{self._base}/{phone_number_id}/messages"
        self._access_token = access_token
        self._tokens = tokens

    def __repr__(self) -> str:
        return f"CloudAPIClient(url={self._url!r})"

    async def send(self, body: dict[str, Any], *, number: str | None = None) -> SendResult:
        """Sends one message from `number` (None: the default); raises the mapped ``CloudAPIError`` when refused."""
        status, answer = await self._post(body, number)
        return _send_result(status, answer)

    async def upload(self, data: bytes, mime_type: str, filename: str, *, number: str | None = None) -> str:
        """Uploads a file to ``POST {base}/{version}/{number}/media`` (None: the default number); Meta's media id."""
        if not isinstance(self._transport, UploadTransport):
            raise TransientError("this Cloud API transport cannot upload files")
        url, token = self._line(number)
        url = url.removesuffix("/messages") + "/media"
        headers = {"Authorization": f"Bearer {token}"}
        fields = {"messaging_product": "whatsapp", "type": mime_type}
        status, answer = await self._transport.upload(
            url, fields=fields, file=(data, mime_type, filename), headers=headers
        )
        if not 200 <= status < 300:
            raise error_from_response(status, redact(answer, token))
        media_id = _str_or_none(answer.get("id")) if isinstance(answer, dict) else None
        if media_id is None:
            raise TransientError(f"the media upload answered HTTP {status} without an id", http_status=status)
        return media_id

    async def mark_read(self, message_id: str, *, typing: bool = False, number: str | None = None) -> None:
        """Marks an inbound message read, optionally showing the typing indicator."""
        await self._post(read_receipt(message_id, typing=typing), number)

    def _line(self, number: str | None) -> tuple[str, str]:
        """The URL and token to send from `number`."""
        if number is None or number == self._number or self._tokens is None:
            return self._url, self._access_token
        token = self._tokens(number)
        if token is None:  # a configuration mistake, not Meta's answer: retried until the variable is set
            raise TransientError(f"no access token for number {number}: set the variable its token_env names")
        return f"{self._base}/{number}/messages", token

    async def _post(self, body: dict[str, Any], number: str | None = None) -> tuple[int, Any]:
        url, token = self._line(number)
        headers = {"Authorization": f"Bearer {token}"}
        status, answer = await self._transport.post(url, json=body, headers=headers)
        if not 200 <= status < 300:
            raise error_from_response(status, redact(answer, token))
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


def redact(value: Any, secret: str) -> Any:
    """Replaces the secret wherever a (misbehaving) server echoed it back, so no error can carry it."""
    if isinstance(value, str):
        return value.replace(secret, "[redacted]") if len(secret) >= 8 else value
    if isinstance(value, dict):
        return {k: redact(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secret) for v in value]
    return value


CLIENT = web.AppKey("cloud_api_client", CloudAPIClient)
