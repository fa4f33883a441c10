"""structlog set-up: JSON off a terminal, context from contextvars, and redaction of secrets and numbers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError

REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(r"(token|secret|password|otp|code_value|authorization|signature|api_key)", re.I)
_PHONE_KEYS = re.compile(r"(wa_id|phone|recipient|^to$|^from$|msisdn)", re.I)
_DIGITS = re.compile(r"\+?\d{7,15}")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.I)
_SIGNING_SECRET = re.compile(r"whsec_[A-Za-z0-9_-]+")  # an event subscription's secret (bot.events.signature)


def mask_phone(value: str) -> str:
    """Keep the last four digits of a number, enough to tell contacts apart in a log, never to dial them."""
    digits = value.lstrip("+")
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


class Redactor:
    """A structlog processor that removes secrets, one-time codes and full phone numbers from every event.

    Keys that name a secret are blanked whatever their value; keys that name a phone number are masked;
    and every string value is scanned for the configured secret values, bearer tokens and long digit runs
    (a phone number or a code inside a free-text message), because a redaction that trusts key names
    alone leaks the first time someone logs `error=str(exc)`.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict

    def _clean(self, key: str, value: Any) -> Any:
        if key.startswith("_"):
            return value  # structlog's own bookkeeping (_record, _from_structlog)
        if key == "request_id" and isinstance(value, str):
            return self._scrub_secrets(value)  # a hex id is not a phone number
        if key in ("event", "timestamp", "level", "logger"):
            return self._scrub(value) if isinstance(value, str) and key == "event" else value
        if _SECRET_KEYS.search(key) and value not in (None, ""):
            return REDACTED
        if isinstance(value, str):
            if _PHONE_KEYS.search(key):
                return mask_phone(value) if value.lstrip("+").isdigit() else self._scrub(value)
            return self._scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and _PHONE_KEYS.search(key):
            return mask_phone(str(value))
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, bytes):
            return self._scrub(value.decode("utf-8", "replace"))
        return self._scrub(repr(value))  # the renderers would repr() it anyway: an exception, an object

    def _scrub_secrets(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SIGNING_SECRET.sub(REDACTED, _BEARER.sub(r"\1" + REDACTED, text))

    def _scrub(self, text: str) -> str:
        return _DIGITS.sub(lambda m: mask_phone(m.group(0)), self._scrub_secrets(text))


def configure_logging(
    *, level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None
) -> None:
    """Configure structlog (and route the standard library's logging through the same redaction)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    redactor = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    logging.getLogger("aiohttp.access").disabled = True
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())


class MalformedRequests(logging.Filter):
    """A request aiohttp's parser refused (a line over 8 KB, a broken header) is the client's, not an error.

    aiohttp answers it 400 and logs it as "Error handling request" with a traceback; this makes it one
    `http.malformed_request` line at info, with the parser's reason and no traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 400) < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "http.malformed_request: %s", (str(error.message)[:200],)
            record.exc_info, record.exc_text = None, None
        return True
