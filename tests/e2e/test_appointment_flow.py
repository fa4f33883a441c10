"""The appointments flow through the real app: book a free slot, see, reschedule and cancel, one customer at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import create_app
from bot.errors import Conflict, NotFound
from bot.inbound.actions import (
    BUSINESS,
    BUSINESS_FILE,
    TAKEN,
    ActionContext,
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
)
from bot.inbound.dispatcher import DISPATCHER
from bot.message_templates.library import TemplateLibrary
from bot.notifications.service import AppointmentNotices
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from storage import business
from tests.api.test_app import ClientFactory, post_webhook
from tests.conftest import FakeClock, envelope
from tests.inbound.test_flow_runner import api, says, taps, texts
from tests.otp.test_service import outbox_rows

Client = TestClient[web.Request, web.Application]
ANA, BEN = "31612345001", "31612345002"
NOON = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)  # Friday, 14:00 in Amsterdam
MONDAY_0930 = "2026-04-13T09:30:00+02:00"
BUSINESS_YAML = """
hours:
  mon: ["09:00-12:30", "13:30-17:30"]
  tue: ["09:00-12:30", "13:30-17:30"]
  wed: ["09:00-12:30", "13:30-17:30"]
  thu: ["09:00-12:30", "13:30-17:30"]
  fri: ["09:00-12:30", "13:30-17:30"]
  sat: ["10:00-14:00"]
  sun: closed
holidays: [2026-04-27]
slot_minutes: 30
days_ahead: 14
minimum_notice: {notice}
services:
  - {{id: cut, title: Cut, duration_minutes: 30, location: Main St 1}}
  - {{id: colour, title: Colour, duration_minutes: 90, location: Main St 1}}
"""


def use_business(folder: Path, notice: str = "2h") -> None:
    path = folder / "business.yaml"
    path.write_text(BUSINESS_YAML.format(notice=notice))
    BUSINESS.use(path)


@pytest.fixture(autouse=True)
def business_file(tmp_path: Path) -> Iterator[None]:
    """The business these tests know (hours, two services, 2 h notice), instead of the shipped one."""
    use_business(tmp_path)
    yield
    BUSINESS.use(BUSINESS_FILE)


@pytest.fixture
def noon() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, noon: FakeClock) -> Client:
    settings: Settings = make_settings(business_timezone="Europe/Amsterdam")
    app = create_app(settings, clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"})
    return await aiohttp_client(app)


def said(bodies: list[dict[str, Any]]) -> list[str]:
    """The replies' texts; utility templates queued in the same turn (a reminder, an update) are left out."""
    return texts([b for b in bodies if b["type"] != "template"])


