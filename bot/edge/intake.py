"""Bodies from strangers: read within a size and a time limit, from a memory budget all such doors share.

The doors anyone may knock on without a token (Meta's webhook, the dashboard's login form, the sandbox)
must read a body before they can tell whether it is welcome. Unbounded, 40 stalled 8 MB uploads pinned
330 MB and slow senders held connections for as long as they liked. Here each door has a size limit
that fits what it takes (a declared `Content-Length` over it is refused before a byte is read), a time
limit for the whole body, and a reservation from one budget of bytes for its body while it is read and
handled: a request that finds the budget spent is answered 503 with `Retry-After` at once. Large bodies
may use the budget only while a share stays free for small ones, so stalled large uploads cannot keep
ordinary webhooks out. Slow request *headers* are aiohttp's to bound: its keep-alive timer, which starts
when a connection opens, closes a connection whose request has not fully arrived (`SERVER_OPTIONS`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from aiohttp import web

log = structlog.get_logger("bot.edge.intake")

KB, MB = 1024, 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Door:
    """One unauthenticated door: which POSTs it covers, and the most bytes and seconds its body may take."""

    name: str
    what: str  # the door in words, for refusals
    path: re.Pattern[str]
    max_bytes: int
    seconds: float


# Meta: "a payload may be up to 3 MB" (../shared/reference/whatsapp.md); a little room above it.
WEBHOOK: Final = Door("webhook", "the webhook", re.compile(r"/webhook"), 3 * MB + 512 * KB, 10.0)
# The login form holds a CSRF token and the admin token: a few hundred bytes.
LOGIN: Final = Door("dashboard_login", "the login form", re.compile(r"/dashboard/login"), 8 * KB, 5.0)
# The sandbox's customer texts and the bot's sends: a message body, well under Meta's 4,096-character text.
SANDBOX: Final = Door("sandbox", "the sandbox", re.compile(r"/sandbox/.*"), 64 * KB, 5.0)
# The sandbox's file uploads (a customer's photo, the bot's upload to its stand-in Graph API): up to Meta's
# 16 MB for video and audio; larger documents are for a real number. Listed before SANDBOX, which would match.
SANDBOX_MEDIA: Final = Door(
    "sandbox_media", "the sandbox's file upload", re.compile(r"/sandbox/(users/[0-9]+|v[0-9.]+/[0-9]+)/media"),
    16 * MB + 64 * KB, 60.0,
)  # fmt: skip
DOORS: Final = (WEBHOOK, LOGIN, SANDBOX_MEDIA, SANDBOX)

BUDGET: Final = 24 * MB  # bytes of strangers' bodies held at once, across every door
SMALL: Final = 64 * KB  # a body up to this size is small; large ones leave SMALL_SHARE of the budget free
SMALL_SHARE: Final = 4 * MB
RETRY_AFTER: Final = 2  # seconds a refused stranger is asked to wait

# Options for aiohttp's server (`web.run_app`, `web.AppRunner`). aiohttp has no header timeout of its own,
# but its keep-alive timer starts when a connection opens and closes it while no whole request has arrived:
# headers sent a byte at a time are cut off after `keepalive_timeout`, as is an idle keep-alive connection.
# `lingering_time` bounds how long the rest of a refused body is read and thrown away before closing.
SERVER_OPTIONS: Final[dict[str, Any]] = {"keepalive_timeout": 15.0, "lingering_time": 5.0}
# Connections the kernel holds for the server until it accepts them (Linux caps it at `net.core.somaxconn`,
# 4,096 by default). aiohttp's 128 overflowed when a sender at 1,000 a second opened its connections to the
# bench's Graph API stand-in: the kernel dropped the SYNs it had no room for, those connections came a
# second later (TCP's retransmission), and the sends waiting on them stopped the number's window for that
# second. `bot serve` (Meta's webhooks, the sandbox's stand-in) and the bench's servers listen with this.
BACKLOG: Final = 1024


class Budget:
    """Bytes reserved by bodies being read or handled; pure arithmetic, as the event loop runs one at a time."""

    def __init__(self, total: int = BUDGET, small: int = SMALL, small_share: int = SMALL_SHARE) -> None:
        self.total, self.small, self.small_share = total, small, small_share
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve `size` bytes if they fit (a large body must leave the small ones' share free)."""
        room = self.total if size <= self.small else self.total - self.small_share
        if self.used + size > room:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


class Intake:
    """The doors and the budget the `intake` middleware reads strangers' bodies with."""

    def __init__(self, doors: Iterable[Door] = DOORS, budget: Budget | None = None) -> None:
        self.doors = tuple(doors)
        self.budget = budget or Budget()

    def door(self, request: web.Request) -> Door | None:
        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        return next((d for d in self.doors if d.path.fullmatch(request.path)), None)


INTAKE: Final = web.AppKey("intake", Intake)


def refusal(status: int, code: str, message: str, **headers: str) -> web.Response:
    """A refusal in the service's error shape; the connection is closed rather than kept for more."""
    response = web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)
    response.force_close()
    return response


@web.middleware
async def intake(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read a stranger's body within its door's limits before the handler sees it (cached for `read()`)."""
    door = request.config_dict[INTAKE].door(request)
    if door is None:
        return await handler(request)
    declared = request.content_length
    if declared is not None and declared > door.max_bytes:
        return _too_large(door)
    # A body sent chunked, or compressed, may grow to the limit whatever it says; reserve the limit.
    size = door.max_bytes if declared is None or "Content-Encoding" in request.headers else declared
    budget = request.config_dict[INTAKE].budget
    if not budget.take(size):
        log.warning("intake.busy", door=door.name, reserved=budget.used)
        message = "too many uploads in progress; retry shortly"
        return refusal(503, "busy", message, **{"Retry-After": str(RETRY_AFTER)})
    try:
        if declared is not None and size == declared <= request.client_max_size and request.content.is_eof():
            # The whole body is already here, no larger than it said (nearly every webhook: it comes in
            # one packet): reading it cannot wait or exceed the door, so it needs no timer and no copy of
            # the request with the door's limit, a tenth of this middleware's CPU per acknowledgement.
            await request.read()
            return await handler(request)
        limited = request.clone(client_max_size=door.max_bytes)
        try:
            async with asyncio.timeout(door.seconds):
                await limited.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(door)
        except TimeoutError:
            log.info("intake.body_timeout", door=door.name)
            message = f"the request body did not arrive within {door.seconds:g} s"
            return refusal(408, "body_timeout", message)
        return await handler(limited)
    finally:
        budget.give(size)


def _too_large(door: Door) -> web.Response:
    return refusal(413, "body_too_large", f"the body is over {door.max_bytes} bytes, the most {door.what} takes")
