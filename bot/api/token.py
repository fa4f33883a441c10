"""Wrong admin tokens, counted per client in the database: past a few a minute, that client is refused a while.

The admin token guards `/api` and the dashboard. After `LIMIT` wrong tokens within `WINDOW` from one
client, every token from that client (the right one too, or guessing would go on) is refused until the
oldest of them leaves the window. The count is kept in the database, so every process sees the same one.

A client is an IPv4 address, or an IPv6 /64 (one customer line usually holds a whole /64, so counting per
/128 would give each attacker 2^64 fresh addresses). Behind a reverse proxy every request comes from the
proxy; its `X-Forwarded-For` names the client, and is believed only when the peer is one of
`BOT_TRUSTED_PROXIES` (otherwise anyone could name any address and never be counted).

Per client, not global, on purpose: a global limit would let anyone lock every admin out. Many addresses
can still guess in parallel, 10 a minute each; the token's length (at least 32 random characters, checked
by `bot serve`) is what makes that hopeless. docs/operations.md says the same for operators.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from aiohttp import web

from bot import keys
from bot.settings import Network
from storage.repository import Repository

LIMIT = 10
WINDOW = timedelta(minutes=1)
IPV6_PREFIX = 64
log = structlog.get_logger("bot.api.token")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    """An address as a peer or X-Forwarded-For gives it: `1.2.3.4`, `::1`, `[::1]:443` or `1.2.3.4:80`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> Address | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest untrusted hop it names.

    X-Forwarded-For lists hops left to right, each proxy appending the address it was called from; only
    the hops our own proxies appended can be believed, so it is read from the right, past trusted ones.
    """
    current = _address(peer or "")
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    while current is not None and hops and any(current in network for network in trusted):
        named = _address(hops.pop())
        if named is None:  # a hop that is no address: keep the last one we can vouch for
            break
        current = named
    return current


def client_key(address: Address | None) -> str:
    """What wrong tokens are counted by: the IPv4 address, or the IPv6 address's /64."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def address_of(request: web.Request) -> str:
    """The client that wrong tokens from this request are counted by (see the module's docstring)."""
    trusted = request.config_dict[keys.SETTINGS].trusted_proxies
    forwarded = request.headers.getall("X-Forwarded-For", []) if trusted else []
    return client_key(client_address(request.remote, forwarded, trusted))


def wait_after(latest: Sequence[datetime], now: datetime, limit: int = LIMIT, window: timedelta = WINDOW) -> float:
    """Seconds before a client whose latest wrong tokens (newest first) are `latest` may try again; 0 now.

    It may once fewer than `limit` are left in the window: when the `limit`-th latest leaves it.
    """
    if len(latest) < limit:
        return 0.0
    return max(0.0, (latest[limit - 1] + window - now).total_seconds())


class WrongGuesses:
    """Wrong tokens per client in the last `window`, in the database; answers how long a client must wait."""

    def __init__(
        self,
        repository: Repository,
        clock: Callable[[], datetime],
        limit: int = LIMIT,
        window: timedelta = WINDOW,
    ) -> None:
        self._repository, self._clock, self._limit, self._window = repository, clock, limit, window

    async def wait(self, client: str) -> float:
        """Seconds before `client` may try a token again; 0 when it may now."""
        now = self._clock()
        latest = await self._repository.latest_wrong_tokens(client, since=now - self._window, limit=self._limit)
        return wait_after(latest, now, self._limit, self._window)

    async def wrong(self, client: str) -> None:
        """Count a wrong token from `client`."""
        now = self._clock()
        counted = await self._repository.add_wrong_token(client, at=now, since=now - self._window)
        if counted == self._limit:
            log.warning("auth.throttled", address=client, wrong=self._limit, window_s=self._window.total_seconds())


GUESSES = web.AppKey("guesses", WrongGuesses)
