"""Logging: JSON off a terminal, contextvars in every line, and redaction of secrets, codes and phone numbers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.log import REDACTED, Redactor, configure_logging, mask_phone
from bot.settings import Settings
from tests.api.test_app import get_json, post_webhook, start_app, wait_for_replies
from tests.conftest import ADMIN_TOKEN, APP_SECRET, FakeClock, Leak, SuiteLogs, text_webhook

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

SECRET = "s3cr3t-app-value"
TOKEN = "admin-token-XYZ-42"
NUMBER = "31612345678"


class Captured:
    """What `configure_logging` wrote to an in-memory stream, line by line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def last(self) -> dict[str, Any]:
        return self.lines()[-1]


@pytest.fixture
def captured() -> Captured:
    """structlog and stdlib logging configured for JSON into a buffer, with two secrets to redact."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", level="debug", secrets=[SECRET, TOKEN])
    return Captured(stream)


def log() -> Any:
    return structlog.get_logger("tests.log")


# --- format -------------------------------------------------------------------------------------------


def test_lines_are_json_with_level_timestamp_and_values(captured: Captured) -> None:
    """Each structlog event is one JSON object with the event name, level, UTC timestamp and its values."""
    log().info("turn.completed", flow="order_status", step="ask_number", replies=2)
    line = captured.last()
    assert line["event"] == "turn.completed"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["flow"] == "order_status"
    assert line["step"] == "ask_number"
    assert line["replies"] == 2


def test_auto_format_is_json_when_not_a_tty() -> None:
    """With `fmt="auto"` a stream that is not a terminal gets JSON lines."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="auto")
    log().info("service.started", port=8080)
    assert json.loads(stream.getvalue())["event"] == "service.started"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_is_console_on_a_tty() -> None:
    """With `fmt="auto"` a terminal gets human-readable console lines rather than JSON."""
    stream = FakeTerminal()
    configure_logging(stream=stream, fmt="auto")
    log().info("service.started", port=8080)
    output = stream.getvalue()
    assert "service.started" in output
    assert "port=8080" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_json_format_is_json_even_on_a_tty() -> None:
    """`fmt="json"` forces JSON on a terminal too."""
    stream = FakeTerminal()
    configure_logging(stream=stream, fmt="json")
    log().info("service.started")
    assert json.loads(stream.getvalue())["event"] == "service.started"


def test_level_filters_lower_events() -> None:
    """Events below the configured level are dropped, for structlog and stdlib loggers alike."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", level="warning")
    log().info("quiet.structlog")
    logging.getLogger("tests.stdlib").info("quiet stdlib")
    log().warning("loud.structlog")
    logging.getLogger("tests.stdlib").warning("loud stdlib")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["loud.structlog", "loud stdlib"]


def test_stdlib_records_are_json_with_logger_name(captured: Captured) -> None:
    """A standard-library record (aiohttp's own logging) becomes a JSON line with its logger name and level."""
    logging.getLogger("aiohttp.server").error("Error handling request")
    line = captured.last()
    assert line["event"] == "Error handling request"
    assert line["logger"] == "aiohttp.server"
    assert line["level"] == "error"
    assert "timestamp" in line


def test_aiohttp_access_log_is_silenced(captured: Captured) -> None:
    """aiohttp's access log is off: the service writes its own canonical request line instead."""
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /api/messages?wa_id=31612345678 HTTP/1.1" 200')
    assert captured.text == ""


# --- contextvars --------------------------------------------------------------------------------------


def test_contextvars_appear_in_structlog_lines(captured: Captured) -> None:
    """Values bound through contextvars (request id, contact, flow) appear in every line logged meanwhile."""
    with structlog.contextvars.bound_contextvars(request_id="req-abc", flow="booking", step="pick_day"):
        log().info("turn.started")
    log().info("after")
    first, second = captured.lines()
    assert first["request_id"] == "req-abc"
    assert first["flow"] == "booking"
    assert first["step"] == "pick_day"
    assert "request_id" not in second


def test_contextvars_appear_in_stdlib_lines(captured: Captured) -> None:
    """Stdlib records logged while a request id is bound carry it too."""
    with structlog.contextvars.bound_contextvars(request_id="req-stdlib"):
        logging.getLogger("aiohttp.server").warning("slow handler")
    assert captured.last()["request_id"] == "req-stdlib"


def test_hex_request_id_is_not_mistaken_for_a_phone_number(captured: Captured) -> None:
    """A request id shaped like the app's own (16 hex characters) reaches the log unchanged, digits and all."""
    with structlog.contextvars.bound_contextvars(request_id="0123456789abcdef"):
        log().info("http.request")
    assert captured.last()["request_id"] == "0123456789abcdef"


# --- redaction: secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "access_token",
        "admin_token",
        "app_secret",
        "secret_key",
        "password",
        "otp",
        "otp_code",
        "code_value",
        "authorization",
        "Authorization",
        "x_hub_signature_256",
        "api_key",
    ],
)
def test_values_under_secret_keys_are_redacted(captured: Captured, key: str) -> None:
    """A value under a key naming a secret, token, signature or one-time code is replaced whatever it is."""
    log().info("event", **{key: "482913"})
    assert captured.last()[key] == REDACTED
    assert "482913" not in captured.text


