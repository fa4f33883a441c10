"""Specification of bot.api.token: wrong admin tokens counted per client in the database, behind trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.api.token import client_address, client_key, wait_after
from bot.errors import ConfigError
from bot.settings import Settings, check_admin_token, parse_trusted_proxies
from tests.api.test_app import ClientFactory, start_app
from tests.conftest import ADMIN_TOKEN, FakeClock

PROXY = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8")
RIGHT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WRONG = {"Authorization": "Bearer guess"}


# --- whose address ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: what it says is not believed
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy naming no one is the client itself
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client wrote 6.6.6.6 itself
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # past a second trusted proxy
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two headers read as one list
        ("127.0.0.1", ["not-an-address"], "127.0.0.1"),  # a hop that is no address: the proxy it came through
        ("127.0.0.1", ["[2001:db8::1]:4431"], "2001:db8::1"),
        ("127.0.0.1", ["198.51.100.1:4431"], "198.51.100.1"),
        ("::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),  # an IPv4-mapped peer is its IPv4 address
    ],
)
def test_the_client_is_the_nearest_hop_no_trusted_proxy_vouches_past(
    peer: str, forwarded: list[str], client: str
) -> None:
    """X-Forwarded-For is read from the right, past trusted proxies only, and only when the peer is one."""
    assert str(client_address(peer, forwarded, PROXY)) == client


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    """With no BOT_TRUSTED_PROXIES the peer is the client whatever the header says."""
    assert str(client_address("127.0.0.1", ["198.51.100.1"], ())) == "127.0.0.1"


def test_ipv6_clients_are_counted_per_64_and_ipv4_per_address() -> None:
    """Two addresses in one IPv6 /64 are one client; IPv4 addresses are each their own."""
    same = {client_key(ipaddress.ip_address(a)) for a in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9")}
    assert same == {"2001:db8:1:2::/64"}
    assert client_key(ipaddress.ip_address("2001:db8:1:3::1")) == "2001:db8:1:3::/64"
    assert client_key(ipaddress.ip_address("198.51.100.1")) == "198.51.100.1"
    assert client_key(None) == "unknown"


def test_the_wait_runs_until_the_limit_th_latest_leaves_the_window() -> None:
    """Nine wrong tokens mean no wait; ten mean waiting until the oldest of the latest ten is a minute old."""
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    latest = [now - timedelta(seconds=s) for s in range(10)]
    assert wait_after(latest[:9], now) == 0.0
    assert wait_after(latest, now) == 51.0
    assert wait_after(latest, now + timedelta(seconds=51)) == 0.0


def test_bot_trusted_proxies_refuses_what_is_no_network() -> None:
    """A BOT_TRUSTED_PROXIES entry that is no address or network stops the service, naming the setting."""
    with pytest.raises(ConfigError, match=r"BOT_TRUSTED_PROXIES: 'proxy\.internal'"):
        parse_trusted_proxies("10.0.0.0/8, proxy.internal")


@pytest.mark.parametrize("token", ["short-token", "a" * 40, "ab" * 20])
def test_a_weak_admin_token_is_refused_naming_the_setting(settings: Settings, token: str) -> None:
    """Under 32 characters, or 32 of a few characters repeated, the admin token is refused with how to make one."""
    with pytest.raises(ConfigError, match=r"BOT_ADMIN_TOKEN is too weak.*secrets\.token_urlsafe"):
        check_admin_token(Settings(**{**settings.__dict__, "admin_token": token}))
    check_admin_token(settings)  # the suite's own token passes


# --- over real sockets, on every database -------------------------------------------------------------


async def test_behind_a_trusted_proxy_one_client_guessing_locks_only_itself_out(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    """Through the proxy, the client that sent ten wrong tokens gets 429; another client behind it gets in."""
    client, _ = await start_app(aiohttp_client, make_settings(trusted_proxies=PROXY), clock)
    for n in range(10):
        guessed = await client.get("/api/conversations", headers={**WRONG, "X-Forwarded-For": "198.51.100.1"})
        assert guessed.status == 401, n
    refused = await client.get("/api/conversations", headers={**RIGHT, "X-Forwarded-For": "198.51.100.1"})
    assert refused.status == 429
    other = await client.get("/api/conversations", headers={**RIGHT, "X-Forwarded-For": "198.51.100.2"})
    assert other.status == 200


async def test_without_trusted_proxies_a_forged_forwarded_for_escapes_nothing(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """A client naming a new address in each X-Forwarded-For is still counted by its own: 429 after ten."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    for n in range(10):
        forged = {**WRONG, "X-Forwarded-For": f"198.51.100.{n}"}
        assert (await client.get("/api/conversations", headers=forged)).status == 401, n
    fresh = {**RIGHT, "X-Forwarded-For": "198.51.100.200"}
    assert (await client.get("/api/conversations", headers=fresh)).status == 429


async def test_addresses_of_one_ipv6_64_share_one_count(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    """Ten wrong tokens from ten addresses of one /64 lock that /64 out, and not the /64 next to it."""
    client, _ = await start_app(aiohttp_client, make_settings(trusted_proxies=PROXY), clock)
    for n in range(10):
        forwarded = {**WRONG, "X-Forwarded-For": f"2001:db8:1:2::{n + 1:x}"}
        assert (await client.get("/api/conversations", headers=forwarded)).status == 401, n
    same = await client.get("/api/conversations", headers={**RIGHT, "X-Forwarded-For": "2001:db8:1:2:ffff::1"})
    assert same.status == 429
    next_door = await client.get("/api/conversations", headers={**RIGHT, "X-Forwarded-For": "2001:db8:1:3::1"})
    assert next_door.status == 200


async def test_wrong_tokens_are_counted_across_instances_on_one_database(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock
) -> None:
    """Five wrong tokens at one instance and five at another lock the client out of both."""
    first, _ = await start_app(aiohttp_client, settings, clock)
    second, _ = await start_app(aiohttp_client, settings, clock)
    for n in range(5):
        assert (await first.get("/api/conversations", headers=WRONG)).status == 401, n
        assert (await second.get("/api/conversations", headers=WRONG)).status == 401, n
    assert (await first.get("/api/conversations", headers=RIGHT)).status == 429
    assert (await second.get("/api/conversations", headers=RIGHT)).status == 429
    clock.advance(seconds=60)
    assert (await second.get("/api/conversations", headers=RIGHT)).status == 200
