"""Rehearsals: the real app played offline, as `bot chat` and `bot test` play it.

A rehearsal runs on a virtual clock that only it moves, hands the app a customer's messages in the shape
Meta's webhooks deliver them, and runs the app's loops (dispatcher, sender) a round at a time by hand
instead of letting them poll, so what happens between two typed lines is exactly one turn's work. What
the app sends is read back from its Cloud API bodies, as the customer would see it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.sandbox.wire import webhook
from bot.settings import SANDBOX_PHONE_NUMBER_ID


@dataclass
class VirtualClock:
    """A rehearsal's time: the app reads it, and it stands still until the rehearsal moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def customer_message(kind: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The type and content of a customer's `messages[]` entry: ``{"type": "text", "text": {...}}``."""
    return {"type": kind, kind: dict(content)}


def customer_webhook(
    message: Mapping[str, Any],
    *,
    wa_id: str,
    name: str | None,
    wamid: str,
    now: datetime,
    phone_number_id: str = SANDBOX_PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A customer's message as Meta delivers it at `now`: the contact (with a profile name if any) and the entry."""
    entry = {"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())), **message}
    contact: dict[str, Any] = {"wa_id": wa_id}
    if name:
        contact["profile"] = {"name": name}
    return webhook(phone_number_id, {"contacts": [contact], "messages": [entry]})


async def run_until_idle(run_once: Callable[[], Awaitable[int]], rounds: int) -> None:
    """Run one of the app's loops by hand until a round finds nothing to do, or `rounds` have run (a runaway)."""
    for _ in range(rounds):
        if not await run_once():
            return
