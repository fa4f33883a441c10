"""Secrets compared in constant time: the admin token, Meta's verify token, the dashboard's cookie and form tokens.

One function, so that no check compares a secret with `==` (which stops at the first differing
character and so tells a guesser how much was right). It lives at the top of `bot` because the
webhook (`bot.inbound`), the admin API and the dashboard all use it and the layers let each of them
import only what lies below it.
"""

from __future__ import annotations

import hmac


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, in time that depends on their lengths but not on where they differ.

    Both are compared as UTF-8 bytes: `hmac.compare_digest` refuses text with characters beyond ASCII.
    """
    return hmac.compare_digest(given.encode(), expected.encode())
