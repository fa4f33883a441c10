"""The dashboard's session cookie and CSRF tokens: signed with HMAC-SHA256, expiring, and free of I/O.

A session is a random id and an expiry, signed with a key derived from `BOT_SECRET_KEY` and the admin
token: changing either ends every session. The server also stores each session (by its id's `digest`,
`bot.dashboard.app` does the I/O), so logging out ends it for good: a copy of the cookie taken before
is refused after, by every process. Each form carries a CSRF token derived from the session id;
the login form, which comes before any session, carries one derived from a nonce in a cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.secret import same_secret

COOKIE = "bot_dashboard"
LOGIN_COOKIE = "bot_dashboard_login"
LIFETIME = timedelta(hours=8)
LOGIN_FORM_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its random id (which its CSRF token derives from) and when it ends."""

    id: str
    expires_at: datetime

    @property
    def digest(self) -> str:
        """What the server stores of the session: a digest of its id, which alone is no cookie."""
        return hashlib.sha256(self.id.encode()).hexdigest()


class Signer:
    """Signs and checks session cookies and CSRF tokens with one key kept for the dashboard alone."""

    def __init__(self, secret_key: str, admin_token: str) -> None:
        context = b"bot dashboard session\x00" + hashlib.sha256(admin_token.encode()).digest()
        self._key = hmac.new(secret_key.encode(), context, hashlib.sha256).digest()

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def issue(self, now: datetime) -> tuple[Session, str]:
        """A new session and its cookie value, `<id>.<expiry as Unix seconds>.<signature>`."""
        expires = int((now + LIFETIME).timestamp())
        session = Session(secrets.token_urlsafe(18), datetime.fromtimestamp(expires, UTC))
        payload = f"{session.id}.{expires}"
        return session, f"{payload}.{self._mac('session', payload)}"

    def read(self, value: str | None, now: datetime) -> Session | None:
        """The session a cookie value holds; None when it is absent, tampered with, malformed or expired."""
        parts = (value or "").split(".")
        if len(parts) != 3:
            return None
        ident, expires, signature = parts
        if not same_secret(signature, self._mac("session", f"{ident}.{expires}")):
            return None
        try:
            ends = datetime.fromtimestamp(int(expires), UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return Session(ident, ends) if now < ends else None

    def csrf(self, session: Session) -> str:
        """The token every form of this session carries."""
        return self._mac("csrf", session.id)

    def csrf_ok(self, session: Session, given: object) -> bool:
        return isinstance(given, str) and same_secret(given, self.csrf(session))

    @staticmethod
    def login_nonce() -> str:
        """A fresh value for the login form's cookie."""
        return secrets.token_urlsafe(18)

    def login_csrf(self, nonce: str) -> str:
        """The login form's token, bound to the nonce in its cookie (a signed double submit)."""
        return self._mac("login", nonce)

    def login_csrf_ok(self, nonce: str | None, given: object) -> bool:
        if not nonce or not isinstance(given, str):
            return False
        return same_secret(given, self.login_csrf(nonce))


def token_matches(given: object, expected: str) -> bool:
    """The admin token check, in constant time."""
    return isinstance(given, str) and same_secret(given.strip(), expected)
