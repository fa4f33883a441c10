"""`bot.secret.same_secret`: the one constant-time comparison of secrets (admin token, verify token, cookies, CSRF)."""

from __future__ import annotations

import hmac

import pytest

from bot.secret import same_secret

TOKEN = "test-admin-token-0123456789"


def test_the_same_secret_matches() -> None:
    """A secret given exactly as expected matches."""
    assert same_secret(TOKEN, TOKEN) is True


@pytest.mark.parametrize(
    "given",
    ["X" + TOKEN[1:], TOKEN[:-1] + "X", TOKEN[:-1], TOKEN + "0", TOKEN.upper(), "", f" {TOKEN}"],
    ids=["first-char", "last-char", "shorter", "longer", "case", "empty", "padded"],
)
def test_any_difference_does_not_match(given: str) -> None:
    """A secret that differs anywhere, in length, case or spacing, does not match."""
    assert same_secret(given, TOKEN) is False


def test_text_beyond_ascii_is_compared_as_utf8() -> None:
    """Non-ASCII secrets are compared as UTF-8 bytes instead of making `hmac.compare_digest` raise."""
    assert same_secret("sécret-ü", "sécret-ü") is True
    assert same_secret("sécret-u", "sécret-ü") is False


def test_the_comparison_is_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison goes through `hmac.compare_digest`, never `==`, whatever the lengths."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert same_secret("short", TOKEN) is False
    assert same_secret(TOKEN, TOKEN) is True
    assert compared == [(b"short", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]
