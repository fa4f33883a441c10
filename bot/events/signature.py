"""The signature on every event delivery: HMAC-SHA256 of `timestamp.body` with the subscription's secret.

The header reads `X-Bot-Signature: t=1733560000,v1=<hex>`. Signing the timestamp with the body lets a
receiver refuse an old delivery replayed by someone who recorded it; docs/events.md shows a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "X-Bot-Signature"
SECRET_PREFIX = "whsec_"
TOLERANCE = 300  # seconds a receiver should accept between the signed timestamp and its own clock


def new_secret() -> str:
    """A fresh subscription secret: 32 random bytes, URL-safe, with a prefix that says what it is."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Bot-Signature` value for `body` sent at `timestamp` (Unix seconds)."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str | None, now: float, tolerance: float = TOLERANCE) -> bool:
    """Whether `header` signs exactly these bytes, at a time within `tolerance` seconds of `now`."""
    if not header:
        return False
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(digest(secret, timestamp, body), parts.get("v1", ""))
