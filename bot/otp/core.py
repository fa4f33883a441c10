"""One-time codes as a pure core: issue, verify and pace them as functions of `now`, with no I/O.

A code is six digits from `secrets`. Only its HMAC-SHA256, keyed with ``BOT_SECRET_KEY`` over purpose,
contact and code, is ever stored, so a leaked row is useless for another number or purpose and useless
without the key. The code itself lives only in the ``OneTimeCode`` that ``issue`` returns, whose ``repr``
and ``str`` are redacted: call ``reveal()`` at the last moment, when rendering the template.

Callers answer only ``VerifyResult.verified`` and ``SendDecision.allowed``/``retry_at`` to the outside
world, and keep a ``SendHistory`` for every number asked about, known or not, so an answer never tells
whether a number exists or has a code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bot.errors import OTPRefused, ValidationError

CODE_DIGITS = 6
CODE_LIFE = timedelta(minutes=10)
MAX_FAILURES = 5
SEND_WINDOW = timedelta(minutes=10)
MAX_SENDS = 5
RESEND_GAP = timedelta(seconds=30)

# Meta's limits for authentication templates: the footer's "expires in N minutes" takes 1-90, and
# message_send_ttl_seconds (how long Meta keeps trying to deliver) takes 30-900 seconds.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/time-to-live
TEMPLATE_EXPIRATION_MINUTES = (1, 90)
TEMPLATE_TTL_SECONDS = (30, 900)

_DIGEST_VERSION = "otp-v1"
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# Compared against when there is no challenge, so that path costs the same as a wrong code.
_ABSENT_DIGEST = "0" * 64


class RandomSource(Protocol):
    """What `generate_code` needs from its randomness: the `secrets` module, or a fake in tests."""

    def randbelow(self, exclusive_upper_bound: int, /) -> int: ...


class OneTimeCode:
    """A code on its way to the user; redacted in ``repr``/``str`` so no log line or error can show it."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        _check_code_format(digits)
        self._digits = digits

    def reveal(self) -> str:
        """The digits, for the one place that needs them: the template's parameters."""
        return self._digits

    def __repr__(self) -> str:
        return "OneTimeCode('******')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a one-time code is not to be pickled or copied into storage")


@dataclass(frozen=True)
class Challenge:
    """An issued code as a storage row holds it: its digest, never the code.

    ``attempts`` counts wrong tries, including those carried over from earlier codes in the send window,
    so a resend never buys a fresh guessing budget.
    """

    purpose: str
    contact: str
    digest: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.created_at, "created_at")
        _aware(self.expires_at, "expires_at")
        if self.used_at is not None:
            _aware(self.used_at, "used_at")
        if self.expires_at <= self.created_at:
            raise ValueError("a challenge must expire after it is created")
        if self.attempts < 0:
            raise ValueError("attempts cannot be negative")

    def exhausted(self) -> bool:
        """Whether the wrong-try budget is spent."""
        return self.attempts >= MAX_FAILURES

    def expired(self, now: datetime) -> bool:
        """Whether the code's life is over at `now` (the last valid instant is just before `expires_at`)."""
        return _aware(now) >= self.expires_at


@dataclass(frozen=True)
class SendHistory:
    """What pacing needs to know about one (contact, purpose): recent send times and carried failures.

    ``failures`` is the wrong-try count of the latest code; it is carried into the next code as long as a
    send remains inside the window, and forgotten once the window has no sends (see `carried_failures`).
    Keep one for every number asked about, known or not, so refusals look the same for both.
    """

    sent_at: tuple[datetime, ...] = ()
    failures: int = 0

    def __post_init__(self) -> None:
        for when in self.sent_at:
            _aware(when, "sent_at")
        if self.failures < 0:
            raise ValueError("failures cannot be negative")

    @classmethod
    def from_challenges(cls, challenges: Iterable[Challenge]) -> SendHistory:
        """The history implied by the challenges issued to one (contact, purpose): one send per challenge.

        A verified latest code clears the failure count: the budget guards against guessing, and the
        owner of the number has just shown they are not guessing.
        """
        ordered = sorted(challenges, key=lambda c: c.created_at)
        if not ordered:
            return cls()
        latest = ordered[-1]
        failures = 0 if latest.used_at is not None else latest.attempts
        return cls(tuple(c.created_at for c in ordered), failures)

    def recent(self, now: datetime) -> tuple[datetime, ...]:
        """The sends still inside the rolling window at `now`, oldest first."""
        _aware(now)
        return tuple(sorted(t for t in self.sent_at if now - t < SEND_WINDOW))


