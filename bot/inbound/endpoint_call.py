"""Calls to the business's endpoints: the engine describes one, this builds, signs, sends and checks it.

A call comes from an `http` step (`CallEndpoint`) or from an action the endpoints file hands to an
endpoint. The request carries the step's rendered query or body as JSON, signed (`X-Bot-Signature`,
Stripe's `t=…,v1=…` over ``timestamp.body``) or with a bearer token, the secret read from the environment
variable the file names. The answer must come within the step's timeout, with a 2xx status, as JSON of
at most 64 KB that has the endpoint's declared shape; anything else is the step's error, with a short
reason in the `error` slot. Idempotent calls are tried again on errors worth retrying, with backoff,
while the timeout lasts. Secrets and tokens are never logged; neither are bodies.

The transport is a seam (as httpx's): `AiohttpEndpoints` over a real socket in the service,
`CannedEndpoints` in transcripts and tests that must run offline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import structlog
from aiohttp import web

from bot.engine.endpoint import MAX_ANSWER, SIGNATURE_HEADER, Endpoint, Endpoints, mismatch, sign
from bot.engine.state import ActionDone
from bot.whatsapp import storable_json
from bot.yaml_file import Problem, Reading, YamlLoader, read_mapping
from storage.json_codec import dumps_bytes

log = structlog.get_logger("bot.inbound.endpoint_call")

FIRST_PAUSE = 0.1  # seconds before the first retry; doubled each time
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
TOO_BIG = f"answer over {MAX_ANSWER // 1024} KB"


@dataclass(frozen=True)
class EndpointRequest:
    endpoint: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True)
class EndpointAnswer:
    status: int
    body: bytes  # at most `limit` + 1 bytes: one more than allowed says it was too big


class Unreachable(Exception):
    """The endpoint could not be reached or hung up (connection refused, reset, DNS)."""


class EndpointTransport(Protocol):
    async def send(self, request: EndpointRequest, limit: int) -> EndpointAnswer:
        """Send `request`; read at most `limit` + 1 bytes of the answer; `Unreachable` when there is none."""
        ...


@dataclass(frozen=True)
class AiohttpEndpoints:
    """Endpoints over real sockets, through the app's one client session."""

    session: aiohttp.ClientSession

    async def send(self, request: EndpointRequest, limit: int) -> EndpointAnswer:
        try:
            async with self.session.request(
                request.method, request.url, headers=dict(request.headers), data=request.body, allow_redirects=False
            ) as response:
                if (response.content_length or 0) > limit:
                    return EndpointAnswer(response.status, b"x" * (limit + 1))
                body = bytearray()
                async for chunk in response.content.iter_chunked(16 * 1024):
                    body += chunk
                    if len(body) > limit:
                        break
                return EndpointAnswer(response.status, bytes(body[: limit + 1]))
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(type(exc).__name__) from None


@dataclass(frozen=True)
class Canned:
    """A canned answer: a status with JSON (or raw text), or a timeout."""

    status: int = 200
    json: Any = None
    text: str | None = None
    timeout: bool = False


CANNED_FORMS = "{json: VALUE}, {status: CODE, json: VALUE}, {text: TEXT} or {timeout: true}"


def canned_answer(value: Any) -> Canned | None:
    """A canned answer as written in a transcript or a canned file; None when it is not one of `CANNED_FORMS`."""
    if not isinstance(value, dict) or not value or set(value) - {"status", "json", "text", "timeout"}:
        return None
    status, text, timeout = value.get("status", 200), value.get("text"), value.get("timeout", False)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    if not isinstance(timeout, bool) or not isinstance(text, str | None):
        return None
    return Canned(status, value.get("json"), text, timeout)


def read_canned(path: Path) -> tuple[dict[str, Canned], list[Problem]]:
    """A canned-answers file (`BOT_ENDPOINTS_CANNED`): endpoint names to answers, every problem at its place."""
    reading = Reading(path)
    read = read_mapping(reading, loader=YamlLoader, what=f"a canned-answers file maps endpoint names to {CANNED_FORMS}")
    found: dict[str, Canned] = {}
    for name, value in (read[1] if read else {}).items():
        answer = canned_answer(value)
        if answer is None:
            reading.error(reading.at(str(name)), f"the canned answer of {name!r} is {CANNED_FORMS}")
        else:
            found[str(name)] = answer
    return found, reading.sorted_problems()


class StandInSecrets(Mapping[str, str]):
    """Every secret present, as a stand-in: canned answers check no signature, and no real secret is needed."""

    def __getitem__(self, key: str) -> str:
        return "stand-in"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass
class CannedEndpoints:
    """Answers by endpoint name, offline; the requests it got are kept for tests to read."""

    answers: Mapping[str, Canned]
    requests: list[EndpointRequest] = field(default_factory=list)

    async def send(self, request: EndpointRequest, limit: int) -> EndpointAnswer:
        self.requests.append(request)
        canned = self.answers.get(request.endpoint)
        if canned is None:
            raise Unreachable(f"no canned answer for {request.endpoint}")
        if canned.timeout:
            raise TimeoutError
        body = canned.text.encode() if canned.text is not None else dumps_bytes(canned.json)
        return EndpointAnswer(canned.status, body[: limit + 1])


