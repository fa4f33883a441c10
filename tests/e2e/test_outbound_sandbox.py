"""Business-initiated messages through the sandbox on a virtual clock: reminders on time, one-time codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, unused_port

from bot.app import create_app
from bot.outbound.sender import SENDER
from bot.settings import Settings
from tests.conftest import ADMIN_TOKEN, FakeClock

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CUSTOMER = "5511987654321"
# 09:00 on a Friday in São Paulo (UTC-3 all year), so every time below is mid-day there and differs from UTC.
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=30)  # Saturday 11 April, 15:00 local
DUE = START - timedelta(hours=24)  # Friday 10 April, 15:00 local
BOOKING = {
    "wa_id": CUSTOMER,
    "name": "Aisha",
    "service": "dental check-up",
    "starts_at": START.isoformat(),
    "location": "Av. Paulista 1578",
}


@dataclass
class Service:
    """The real app in sandbox mode on a virtual clock, its sender driven by hand, its customer's chat in view."""

    client: Client
    clock: FakeClock

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.client.request(method, path, json=body, headers=AUTH)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def send_due(self) -> int:
        """One pass of the app's own sender at the clock's time: claim what is due, send it to the sandbox."""
        return await self.client.app[SENDER].run_once()

    async def chat(self) -> list[dict[str, Any]]:
        """What the customer's phone shows, oldest first."""
        resp = await self.client.get(f"/sandbox/users/{CUSTOMER}/messages")
        assert resp.status == 200
        return list((await resp.json())["items"])

    async def templates(self) -> list[tuple[str, list[str]]]:
        """The templates the customer received: name and body parameters, oldest first."""
        return [(i["template"]["name"], i["template"]["parameters"]) for i in await self.chat() if i["template"]]


@pytest.fixture
async def service(aiohttp_client: ClientFactory, make_settings: Callable[..., Settings]) -> Service:
    """The app with no Meta credentials, so it sends to its own /sandbox; no background sender runs."""
    port = unused_port()
    settings = make_settings(
        access_token=None, api_url=f"http://127.0.0.1:{port}/sandbox", business_timezone="America/Sao_Paulo"
    )
    clock = FakeClock(NOW)
    app = create_app(settings, clock=clock, migrate=True, roles={"web"})
    return Service(await aiohttp_client(app, server_kwargs={"port": port}), clock)


# --- an appointment's reminder ----------------------------------------------------------------------


def reminder(date: str, time: str) -> tuple[str, list[str]]:
    """The reminder as the customer reads it: name, service, local date and time, location."""
    return ("appointment_reminder", ["Aisha", "dental check-up", date, time, "Av. Paulista 1578"])


async def test_a_reminder_reaches_the_customer_a_day_ahead_and_not_before(service: Service) -> None:
    """Booked 30 h ahead, nothing arrives until 24 h before the start; then one reminder in a utility conversation."""
    booked = await service.call("POST", "/api/appointments", BOOKING, status=201)
    assert booked["reminder"]["due_at"] == DUE.isoformat()
    assert await service.send_due() == 0
    service.clock.now = DUE - timedelta(seconds=1)
    assert await service.send_due() == 0
    assert await service.chat() == []

    service.clock.now = DUE + timedelta(minutes=1)
    assert await service.send_due() == 1
    [item] = await service.chat()
    assert (item["direction"], item["template"]["category"]) == ("out", "utility")
    assert await service.templates() == [reminder("Saturday 11 April", "15:00")]
    assert await service.send_due() == 0

    conversations = (await service.call("GET", f"/api/conversations?wa_id={CUSTOMER}"))["items"]
    assert [(c["category"], c["origin"]) for c in conversations] == [("utility", "business_initiated")]
    messages = (await service.call("GET", f"/api/messages?wa_id={CUSTOMER}"))["items"]
    assert [(m["wamid"], m["direction"], m["type"], m["category"]) for m in messages] == [
        (item["wamid"], "out", "template", "utility")
    ]


async def test_a_rescheduled_reminder_arrives_at_the_new_time_not_the_old(service: Service) -> None:
    """Moved a day later before it left, the reminder skips the old due time and comes 24 h before the new start."""
    booked = await service.call("POST", "/api/appointments", BOOKING, status=201)
    service.clock.advance(hours=1)
    new_start = START + timedelta(days=1)  # Sunday 12 April, 15:00 local
    path = f"/api/appointments/{booked['appointment']['id']}"
    await service.call("PATCH", path, {"starts_at": new_start.isoformat()})
    assert await service.send_due() == 1  # the update about the new time goes at once
    update = ("appointment_update", reminder("Sunday 12 April", "15:00")[1])
    assert await service.templates() == [update]

    service.clock.now = DUE + timedelta(minutes=1)
    assert await service.send_due() == 0
    service.clock.now = new_start - timedelta(hours=24, seconds=1)
    assert await service.send_due() == 0
    assert await service.templates() == [update]

    service.clock.now = new_start - timedelta(hours=24)
    assert await service.send_due() == 1
    assert await service.templates() == [update, reminder("Sunday 12 April", "15:00")]


async def test_a_cancelled_appointment_is_never_reminded(service: Service) -> None:
    """Cancelled before its reminder is due, the appointment sends nothing, even long after the due time."""
    booked = await service.call("POST", "/api/appointments", BOOKING, status=201)
    await service.call("PATCH", f"/api/appointments/{booked['appointment']['id']}", {"status": "cancelled"})
    for moment in (DUE, START, START + timedelta(days=2)):
        service.clock.now = moment
        assert await service.send_due() == 0
    assert await service.chat() == []


# --- one-time codes ---------------------------------------------------------------------------------


async def request_code(service: Service) -> tuple[int, str | None]:
    """Ask for a login code; the answer's status and its Retry-After."""
    resp = await service.client.post("/api/otp", json={"wa_id": CUSTOMER, "purpose": "login"}, headers=AUTH)
    return resp.status, resp.headers.get("Retry-After")


async def received_code(service: Service) -> str:
    """Send what is due and read the newest login code off the customer's chat, as the customer would."""
    assert await service.send_due() == 1
    item = (await service.chat())[-1]
    assert (item["template"]["name"], item["template"]["category"]) == ("login_code", "authentication")
    [code] = item["template"]["parameters"]
    return str(code)


async def verify(service: Service, code: str) -> bool:
    body = {"wa_id": CUSTOMER, "purpose": "login", "code": code}
    return bool((await service.call("POST", "/api/otp/verify", body))["verified"])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_codes_for_one_purpose_verify_once_lock_after_five_misses_and_unlock_after_the_window(
    service: Service,
) -> None:
    """A code verifies once; the next locks after 5 misses, refusing resends; 10 minutes on, a new one works."""
    assert await request_code(service) == (202, None)
    first = await received_code(service)
    assert await verify(service, first) is True
    assert await verify(service, first) is False

    service.clock.advance(seconds=31)
    assert await request_code(service) == (202, None)
    second = await received_code(service)
    for _ in range(5):
        assert await verify(service, wrong(second)) is False
    assert await verify(service, second) is False
    service.clock.advance(seconds=31)
    locked_until = NOW + timedelta(seconds=31, minutes=10)  # the send window after the second code
    assert await request_code(service) == (429, "569")  # locked (a mere resend gap would be 30 s at most)
    assert await service.send_due() == 0

    service.clock.now = locked_until
    assert await request_code(service) == (202, None)
    third = await received_code(service)
    assert await verify(service, third) is True
    assert [name for name, _ in await service.templates()] == ["login_code"] * 3