SendReason = Literal["too_soon", "too_many", "locked"]


@dataclass(frozen=True)
class SendDecision:
    """Whether a code may be sent now; if not, why, and the earliest moment it may."""

    allowed: bool
    reason: SendReason | None = None
    retry_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.allowed != (self.reason is None) or (self.reason is None) != (self.retry_at is None):
            raise ValueError("a refusal needs a reason and a retry time; an allowance has neither")
        if self.retry_at is not None:
            _aware(self.retry_at, "retry_at")

    def retry_after(self, now: datetime) -> int:
        """Whole seconds to wait from `now` (0 when allowed), rounded up, for a ``Retry-After`` header."""
        _aware(now)
        if self.retry_at is None:
            return 0
        return max(0, math.ceil((self.retry_at - now).total_seconds()))


VerifyOutcome = Literal["verified", "wrong", "expired", "used", "exhausted", "absent"]


@dataclass(frozen=True)
class VerifyResult:
    """The answer to one verify attempt and the challenge to store afterwards (None if there was none).

    ``outcome`` is for logs and metrics only; the outside world is told ``verified`` and nothing more.
    """

    verified: bool
    challenge: Challenge | None
    outcome: VerifyOutcome


def generate_code(rng: RandomSource = secrets) -> str:
    """Six uniformly random digits, leading zeros kept."""
    return f"{rng.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(secret_key: str, *, purpose: str, contact: str, code: str) -> str:
    """The hex HMAC-SHA256 of a code, bound to its purpose and contact.

    The message is a JSON array, so no choice of purpose or contact can make two different triples
    encode alike.
    """
    if not secret_key:
        raise ValueError("a secret key is required to digest one-time codes")
    message = json.dumps([_DIGEST_VERSION, purpose, contact, code], separators=(",", ":"))
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def carried_failures(history: SendHistory, now: datetime) -> int:
    """Wrong tries a new code inherits: the latest count while any send is inside the window, else 0."""
    return history.failures if history.recent(now) else 0


def may_send(history: SendHistory, now: datetime) -> SendDecision:
    """Whether another code may go to this (contact, purpose) at `now`.

    Refused when the wrong-try budget is spent (``locked``, until the window has no sends), when fewer
    than 30 s passed since the last send (``too_soon``), or when 5 sends are inside the last 10 minutes
    (``too_many``, until the oldest that counts ages out). When several apply, the latest `retry_at` wins,
    and of refusals tied on it the gravest is reported: ``locked``, then ``too_many``, then ``too_soon``.
    """
    recent = history.recent(now)
    refusals: list[tuple[datetime, SendReason]] = []
    if recent and carried_failures(history, now) >= MAX_FAILURES:
        refusals.append((recent[-1] + SEND_WINDOW, "locked"))
    if len(recent) >= MAX_SENDS:
        refusals.append((recent[-MAX_SENDS] + SEND_WINDOW, "too_many"))
    if recent and now - recent[-1] < RESEND_GAP:
        refusals.append((recent[-1] + RESEND_GAP, "too_soon"))
    if not refusals:
        return SendDecision(allowed=True)
    retry_at, reason = max(refusals, key=lambda r: r[0])
    return SendDecision(allowed=False, reason=reason, retry_at=retry_at)