def test_otp_code_as_integer_under_secret_key_is_redacted(captured: Captured) -> None:
    """An OTP logged as a number under an OTP key is redacted as well."""
    log().info("otp.sent", otp=482913, wa_id=NUMBER)
    assert captured.last()["otp"] == REDACTED
    assert "482913" not in captured.text


def test_configured_secret_values_are_removed_from_free_text(captured: Captured) -> None:
    """A configured secret value is cut out of any string, whatever the key and wherever in the text."""
    log().warning("webhook.refused", detail=f"expected signature from {SECRET}!", note=f"token={TOKEN};")
    line = captured.last()
    assert SECRET not in captured.text
    assert TOKEN not in captured.text
    assert line["detail"] == f"expected signature from {REDACTED}!"
    assert line["note"] == f"token={REDACTED};"


def test_secret_in_the_event_name_is_removed(captured: Captured) -> None:
    """Even the event string itself is scrubbed of secrets and numbers."""
    log().error(f"failed with {TOKEN} for {NUMBER}")
    assert TOKEN not in captured.text
    assert NUMBER not in captured.text


def test_bearer_tokens_are_removed_from_free_text(captured: Captured) -> None:
    """Any bearer token in free text is redacted, even one not configured as a secret."""
    log().error("cloud_api.failed", error="401 for header Authorization: Bearer EAAGm0PX4ZCpsBAunknown")
    assert "EAAGm0PX4ZCpsBAunknown" not in captured.text
    assert f"Bearer {REDACTED}" in captured.last()["error"]


def test_nested_secrets_are_redacted(captured: Captured) -> None:
    """Secrets nested in dicts and lists are redacted by their own keys."""
    log().info("request.sent", headers={"Authorization": "Bearer abc.def", "Accept": "json"}, items=[{"otp": "123456"}])
    line = captured.last()
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["items"] == [{"otp": REDACTED}]


def test_exception_tracebacks_are_redacted(captured: Captured) -> None:
    """A logged exception's traceback text is scrubbed of secrets and phone numbers."""
    try:
        raise RuntimeError(f"Graph API refused {TOKEN} sending to {NUMBER}")
    except RuntimeError:
        log().exception("send.crashed")
    line = captured.last()
    assert "RuntimeError" in line["exception"]
    assert TOKEN not in captured.text
    assert NUMBER not in captured.text
    assert NUMBER[-4:] in line["exception"]


def test_exception_objects_as_values_are_redacted(captured: Captured) -> None:
    """An exception object logged as a value (`error=exc`) is scrubbed like its string would be."""
    log().error("send.failed", error=RuntimeError(f"token {TOKEN} rejected for {NUMBER}"))
    assert TOKEN not in captured.text
    assert NUMBER not in captured.text


def test_bytes_values_are_redacted(captured: Captured) -> None:
    """A raw body logged as bytes cannot smuggle a phone number or secret into the line."""
    log().warning("webhook.malformed", body=f'{{"from": "{NUMBER}", "k": "{SECRET}"}}'.encode())
    assert NUMBER not in captured.text
    assert SECRET not in captured.text