def choices(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (id, title) of each button or list row of an interactive message."""
    action = body["interactive"]["action"]
    if "buttons" in action:
        return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
    return [(r["id"], r["title"]) for section in action["sections"] for r in section["rows"]]


async def open_appointments(client: Client, wa_id: str, option: str) -> list[dict[str, Any]]:
    """From a fresh chat: the main menu, Appointments, then `option` of the appointments menu."""
    await says(client, wa_id, "hi")
    menu = await taps(client, wa_id, "appointments")
    assert [i for i, _ in choices(menu[0])] == ["book", "upcoming", "reschedule", "cancel_one"]
    return await taps(client, wa_id, option)


async def book_via_api(client: Client, auth: dict[str, str], wa_id: str, starts_at: str, **extra: Any) -> int:
    body = {"wa_id": wa_id, "name": "Ben", "service": "Cut", "location": "Main St 1", "starts_at": starts_at, **extra}
    status, answer = await api(client, auth, "POST", "/api/appointments", body)
    assert status == 201, answer
    return int(answer["appointment"]["id"])


async def appointments_of(client: Client, auth: dict[str, str], wa_id: str) -> list[dict[str, Any]]:
    status, answer = await api(client, auth, "GET", f"/api/appointments?wa_id={wa_id}")
    assert status == 200
    return list(answer["items"])


async def outbox_by_key(client: Client) -> dict[str, Any]:
    return {r.idempotency_key: r for r in await outbox_rows(client.server.app[keys.REPOSITORY])}


async def to_monday_slots(client: Client, wa_id: str, service: str = "cut") -> list[dict[str, Any]]:
    """Book, `service`, Monday 13 April: the time choices."""
    services = await open_appointments(client, wa_id, "book")
    assert choices(services[0]) == [("cut", "Cut"), ("colour", "Colour")]
    days = await taps(client, wa_id, service)
    assert said(days) == ["Which day suits you?"]
    return await taps(client, wa_id, "2026-04-13")


# --- booking ---------------------------------------------------------------------------------------


async def test_booking_end_to_end_stores_the_appointment_and_its_reminder(client: Client, auth: dict[str, str]) -> None:
    """Service, day, time, Yes: the appointment exists and its reminder is queued 24 h before, in UTC."""
    services = await open_appointments(client, ANA, "book")
    assert said(services) == ["Which service would you like?"]
    days = await taps(client, ANA, "cut")
    shown = choices(days[0])
    assert shown[0] == ("2026-04-10", "Fri 10 Apr")  # today still has times after the 2 h notice
    assert ("2026-04-12", "Sun 12 Apr") not in shown
    slots = await taps(client, ANA, "2026-04-13")
    assert said(slots) == ["What time would you like?"]
    assert (MONDAY_0930, "09:30") in choices(slots[0])
    confirm = await taps(client, ANA, MONDAY_0930)
    assert said(confirm) == ["Book Cut on Mon 13 Apr at 09:30 at Main St 1?"]
    assert choices(confirm[0]) == [("yes", "Yes"), ("no", "No")]
    done = await taps(client, ANA, "yes")
    assert said(done) == [
        "Booked: Cut on Mon 13 Apr at 09:30 at Main St 1. We'll remind you the day before.",
        "Anything else I can help with?",
    ]
    [booked] = await appointments_of(client, auth, ANA)
    assert (booked["service"], booked["location"], booked["status"]) == ("Cut", "Main St 1", "booked")
    assert datetime.fromisoformat(booked["starts_at"]) == datetime(2026, 4, 13, 7, 30, tzinfo=UTC)
    assert booked["duration_minutes"] == 30
    reminder = (await outbox_by_key(client))[f"appointment:{booked['id']}:reminder"]
    assert (reminder.kind, reminder.template_name, reminder.status) == ("utility", "appointment_reminder", "queued")
    assert reminder.due_at == datetime(2026, 4, 12, 7, 30, tzinfo=UTC)


async def test_no_leaves_nothing_booked(client: Client, auth: dict[str, str]) -> None:
    """Answering No at the confirmation books nothing and queues no reminder."""
    await to_monday_slots(client, ANA)
    await taps(client, ANA, MONDAY_0930)
    assert said(await taps(client, ANA, "no"))[0] == "Okay, I haven't booked anything."
    assert await appointments_of(client, auth, ANA) == []


async def test_a_taken_slot_is_never_offered(client: Client, auth: dict[str, str]) -> None:
    """Ben's 09:30 cut takes 09:30 from Ana's cuts, and 08:30 to 09:30 from her 90-minute colours."""
    await book_via_api(client, auth, BEN, "2026-04-13T07:30:00Z")
    cut_times = [title for _, title in choices((await to_monday_slots(client, ANA))[0])]
    assert "09:30" not in cut_times
    assert {"09:00", "10:00"} <= set(cut_times)
    await says(client, ANA, "menu")
    colour_times = [title for _, title in choices((await to_monday_slots(client, ANA, "colour"))[0])]
    assert colour_times[:2] == ["10:00", "10:30"]


async def test_two_customers_racing_for_one_slot_get_it_once(client: Client, auth: dict[str, str]) -> None:
    """Both confirm 09:30 in the same round: Ana books it, Ben is told it was just taken and offered the others."""
    for wa_id in (ANA, BEN):
        await to_monday_slots(client, wa_id)
        await taps(client, wa_id, MONDAY_0930)
    replies = await both_tap_yes(client)
    assert said(replies[ANA])[0].startswith("Booked: Cut on Mon 13 Apr at 09:30")
    assert said(replies[BEN])[:2] == [
        "Sorry, that time was just taken. Please pick another one.",
        "What time would you like?",
    ]
    assert MONDAY_0930 not in [i for i, _ in choices(replies[BEN][1])]
    assert len(await appointments_of(client, auth, ANA)) == 1
    assert await appointments_of(client, auth, BEN) == []


async def both_tap_yes(client: Client) -> dict[str, list[dict[str, Any]]]:
    """Ana's and Ben's "Yes" arrive together and are handled in one dispatcher round; each one's replies."""
    app = client.server.app
    before = {r.id for r in await outbox_rows(app[keys.REPOSITORY])}
    ts = str(int(app[keys.CLOCK]().timestamp()))
    for wa_id in (ANA, BEN):
        tap = {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}
        message = {
            "from": wa_id,
            "id": f"wamid.race.{wa_id}",
            "timestamp": ts,
            "type": "interactive",
            "interactive": tap,
        }
        contact = {"profile": {"name": "Ana"}, "wa_id": wa_id}
        await post_webhook(client, envelope({"contacts": [contact], "messages": [message]}))
    await app[DISPATCHER].run_once()
    rows = [r for r in await outbox_rows(app[keys.REPOSITORY]) if r.id not in before and r.kind == "reply"]
    return {wa_id: [r.payload for r in rows if r.recipient == wa_id] for wa_id in (ANA, BEN)}


async def test_turns_in_concurrent_transactions_book_a_slot_once(client: Client, auth: dict[str, str]) -> None:
    """Two bookings in transactions open at once, as two processes would run them: one books, one is refused."""
    app = client.server.app
    repository, zone = app[keys.REPOSITORY], ZoneInfo(app[keys.SETTINGS].business_timezone)

    async def book(wa_id: str) -> dict[str, Any]:
        async with repository.transaction() as conn:
            contact = await business.contact_by_id(conn, await business.ensure_contact(conn, wa_id, NOON))
            booked = await book_appointment(
                ActionContext(conn, contact, NOON, zone), {"service": "cut", "slot": MONDAY_0930}
            )
            await asyncio.sleep(0.2)  # still uncommitted while the other one checks the slot
            return booked

    outcomes = await asyncio.gather(book(ANA), book(BEN), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], Conflict)
    assert refused[0].message == TAKEN
    assert len(await appointments_of(client, auth, ANA) + await appointments_of(client, auth, BEN)) == 1