def issue(
    secret_key: str,
    *,
    purpose: str,
    contact: str,
    now: datetime,
    history: SendHistory,
    code: str | None = None,
) -> tuple[Challenge, OneTimeCode]:
    """A new challenge to store and the code to send, if pacing allows; else ``OTPRefused``.

    The new challenge starts with the failures carried from earlier codes in the window. `code` is for
    tests; in service it is always drawn by `generate_code`.
    """
    _check_purpose(purpose)
    _check_contact(contact)
    decision = may_send(history, now)
    if decision.reason is not None and decision.retry_at is not None:  # a refusal always carries both
        raise OTPRefused(
            f"one-time code refused: {decision.reason}, retry at {decision.retry_at.isoformat()}",
            reason=decision.reason,
            retry_at=decision.retry_at,
        )
    secret = OneTimeCode(generate_code() if code is None else code)
    challenge = Challenge(
        purpose=purpose,
        contact=contact,
        digest=code_digest(secret_key, purpose=purpose, contact=contact, code=secret.reveal()),
        created_at=now,
        expires_at=now + CODE_LIFE,
        attempts=carried_failures(history, now),
    )
    return challenge, secret


def verify(challenge: Challenge | None, secret_key: str, *, code: str, now: datetime) -> VerifyResult:
    """Check a code typed by the user against the stored challenge.

    Every path computes a digest and compares it in constant time before looking at the challenge's
    state, so neither timing nor the answer tells an absent, expired, used or exhausted code from a wrong
    one. A right code marks the challenge used; a wrong one on a live challenge costs one try.
    """
    _aware(now)
    candidate = "".join(code.split())  # "123 456" as some keyboards paste it
    if challenge is None:
        expected = _ABSENT_DIGEST
        actual = code_digest(secret_key, purpose="", contact="", code=candidate)
    else:
        expected = challenge.digest
        actual = code_digest(secret_key, purpose=challenge.purpose, contact=challenge.contact, code=candidate)
    matches = hmac.compare_digest(actual, expected)

    if challenge is None:
        return VerifyResult(False, None, "absent")
    if challenge.used_at is not None:
        return VerifyResult(False, challenge, "used")
    if challenge.expired(now):
        return VerifyResult(False, challenge, "expired")
    if challenge.exhausted():
        return VerifyResult(False, challenge, "exhausted")
    if matches:
        return VerifyResult(True, replace(challenge, used_at=now), "verified")
    return VerifyResult(False, replace(challenge, attempts=challenge.attempts + 1), "wrong")


def template_expiration_minutes(code_life: timedelta = CODE_LIFE) -> int:
    """The authentication template's ``code_expiration_minutes``: whole minutes, never beyond the code's life.

    Rounded down so the footer never promises longer than the code lives; capped at Meta's 90.
    """
    low, high = TEMPLATE_EXPIRATION_MINUTES
    minutes = min(high, int(code_life.total_seconds() // 60))
    if minutes < low:
        raise ValueError(f"a code living {code_life} is too short for a {low}-minute expiry footer")
    return minutes


def template_ttl_seconds(code_life: timedelta = CODE_LIFE) -> int:
    """The authentication template's ``message_send_ttl_seconds``: Meta gives up before the code dies."""
    low, high = TEMPLATE_TTL_SECONDS
    seconds = min(high, int(code_life.total_seconds()))
    if seconds < low:
        raise ValueError(f"a code living {code_life} is shorter than Meta's {low}-second minimum TTL")
    return seconds


def _aware(value: datetime, name: str = "now") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got naive {value.isoformat()}")
    return value


def _check_code_format(digits: str) -> None:
    # The message never echoes the value: it may be a real code.
    if len(digits) != CODE_DIGITS or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"a one-time code is exactly {CODE_DIGITS} ASCII digits")


def _check_purpose(purpose: str) -> None:
    if not _PURPOSE.fullmatch(purpose):
        raise ValidationError(f"purpose {purpose!r} must be 1-64 characters of a-z, 0-9, '_', '.', '-'")


def _check_contact(contact: str) -> None:
    if not contact or len(contact) > 128 or not contact.isprintable():
        raise ValidationError("contact must be 1-128 printable characters")