def test_short_or_empty_secrets_are_ignored() -> None:
    """Secrets shorter than four characters are not configured, so common words are not blanked."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", secrets=["", "ab", "on"])
    log().info("message", text="online abacus")
    assert json.loads(stream.getvalue())["text"] == "online abacus"


# --- redaction: phone numbers -------------------------------------------------------------------------


def test_mask_phone_keeps_only_the_last_four_digits() -> None:
    """A masked number keeps its length and last four digits; short values are fully hidden."""
    assert mask_phone("31612345678") == "*******5678"
    assert mask_phone("+31612345678") == "*******5678"
    assert mask_phone("1234") == "****"


@pytest.mark.parametrize("key", ["wa_id", "to", "from", "recipient", "recipient_id", "phone", "msisdn"])
def test_phone_keys_are_masked_to_the_last_four_digits(captured: Captured, key: str) -> None:
    """A number under a phone key keeps only its last four digits."""
    log().info("message.sent", **{key: NUMBER})
    assert captured.last()[key] == "*******5678"
    assert NUMBER not in captured.text


def test_phone_numbers_as_integers_are_masked(captured: Captured) -> None:
    """A number logged as an int under a phone key is masked too."""
    log().info("message.sent", wa_id=int(NUMBER))
    assert captured.last()["wa_id"] == "*******5678"


@pytest.mark.parametrize(
    "text",
    [
        f"could not reach {NUMBER}",
        f"could not reach +{NUMBER}",
        f"/api/contacts/{NUMBER}",
        f"wamid.test.{NUMBER}.1764000000.hi",
        f'{{"from": "{NUMBER}"}}',
    ],
)
def test_phone_numbers_inside_free_text_are_masked(captured: Captured, text: str) -> None:
    """A number inside a free-text value is masked wherever it sits, keeping the last four digits."""
    log().warning("something", detail=text)
    detail = captured.last()["detail"]
    assert NUMBER not in captured.text
    assert "5678" in detail


def test_phone_numbers_nested_in_payloads_are_masked(captured: Captured) -> None:
    """Numbers nested in a Meta payload (contacts, messages) are masked at every depth."""
    payload = {"contacts": [{"wa_id": NUMBER, "profile": {"name": "Ana"}}], "messages": [{"from": NUMBER}]}
    log().info("webhook.parsed", payload=payload, recipients=[NUMBER, "447700900123"])
    line = captured.last()
    assert NUMBER not in captured.text
    assert "447700900123" not in captured.text
    assert line["payload"]["contacts"][0]["wa_id"] == "*******5678"
    assert line["payload"]["contacts"][0]["profile"]["name"] == "Ana"
    assert line["recipients"] == ["*******5678", "********0123"]


def test_non_numeric_phone_key_values_are_scrubbed_not_dropped(captured: Captured) -> None:
    """A phone key holding text keeps the text but loses any number in it."""
    log().info("contact.changed", phone=f"changed to {NUMBER}")
    assert captured.last()["phone"] == "changed to *******5678"


def test_short_numbers_and_ids_are_left_alone(captured: Captured) -> None:
    """Small numbers (counts, ids, HTTP statuses, error codes) are not mistaken for phone numbers."""
    log().info("message.retry", outbox_id=42, code=131056, status=429, detail="retry 3 of 8 after 4.0 s")
    line = captured.last()
    assert line["outbox_id"] == 42
    assert line["code"] == 131056
    assert line["status"] == 429
    assert line["detail"] == "retry 3 of 8 after 4.0 s"


# --- stdlib records -----------------------------------------------------------------------------------


def test_stdlib_records_go_through_the_same_redaction(captured: Captured) -> None:
    """aiohttp's stdlib log records lose secrets, bearer tokens and phone numbers just like structlog events."""
    logging.getLogger("aiohttp.server").error(
        "Error handling request to /api/contacts/%s with Authorization: Bearer %s and %s", NUMBER, "raw-bearer", SECRET
    )
    line = captured.last()
    assert NUMBER not in captured.text
    assert "raw-bearer" not in captured.text
    assert SECRET not in captured.text
    assert "5678" in line["event"]


def test_stdlib_exceptions_are_redacted(captured: Captured) -> None:
    """A stdlib `logger.exception` traceback is scrubbed too."""
    try:
        raise ValueError(f"{TOKEN} {NUMBER}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Unhandled exception")
    assert TOKEN not in captured.text
    assert NUMBER not in captured.text
    assert "ValueError" in captured.last()["exception"]