async def test_a_booking_that_fails_half_way_leaves_nothing_behind(client: Client, auth: dict[str, str]) -> None:
    """No reminder template: the appointment row written before the failure is rolled back, the turn goes on."""
    app = client.server.app
    repository, zone = app[keys.REPOSITORY], ZoneInfo(app[keys.SETTINGS].business_timezone)
    async with repository.transaction() as conn:
        contact = await business.contact_by_id(conn, await business.ensure_contact(conn, ANA, NOON))
        broken = ActionContext(conn, contact, NOON, zone, AppointmentNotices(TemplateLibrary([]), zone))
        with pytest.raises(NotFound):
            await book_appointment(broken, {"service": "cut", "slot": MONDAY_0930})
        assert await business.booked_between(conn, NOON, datetime(2026, 4, 30, tzinfo=UTC)) == []
        await business.contact_by_id(conn, contact.id or 0)  # the transaction is still usable
    assert await appointments_of(client, auth, ANA) == []


async def test_a_broken_business_file_apologises(client: Client, tmp_path: Path) -> None:
    """A business file with mistakes makes booking say sorry (and log the mistakes), not crash the chat."""
    path = tmp_path / "broken.yaml"
    path.write_text("hours: {}\n")
    BUSINESS.use(path)
    answer = await open_appointments(client, ANA, "book")
    assert said(answer)[0].startswith("Sorry, I can't take bookings right now.")


