"""Meta's webhook signature: HMAC-SHA256 of the raw body with the app secret, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta would send for `body`."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` signs exactly these bytes; hash what arrived, never a re-serialised copy.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
    """
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
