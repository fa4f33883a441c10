"""The service's one error tree; only the HTTP edge turns these into status codes, through `http_status`.

::

    BotError                        HTTP 500 unless a branch below says otherwise
    ├── ConfigError                 a bad setting; the service refuses to start
    ├── ValidationError             bad input from a caller (HTTP 400)
    │   ├── MalformedPayload        a webhook body that is not a Meta envelope
    │   ├── LimitExceeded           a field over one of Meta's limits, caught before sending
    │   ├── IncompleteBody          a request body cut off before its end: the client went away mid-send
    │   ├── BodyTooLarge            a request body over the route's size limit (HTTP 413)
    │   ├── BodyTimeout             a request body that stopped arriving for too long (HTTP 408)
    │   ├── TemplateNotApproved     a template Meta has not approved, or has paused or disabled (HTTP 409)
    │   └── ExpressionError         a flow expression that does not compile or run (bot.engine.expression_parser)
    ├── NotFound                    an unknown record (HTTP 404)
    ├── Conflict                    the request clashes with a record that exists, e.g. a taken name (HTTP 409)
    ├── PolicyError                 a send WhatsApp's rules forbid (HTTP 409)
    │   ├── OutsideServiceWindow    free-form message with no open customer service window
    │   └── OTPRefused              a one-time code asked for too soon, too often, or after 5 wrong tries (HTTP 429)
    ├── StorageUnavailable          the database cannot be reached (HTTP 503)
    ├── TranscriptError             a transcript that cannot be read or played (bot.devtools.transcript_file)
    ├── MediaRefused                a media file over Meta's size limit, of a type not allowed, or not its SHA-256
    └── CloudAPIError               Meta answered with an error (``code`` decides, never the title)
        ├── ReEngagementRequired    131047: more than 24 h since the user's last message
        ├── Undeliverable           131026: not on WhatsApp, old client, terms not accepted
        ├── ThroughputExceeded      130429: the business number's throughput was reached
        ├── PairRateLimited         131056: too many messages to one user
        ├── SpamRateLimited         131048
        ├── MarketingLimited        131049: per-user marketing limit, wait 24 h
        ├── MarketingStopped        131050: the user stopped marketing messages
        ├── TemplateError           132000 / 132001 / 132015 / 132016: fix or stop using the template
        ├── NumberUpgrading         131057: retry within a minute
        ├── AccountBlocked          368: stop sending
        └── TransientError          131000, 5xx, timeouts: retry with backoff
            └── SendOutcomeUnknown  no answer came (a timeout, a dropped connection): Meta may have it

Codes and what to do: https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


class BotError(Exception):
    """Base of every error the service raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BotError):
    """A setting is missing or wrong; raised at start-up, before anything runs."""

    code = "config_error"


@dataclass(frozen=True)
class FieldError:
    """One field of a request that is wrong: where (`items[3].wa_id`) and why."""

    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        """As the API's error answers list it."""
        return {"field": self.field, "message": self.message}