ENDPOINTS: web.AppKey[EndpointTransport] = web.AppKey("endpoints")  # how the app reaches the business's endpoints


@dataclass(frozen=True)
class EndpointCaller:
    """The project's endpoints, how to reach them, and where their secrets are (the environment)."""

    endpoints: Endpoints
    transport: EndpointTransport
    environ: Mapping[str, str]
    wall_clock: Callable[[], float] = time.time  # signatures carry real time, whatever clock the turn runs on

    def serves(self, action: str) -> bool:
        """Whether the endpoints file hands this flow action to one of the business's endpoints."""
        return action in self.endpoints.actions

    async def run_action(
        self, action: str, args: Mapping[str, str], wa_id: str | None, budget: timedelta
    ) -> ActionDone:
        """A flow action served by an endpoint: its arguments and the customer's number as query or body."""
        endpoint = self.endpoints.by_name[self.endpoints.actions[action]]
        values = {**args, "wa_id": wa_id or ""}
        if endpoint.method == "GET":
            return await self.call(endpoint.name, values, None, budget)
        return await self.call(endpoint.name, {}, values, budget)

    async def call(
        self, name: str, query: Mapping[str, str], body: Mapping[str, Any] | None, budget: timedelta | None
    ) -> ActionDone:
        """Call endpoint `name` within `budget` (else its own timeout); idempotent calls are tried again while
        the failure is worth retrying and time is left."""
        endpoint = self.endpoints.by_name.get(name)
        if endpoint is None:
            log.error("endpoint.unknown", endpoint=name)
            return ActionDone(error=f"no endpoint named {name}")
        request = self._request(endpoint, query, body)
        if isinstance(request, str):
            return ActionDone(error=request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + (budget or endpoint.timeout).total_seconds()
        attempt = 0
        while True:
            attempt += 1
            outcome, retry = await self._attempt(endpoint, request, deadline - loop.time())
            elapsed_ms = round((loop.time() - started) * 1000)
            if isinstance(outcome, ActionDone):
                log.info("endpoint.called", endpoint=name, attempts=attempt, ms=elapsed_ms)
                return outcome
            failure = outcome
            pause = FIRST_PAUSE * 2 ** (attempt - 1)
            if not (retry and endpoint.idempotent) or loop.time() + pause >= deadline:
                log.warning("endpoint.failed", endpoint=name, reason=failure, attempts=attempt, ms=elapsed_ms)
                return ActionDone(error=failure)
            log.info("endpoint.retrying", endpoint=name, reason=failure, attempt=attempt, pause_s=pause)
            await asyncio.sleep(pause)

    async def _attempt(
        self, endpoint: Endpoint, request: EndpointRequest, remaining: float
    ) -> tuple[ActionDone | str, bool]:
        """One try: the outcome, or the failure's reason and whether another try could help."""
        if remaining <= 0:
            return "timeout", False
        if endpoint.auth is not None and endpoint.auth.scheme == "signature":
            secret = self.environ.get(endpoint.auth.env, "")
            signature = sign(secret, int(self.wall_clock()), request.body or b"")
            request = EndpointRequest(
                request.endpoint,
                request.method,
                request.url,
                {**request.headers, SIGNATURE_HEADER: signature},
                request.body,
            )
        try:
            async with asyncio.timeout(remaining):
                answer = await self.transport.send(request, MAX_ANSWER)
        except TimeoutError:
            return "timeout", False
        except Unreachable as exc:
            return f"unreachable ({exc})", True
        if not 200 <= answer.status < 300:
            return f"status {answer.status}", answer.status in RETRIED_STATUSES
        return _read(endpoint, answer.body), False

    def _request(
        self, endpoint: Endpoint, query: Mapping[str, str], body: Mapping[str, Any] | None
    ) -> EndpointRequest | str:
        headers = {"Accept": "application/json", "User-Agent": "whatsapp-conversation-service"}
        if endpoint.auth is not None:
            secret = self.environ.get(endpoint.auth.env)
            if not secret:
                log.error("endpoint.secret_missing", endpoint=endpoint.name, env=endpoint.auth.env)
                return f"{endpoint.auth.env} is not set"
            if endpoint.auth.scheme == "bearer":
                headers["Authorization"] = f"Bearer {secret}"
        data = None
        if body is not None or endpoint.method != "GET":
            data = dumps_bytes(dict(body or {}))
            headers["Content-Type"] = "application/json"
        return EndpointRequest(endpoint.name, endpoint.method, _with_query(endpoint.url, query), headers, data)


def _read(endpoint: Endpoint, body: bytes) -> ActionDone | str:
    """The answer as a slot value, or why it cannot be one: too big, not JSON, or not of the declared shape."""
    if len(body) > MAX_ANSWER:
        return TOO_BIG
    try:
        value = storable_json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "answer is not JSON"
    if value is None and endpoint.nullable:
        return ActionDone(value=None)
    wrong = mismatch(endpoint.returns, value)
    return f"wrong answer: {wrong}" if wrong else ActionDone(value=value)


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(query.items()))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