async def test_no_free_days_gets_a_helpful_message(client: Client, tmp_path: Path) -> None:
    """With a notice longer than the booking horizon nothing is free: the customer is told so and offered a person."""
    use_business(tmp_path, notice="30d")
    await open_appointments(client, ANA, "book")
    answer = await taps(client, ANA, "cut")
    assert said(answer)[0].startswith("Sorry, there are no free times for that")
    assert "agent" in said(answer)[0]


async def test_a_booking_inside_the_reminder_lead_does_not_promise_a_reminder_later(client: Client) -> None:
    """Today at 16:30 is less than a day away: booked, without "we'll remind you the day before"."""
    await open_appointments(client, ANA, "book")
    await taps(client, ANA, "cut")
    slots = await taps(client, ANA, "2026-04-10")
    assert [title for _, title in choices(slots[0])] == ["16:00", "16:30", "17:00", "Another day"]
    await taps(client, ANA, "2026-04-10T16:30:00+02:00")
    assert said(await taps(client, ANA, "yes"))[0] == "Booked: Cut on Fri 10 Apr at 16:30 at Main St 1."


# --- upcoming, cancel, reschedule ------------------------------------------------------------------


async def test_upcoming_lists_the_customers_own_appointments_or_says_none(client: Client, auth: dict[str, str]) -> None:
    """Ana sees her two appointments, soonest first; Ben, who has none here, is offered to book one."""
    await book_via_api(client, auth, ANA, "2026-04-14T08:00:00Z", service="Colour")
    await book_via_api(client, auth, ANA, "2026-04-13T07:30:00Z")
    listed = await open_appointments(client, ANA, "upcoming")
    assert said(listed)[0].splitlines() == [
        "Your upcoming appointments:",
        "• Cut on Mon 13 Apr at 09:30, Main St 1",
        "• Colour on Tue 14 Apr at 10:00, Main St 1",
    ]
    none = await open_appointments(client, BEN, "upcoming")
    assert said(none) == ["You have no upcoming appointments. Would you like to book one?"]


async def test_cancel_cancels_the_appointment_and_its_reminder(client: Client, auth: dict[str, str]) -> None:
    """Pick, confirm, done: the appointment is cancelled and its queued reminder will never be sent."""
    appointment_id = await book_via_api(client, auth, ANA, "2026-04-13T07:30:00Z")
    pick = await open_appointments(client, ANA, "cancel_one")
    assert choices(pick[0]) == [(str(appointment_id), "Cut")]
    confirm = await taps(client, ANA, str(appointment_id))
    assert said(confirm) == ["Cancel Cut on Mon 13 Apr at 09:30?"]
    done = await taps(client, ANA, "yes")
    assert said(done)[0] == "Cancelled: Cut on Mon 13 Apr at 09:30. We won't remind you of it."
    [cancelled] = await appointments_of(client, auth, ANA)
    assert cancelled["status"] == "cancelled"
    assert (await outbox_by_key(client))[f"appointment:{appointment_id}:reminder"].status == "cancelled"