def test_redactor_is_a_pure_processor() -> None:
    """The redactor is a plain structlog processor: event dict in, cleaned event dict out."""
    redactor = Redactor([SECRET])
    out = redactor(None, "info", {"event": "x", "wa_id": NUMBER, "app_secret": "v", "note": SECRET})
    assert out == {"event": "x", "wa_id": "*******5678", "app_secret": REDACTED, "note": REDACTED}


# --- end to end ---------------------------------------------------------------------------------------


async def test_running_app_logs_no_token_secret_or_full_number(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock, auth: dict[str, str]
) -> None:
    """Driving the real app (webhook in, reply out, /api reads) never logs the admin token, app secret or number."""
    settings = make_settings()
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", level="debug", secrets=settings.redactable())
    client, _ = await start_app(aiohttp_client, settings, clock)
    await post_webhook(client, text_webhook(NUMBER, f"my number is {NUMBER}", name="Ana"))
    await wait_for_replies(client, auth, NUMBER)
    await get_json(client, f"/api/contacts/{NUMBER}", auth)
    await get_json(client, "/api/messages", auth, wa_id=NUMBER)
    bad = await client.get("/api/conversations", headers={"Authorization": f"Bearer {ADMIN_TOKEN}-wrong"})
    assert bad.status == 401
    await client.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": APP_SECRET, "hub.challenge": "1"})
    await client.close()
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line["event"] == "http.request" and line["path"] == "/webhook" for line in lines)
    assert any(line["event"] == "message.sent" for line in lines)
    assert ADMIN_TOKEN not in output
    assert APP_SECRET not in output
    assert NUMBER not in output
    contact_lines = [line for line in lines if line["event"] == "http.request" and "/api/contacts/" in line["path"]]
    assert contact_lines
    assert contact_lines[0]["path"].endswith("5678")


async def test_request_line_carries_the_response_request_id(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """The canonical `http.request` line carries the same request id the response's X-Request-Id header shows."""
    stream = io.StringIO()
    configure_logging(stream=stream, fmt="json", secrets=settings.redactable())
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    ids = []
    for caller_id in ("req-abc", "0123456789abcdef"):  # the second is shaped like a generated id
        resp = await client.get("/api/messages", headers={**auth, "X-Request-Id": caller_id})
        ids.append(resp.headers["X-Request-Id"])
    logged = [
        json.loads(line)["request_id"]
        for line in stream.getvalue().splitlines()
        if json.loads(line)["event"] == "http.request"
    ]
    assert logged == ids


# --- the suite's own check ----------------------------------------------------------------------------


def test_the_session_check_reports_a_code_by_kind_and_test_but_never_shows_it() -> None:
    """The suite's closing check finds a drawn code or a test secret in a test's logs, naming only kind and test."""
    logs = SuiteLogs()
    logs.codes.add("482913")
    lines = {
        "tests/test_a.py::test_leaks_a_code": {"event": "otp.sent", "detail": "your code is 482913"},
        "tests/test_b.py::test_leaks_a_token": {"event": "auth.failed", "header": ADMIN_TOKEN},
        "tests/test_c.py::test_is_clean": {"event": "otp.sent", "timestamp": "2026-04-10T12:00:00.482913Z"},
        "tests/test_d.py::test_has_a_longer_number": {"event": "order.paid", "order": "94829137"},
    }
    for test, line in lines.items():
        logs.stream_for(test).write(json.dumps(line) + "\n")
    leaks = logs.leaks()
    assert leaks == [
        Leak("one-time code", "tests/test_a.py::test_leaks_a_code"),
        Leak("admin token", "tests/test_b.py::test_leaks_a_token"),
    ]
    report = "\n".join(str(leak) for leak in leaks)
    assert "tests/test_a.py::test_leaks_a_code" in report
    assert "one-time code" in report
    assert "482913" not in report
    assert ADMIN_TOKEN not in report


async def test_a_request_the_http_parser_refuses_is_one_info_line_without_a_traceback(
    captured: Captured, aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """A request line over aiohttp's 8 KB is answered 400 and logged as the client's mistake, not as an error."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"GET /api/" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.split(b" ")[1] == b"400"
    malformed = [line for line in captured.lines() if line.get("logger") == "aiohttp.server"]
    assert [(line["level"], line["event"].split(":")[0]) for line in malformed] == [("info", "http.malformed_request")]
    assert "exception" not in malformed[0]