class ValidationError(BotError):
    """Input from a caller is not acceptable; `fields` lists every wrong field when a body was checked whole."""

    code = "invalid_request"

    def __init__(self, message: str, *, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class MalformedPayload(ValidationError):
    """A webhook body that cannot be read as a Meta notification envelope."""

    code = "malformed_payload"


class LimitExceeded(ValidationError):
    """A message field breaks one of Meta's documented limits; caught locally, before sending."""

    code = "limit_exceeded"


class IncompleteBody(ValidationError):
    """The request body ended before its declared length or its last chunk: the client went away mid-send."""

    code = "incomplete_body"


class BodyTooLarge(ValidationError):
    """The request body is larger than the route accepts."""

    code = "body_too_large"


class BodyTimeout(ValidationError):
    """No part of the request body arrived for longer than the read timeout."""

    code = "body_timeout"


class TemplateNotApproved(ValidationError):
    """A template Meta has not approved (pending, rejected, paused, disabled ...): sends of it are refused.

    A `ValidationError` so that the batch paths answer it beside the others, but a 409: the request is
    fine, the template is not usable now.
    """

    code = "template_not_approved"


class NotFound(BotError):
    """The named record does not exist."""

    code = "not_found"


class Conflict(BotError):
    """The request clashes with a record that already exists, such as a name that is taken."""

    code = "conflict"


class PolicyError(BotError):
    """WhatsApp's rules forbid this send."""

    code = "policy_violation"


class OutsideServiceWindow(PolicyError):
    """A free-form message to a contact whose customer service window is closed; send a template."""

    code = "outside_service_window"


class OTPRefused(PolicyError):
    """A one-time code may not be sent yet: too soon after the last, too many in the window, or locked.

    ``reason`` is ``too_soon``, ``too_many`` or ``locked``; ``retry_at`` is the earliest moment a send may
    succeed. Neither says whether the number exists: pacing is kept for every number asked about.
    """

    code = "otp_refused"

    def __init__(self, message: str, *, reason: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_at = retry_at


class StorageUnavailable(BotError):
    """The database cannot be reached or refused the transaction; callers should retry later."""

    code = "storage_unavailable"


class MediaRefused(BotError):
    """A media file that breaks a rule (size, type, checksum): fetching it again would give the same file."""

    code = "media_refused"


class CloudAPIError(BotError):
    """Meta's Cloud API answered with an error object.

    ``retryable`` says whether the same request may succeed later without a change; ``retry_after`` is a
    hint in seconds where Meta's guidance gives one.
    """

    code = "cloud_api_error"
    retryable: ClassVar[bool] = False
    retry_after: ClassVar[float | None] = None

    def __init__(
        self,
        message: str,
        *,
        error_code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.subcode = subcode
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.raw = raw or {}


class ReEngagementRequired(CloudAPIError):
    """131047: more than 24 hours since the user's last message; only a template may be sent."""

    code = "reengagement_required"


class Undeliverable(CloudAPIError):
    """131026: the number cannot receive the message; permanent for that number."""

    code = "undeliverable"


class ThroughputExceeded(CloudAPIError):
    """130429: the business number's throughput was reached; back off and retry."""

    code = "throughput_exceeded"
    retryable = True
    retry_after = 1.0


class PairRateLimited(CloudAPIError):
    """131056: too many messages to one user; wait 4^n seconds for that user only."""

    code = "pair_rate_limited"
    retryable = True
    retry_after = 4.0


class SpamRateLimited(CloudAPIError):
    """131048: Meta's spam rate limit; slow down."""

    code = "spam_rate_limited"
    retryable = True
    retry_after = 60.0


class MarketingLimited(CloudAPIError):
    """131049: the per-user marketing limit; do not retry for 24 hours."""

    code = "marketing_limited"
    retryable = True
    retry_after = 24 * 3600.0


class MarketingStopped(CloudAPIError):
    """131050: the user stopped marketing messages; record the opt-out, never retry."""

    code = "marketing_stopped"


class TemplateError(CloudAPIError):
    """132000, 132001, 132015, 132016: the template is wrong, unknown, paused or disabled."""

    code = "template_error"


class NumberUpgrading(CloudAPIError):
    """131057: the business number is being upgraded; retry within a minute."""

    code = "number_upgrading"
    retryable = True
    retry_after = 30.0


class AccountBlocked(CloudAPIError):
    """368: the account is blocked for a policy violation; stop sending."""

    code = "account_blocked"


class TransientError(CloudAPIError):
    """131000, 5xx answers, timeouts and connection failures: retry with backoff."""

    code = "transient_error"
    retryable = True
    retry_after = 2.0


class SendOutcomeUnknown(TransientError):
    """The request went out but no answer came back: Meta may or may not have accepted the message.

    A reply or a utility message is retried (a duplicate is better than a lost answer); a marketing
    message is recorded as `unknown` and never sent again.
    """

    code = "send_outcome_unknown"


# First match wins: subclasses before their parents.
_STATUS: tuple[tuple[type[BotError], int], ...] = (
    (BodyTooLarge, 413),
    (BodyTimeout, 408),
    (TemplateNotApproved, 409),
    (ValidationError, 400),
    (NotFound, 404),
    (Conflict, 409),
    (OTPRefused, 429),
    (PolicyError, 409),
    (StorageUnavailable, 503),
)


def http_status(error: BotError) -> int:
    """The HTTP status `error` is answered with (the tree above): 500 for an error no caller could fix."""
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 500)