async def test_reschedule_moves_the_appointment_and_its_reminder(client: Client, auth: dict[str, str]) -> None:
    """Pick, a new day and time, confirm: the appointment moves, its reminder moves, the update goes out now."""
    appointment_id = await book_via_api(client, auth, ANA, "2026-04-13T07:30:00Z")
    await open_appointments(client, ANA, "reschedule")
    days = await taps(client, ANA, str(appointment_id))
    assert said(days) == ["Which day would you like instead?"]
    monday = await taps(client, ANA, "2026-04-13")
    assert "09:30" in [title for _, title in choices(monday[0])]  # its own time is not taken by itself
    await says(client, ANA, "Another day")
    slots = await taps(client, ANA, "2026-04-14")
    assert said(slots) == ["What time would you like instead?"]
    confirm = await taps(client, ANA, "2026-04-14T10:00:00+02:00")
    assert said(confirm) == ["Move Cut from Mon 13 Apr at 09:30 to Tue 14 Apr at 10:00?"]
    done = await taps(client, ANA, "yes")
    assert said(done)[0] == "Done: Cut is now on Tue 14 Apr at 10:00 at Main St 1. We'll remind you the day before."
    [moved] = await appointments_of(client, auth, ANA)
    assert datetime.fromisoformat(moved["starts_at"]) == datetime(2026, 4, 14, 8, 0, tzinfo=UTC)
    rows = await outbox_by_key(client)
    reminder = rows[f"appointment:{appointment_id}:reminder"]
    assert (reminder.status, reminder.due_at) == ("queued", datetime(2026, 4, 13, 8, 0, tzinfo=UTC))
    update = rows[f"appointment:{appointment_id}:update:1"]
    assert (update.template_name, update.due_at) == ("appointment_update", NOON)


async def test_reschedule_to_a_time_just_taken_is_refused(client: Client, auth: dict[str, str]) -> None:
    """Ben takes Tuesday 10:00 while Ana confirms it: her appointment stays and she picks again."""
    appointment_id = await book_via_api(client, auth, ANA, "2026-04-13T07:30:00Z")
    await open_appointments(client, ANA, "reschedule")
    await taps(client, ANA, str(appointment_id))
    await taps(client, ANA, "2026-04-14")
    await taps(client, ANA, "2026-04-14T10:00:00+02:00")
    await book_via_api(client, auth, BEN, "2026-04-14T08:00:00Z")
    again = await taps(client, ANA, "yes")
    assert said(again)[:2] == [
        "Sorry, that time was just taken. Please pick another one.",
        "What time would you like instead?",
    ]
    assert "10:00" not in [title for _, title in choices(again[1])]
    [kept] = await appointments_of(client, auth, ANA)
    assert datetime.fromisoformat(kept["starts_at"]) == datetime(2026, 4, 13, 7, 30, tzinfo=UTC)


async def test_another_customers_appointments_are_never_shown_or_changeable(
    client: Client, auth: dict[str, str]
) -> None:
    """Ana never sees Ben's appointment, cannot pick its id in the chat, and the actions refuse it outright."""
    bens = await book_via_api(client, auth, BEN, "2026-04-13T07:30:00Z")
    mine = await book_via_api(client, auth, ANA, "2026-04-14T08:00:00Z")
    pick = await open_appointments(client, ANA, "cancel_one")
    assert choices(pick[0]) == [(str(mine), "Cut")]
    assert (
        said(await taps(client, ANA, str(bens)))[0] == "Please pick an appointment from the list, or type its number."
    )

    app = client.server.app
    repository, now = app[keys.REPOSITORY], app[keys.CLOCK]()
    for action, args in (
        (cancel_appointment, {"id": str(bens)}),
        (reschedule_appointment, {"id": str(bens), "slot": "2026-04-15T10:00:00+02:00"}),
    ):
        async with repository.transaction() as conn:
            ana = await business.contact_by_id(conn, await business.ensure_contact(conn, ANA, now))
            context = ActionContext(conn, ana, now, ZoneInfo(app[keys.SETTINGS].business_timezone))
            with pytest.raises(NotFound):
                await action(context, args)
    [untouched] = await appointments_of(client, auth, BEN)
    assert untouched["status"] == "booked"
    assert datetime.fromisoformat(untouched["starts_at"]) == datetime(2026, 4, 13, 7, 30, tzinfo=UTC)
