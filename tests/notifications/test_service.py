"""Utility notifications: order, appointment and balance changes queue the right templates, once, on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.errors import NotFound, ValidationError
from bot.language.reader import Reader
from bot.message_templates.library import TemplateLibrary
from bot.notifications.rules import check_balance, reminder_due
from bot.notifications.service import (
    AppointmentChange,
    BalanceUpdate,
    Customer,
    NotificationService,
    OrderChange,
)
from bot.notifications.utility import NotificationRequest
from bot.settings import Settings
from storage.models import AppointmentBase, OrderBase, OutboxBase
from storage.repository import Repository
from tests.api.test_app import ClientFactory, assert_error, start_app
from tests.conftest import FakeClock
from tests.otp.test_service import outbox_rows

Client = TestClient[web.Request, web.Application]
ZONE = ZoneInfo("America/Sao_Paulo")  # UTC-3 all year: local times differ visibly from UTC
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)  # a Friday
CUSTOMER = Customer("5511987654321", "Aisha")


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(Path("templates"))


@pytest.fixture
def fixed_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def service(repository: Repository, library: TemplateLibrary, fixed_clock: FakeClock) -> NotificationService:
    return NotificationService(repository, library, ZONE, fixed_clock)


def params(row: OutboxBase) -> dict[str, str]:
    """The named body and header parameters of a queued template, plus its URL button's value."""
    values: dict[str, str] = {}
    for component in row.payload["template"]["components"]:
        for parameter in component["parameters"]:
            name = parameter.get("parameter_name", f"button_{component.get('index')}")
            values[name] = parameter["text"]
    return values


def order(**fields: Any) -> OrderBase:
    return OrderBase(number="10482", contact_id=0, **fields)


# --- the pure rules ---------------------------------------------------------------------------------


def test_reminder_due_time() -> None:
    """The lead time before the start; at once inside it; never once the appointment has begun."""
    lead = timedelta(hours=24)
    assert reminder_due(NOW + timedelta(days=3), lead, NOW) == NOW + timedelta(days=2)
    assert reminder_due(NOW + timedelta(hours=2), lead, NOW) == NOW
    assert reminder_due(NOW, lead, NOW) is None


def test_balance_alerts_once_per_dip() -> None:
    """Going below alerts, staying below does not, going back to the threshold re-arms."""
    assert check_balance("10", "25", alerted=False) == (check := check_balance("10", "25", alerted=False))
    assert (check.alert, check.alerted) == (True, True)
    assert check_balance("5", "25", alerted=True).alert is False
    assert check_balance("25", "25", alerted=True).alerted is False
    assert check_balance("5", None, alerted=False).alert is False


# --- orders -----------------------------------------------------------------------------------------


async def test_order_status_changes_send_their_templates_once(
    service: NotificationService, repository: Repository
) -> None:
    """confirmed, shipped, delayed and delivered each queue their template with the order's values, once."""
    start = datetime(2026, 4, 17, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo
    await service.create_order(CUSTOMER, order(total="84.90", currency="EUR"))
    fields = {"delivery_start": start, "delivery_end": start + timedelta(hours=4), "tracking_number": "PX39281DE"}
    await service.change_order("10482", OrderChange("confirmed", fields))
    await service.change_order("10482", OrderChange("confirmed"))
    await service.change_order("10482", OrderChange("shipped"))
    later = {"delivery_start": start + timedelta(days=4), "delay_reason": "a carrier backlog"}
    _, queued = await service.change_order("10482", OrderChange("delayed", later))
    assert queued is not None
    assert (queued.key, queued.queued) == ("order:10482:delayed", True)
    _, again = await service.change_order("10482", OrderChange("delayed"))
    assert again is not None
    assert again.queued is False
    await service.change_order("10482", OrderChange("delivered"))

    rows = await outbox_rows(repository)
    assert [(r.template_name, r.idempotency_key) for r in rows] == [
        ("order_confirmation", "order:10482:confirmed"),
        ("shipping_window", "order:10482:shipped"),
        ("order_delayed", "order:10482:delayed"),
        ("order_delivered", "order:10482:delivered"),
    ]
    assert all((r.kind, r.template_category, r.due_at) == ("utility", "utility", NOW) for r in rows)
    assert all(r.recipient == CUSTOMER.wa_id for r in rows)
    confirmation, shipping, delayed, delivered = (params(r) for r in rows)
    assert delivered == {
        "customer_name": "Aisha",
        "order_number": "10482",
        "delivered_date": Reader.business(ZONE).date(NOW),
    }
    assert confirmation == {
        "order_number": "10482",
        "customer_name": "Aisha",
        "total": "€84.90",
        "delivery_date": "Friday 17 April",
    }
    assert shipping == {
        "customer_name": "Aisha",
        "order_number": "10482",
        "delivery_date": "Friday 17 April",
        "window_start": "10:00",
        "window_end": "14:00",
        "button_0": "PX39281DE",
    }
    assert delayed == {
        "order_number": "10482",
        "customer_name": "Aisha",
        "new_delivery_date": "Tuesday 21 April",
        "reason": "a carrier backlog",
    }


async def test_cancelled_and_placed_send_nothing(service: NotificationService, repository: Repository) -> None:
    """No template says cancelled or placed, so those statuses only update the order."""
    await service.create_order(CUSTOMER, order())
    for status in ("cancelled", "placed"):
        updated, queued = await service.change_order("10482", OrderChange(status))
        assert (updated.status, queued) == (status, None)
    assert await outbox_rows(repository) == []


async def test_a_status_without_its_data_is_refused_and_changes_nothing(
    service: NotificationService, repository: Repository
) -> None:
    """Shipping an order without a delivery window names the missing fields and leaves the order as it was."""
    await service.create_order(CUSTOMER, order())
    with pytest.raises(ValidationError) as error:
        await service.change_order("10482", OrderChange("shipped", {"tracking_number": "PX1"}))
    assert "delivery_start, delivery_end" in error.value.message
    async with repository.engine.connect() as conn:
        from storage.business import order_by_number

        stored = await order_by_number(conn, "10482")
    assert stored is not None
    assert (stored.status, stored.tracking_number) == ("placed", None)
    assert await outbox_rows(repository) == []


async def test_unknown_orders_and_statuses(service: NotificationService) -> None:
    """Changing an order never stored is NotFound; an unknown status is a ValidationError listing the known."""
    with pytest.raises(NotFound):
        await service.change_order("404", OrderChange("confirmed"))
    with pytest.raises(ValidationError, match="delivered"):
        await service.change_order("404", OrderChange("lost"))


async def test_repeating_an_order_creation_changes_nothing(service: NotificationService) -> None:
    """Posting the same order number again answers the stored order; another contact may not claim it."""
    first, _, created = await service.create_order(CUSTOMER, order(total="1.00"))
    again, _, created_again = await service.create_order(CUSTOMER, order(total="2.00"))
    assert (created, created_again, again.total) == (True, False, "1.00")
    assert again.id == first.id
    with pytest.raises(ValidationError, match="another contact"):
        await service.create_order(Customer("447700900123"), order())


# --- appointments -----------------------------------------------------------------------------------


def appointment(starts_at: datetime) -> AppointmentBase:
    return AppointmentBase(contact_id=0, service="dental check-up", starts_at=starts_at, location="Av. Paulista 1578")


async def test_booking_queues_the_reminder_a_day_ahead(service: NotificationService, repository: Repository) -> None:
    """The reminder is due 24 h before the start, in UTC, and shows the local date and time."""
    starts_at = datetime(2026, 4, 14, 12, 30, tzinfo=UTC)  # 09:30 in São Paulo
    booked, reminder = await service.book(CUSTOMER, appointment(starts_at))
    assert reminder is not None
    assert (reminder.key, reminder.due_at) == (f"appointment:{booked.id}:reminder", starts_at - timedelta(hours=24))
    [row] = await outbox_rows(repository)
    assert (row.template_name, row.kind, row.due_at) == ("appointment_reminder", "utility", reminder.due_at)
    assert row.due_at.utcoffset() == timedelta(0)
    assert params(row) == {
        "customer_name": "Aisha",
        "service": "dental check-up",
        "date": "Tuesday 14 April",
        "time": "09:30",
        "location": "Av. Paulista 1578",
    }


async def test_reminder_lead_time_is_a_setting(
    repository: Repository, library: TemplateLibrary, fixed_clock: FakeClock
) -> None:
    """With a 2 h lead the reminder is due 2 h before the start."""
    service = NotificationService(repository, library, ZONE, fixed_clock, reminder_lead=timedelta(hours=2))
    starts_at = NOW + timedelta(days=1)
    _, reminder = await service.book(CUSTOMER, appointment(starts_at))
    assert reminder is not None
    assert reminder.due_at == starts_at - timedelta(hours=2)


async def test_a_late_booking_is_reminded_at_once_and_a_past_one_never(
    service: NotificationService, repository: Repository
) -> None:
    """Inside the lead time the reminder is due now; an appointment already begun gets none."""
    _, soon = await service.book(CUSTOMER, appointment(NOW + timedelta(hours=3)))
    _, past = await service.book(CUSTOMER, appointment(NOW - timedelta(hours=1)))
    assert soon is not None
    assert (soon.due_at, past) == (NOW, None)
    assert len(await outbox_rows(repository)) == 1


async def test_rescheduling_moves_the_reminder_and_sends_an_update(
    service: NotificationService, repository: Repository
) -> None:
    """A new time moves the queued reminder (new due time, new text) and queues appointment_update now, once."""
    booked, _ = await service.book(CUSTOMER, appointment(NOW + timedelta(days=3)))
    assert booked.id is not None
    new_start = datetime(2026, 4, 16, 18, 0, tzinfo=UTC)  # Thursday 15:00 local
    change = AppointmentChange(starts_at=new_start)
    moved, queued = await service.change_appointment(booked.id, change)
    assert (moved.starts_at, moved.revision) == (new_start, 1)
    assert [(q.template, q.queued) for q in queued] == [("appointment_update", True), ("appointment_reminder", False)]
    assert (await service.change_appointment(booked.id, change))[1] == []

    reminder, update = await outbox_rows(repository)
    assert (reminder.idempotency_key, reminder.status) == (f"appointment:{booked.id}:reminder", "queued")
    assert reminder.due_at == new_start - timedelta(hours=24)
    assert (params(reminder)["date"], params(reminder)["time"]) == ("Thursday 16 April", "15:00")
    assert (update.template_name, update.due_at) == ("appointment_update", NOW)
    assert params(update) == params(reminder)


async def test_rescheduling_into_the_lead_time_lets_the_update_remind(
    service: NotificationService, repository: Repository
) -> None:
    """Moved to within 24 h, the update goes now and the queued reminder is cancelled rather than doubled."""
    booked, _ = await service.book(CUSTOMER, appointment(NOW + timedelta(days=3)))
    assert booked.id is not None
    await service.change_appointment(booked.id, AppointmentChange(starts_at=NOW + timedelta(hours=5)))
    reminder, update = await outbox_rows(repository)
    assert (reminder.status, update.status, update.template_name) == ("cancelled", "queued", "appointment_update")


async def test_cancelling_cancels_the_reminder(service: NotificationService, repository: Repository) -> None:
    """A cancelled appointment's queued reminder is cancelled, nothing else is sent, and it cannot be moved."""
    booked, _ = await service.book(CUSTOMER, appointment(NOW + timedelta(days=3)))
    assert booked.id is not None
    cancelled, queued = await service.change_appointment(booked.id, AppointmentChange(cancel=True))
    assert (cancelled.status, queued) == ("cancelled", [])
    [row] = await outbox_rows(repository)
    assert row.status == "cancelled"
    with pytest.raises(ValidationError, match="cancelled"):
        await service.change_appointment(booked.id, AppointmentChange(starts_at=NOW + timedelta(days=4)))
    listed = await service.appointments(CUSTOMER.wa_id)
    assert [(a.id, a.status) for a in listed] == [(booked.id, "cancelled")]


async def test_a_reminder_already_sent_is_followed_by_a_new_one(
    service: NotificationService, repository: Repository, fixed_clock: FakeClock
) -> None:
    """When the first reminder already left, a reschedule queues a fresh one keyed with the revision."""
    booked, _ = await service.book(CUSTOMER, appointment(NOW + timedelta(days=3)))
    assert booked.id is not None
    async with repository.transaction() as conn:
        from sqlalchemy import update

        from storage.models import OUTBOX

        await conn.execute(update(OUTBOX).values(status="sent"))
    await service.change_appointment(booked.id, AppointmentChange(starts_at=NOW + timedelta(days=5)))
    keys = [r.idempotency_key for r in await outbox_rows(repository)]
    assert keys[-1] == f"appointment:{booked.id}:reminder:1"


# --- accounts ---------------------------------------------------------------------------------------


async def test_balance_crossing_alerts_once_per_crossing(service: NotificationService, repository: Repository) -> None:
    """Below the threshold alerts once; staying low is silent; rising re-arms; the next dip alerts again."""
    balances = ["40.00", "18.40", "12.00", "30.00", "20.00"]
    results = []
    for index, balance in enumerate(balances):
        update = BalanceUpdate(balance, currency="EUR", account_name="Everyday account")
        if index == 0:
            update = BalanceUpdate(balance, "EUR", "Everyday account", low_threshold="25.00", set_threshold=True)
        account, queued = await service.set_balance(CUSTOMER, update)
        results.append(queued.key if queued else None)
    wa_id = CUSTOMER.wa_id
    assert results == [None, f"account:{wa_id}:low:1", None, None, f"account:{wa_id}:low:2"]
    assert account.low_alerted is True
    first, second = await outbox_rows(repository)
    assert params(first) == {
        "customer_name": "Aisha",
        "account_name": "Everyday account",
        "balance": "€18.40",
        "threshold": "€25.00",
    }
    assert (second.template_name, params(second)["balance"]) == ("account_balance_low", "€20.00")


async def test_a_new_account_needs_a_currency(service: NotificationService) -> None:
    """The first balance of an account must say its currency."""
    with pytest.raises(ValidationError, match="currency"):
        await service.set_balance(CUSTOMER, BalanceUpdate("10"))


# --- any utility template ---------------------------------------------------------------------------


PAYMENT = {"customer_name": "Tomás", "amount": "€120.00", "invoice_number": "INV-2031", "payment_date": "12 April"}


async def test_a_notification_is_queued_once_now_or_later(service: NotificationService, repository: Repository) -> None:
    """A utility template goes now or at send_at; the same content again is not queued twice."""
    now = await service.notify(NotificationRequest(CUSTOMER.wa_id, "payment_received", PAYMENT))
    again = await service.notify(NotificationRequest(CUSTOMER.wa_id, "payment_received", PAYMENT))
    later = NOW + timedelta(hours=3)
    link = {"customer_name": "Tomás", "invoice_number": "I-1", "amount": "€5", "due_date": "1 May", "payment_id": "7f"}
    scheduled = await service.notify(NotificationRequest(CUSTOMER.wa_id, "payment_link", link, send_at=later))
    assert (now.queued, again.queued, now.key) == (True, False, again.key)
    assert scheduled.due_at == later
    rows = await outbox_rows(repository)
    assert [(r.template_name, r.due_at, r.kind) for r in rows] == [
        ("payment_received", NOW, "utility"),
        ("payment_link", later, "utility"),
    ]
    assert params(rows[1])["button_0"] == "7f"


async def test_a_notification_must_be_a_complete_utility_template(service: NotificationService) -> None:
    """Unknown or non-utility templates and missing parameters are refused with the reason."""
    with pytest.raises(ValidationError, match="payment_received"):
        await service.notify(NotificationRequest(CUSTOMER.wa_id, "no_such_template", {}))
    with pytest.raises(ValidationError, match="authentication, not utility"):
        await service.notify(NotificationRequest(CUSTOMER.wa_id, "login_code", {"code": "123456"}))
    partial = {k: v for k, v in PAYMENT.items() if k != "amount"}
    with pytest.raises(ValidationError, match="amount"):
        await service.notify(NotificationRequest(CUSTOMER.wa_id, "payment_received", partial))


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client: ClientFactory, make_settings: Any, fixed_clock: FakeClock) -> Client:
    settings: Settings = make_settings(business_timezone="America/Sao_Paulo")
    client, _ = await start_app(aiohttp_client, settings, fixed_clock, roles={"web"})
    return client


async def call(client: Client, method: str, path: str, auth: dict[str, str], body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    resp = await client.request(method, path, headers=auth, **kwargs)
    return resp.status, await resp.json()


async def test_api_orders_round_trip(client: Client, auth: dict[str, str]) -> None:
    """POST then PATCH an order: 201, the queued template in the answer, 200 on repeat, 404 for unknown."""
    body = {"number": "A1", "wa_id": "5511987654321", "name": "Aisha", "total": 84.9, "currency": "eur"}
    status, answer = await call(client, "POST", "/api/orders", auth, body)
    assert (status, answer["order"]["total"], answer["order"]["currency"]) == (201, "84.90", "EUR")
    assert (await call(client, "POST", "/api/orders", auth, body))[0] == 200
    change = {"status": "confirmed", "delivery_start": "2026-04-17T10:00:00-03:00"}
    status, answer = await call(client, "PATCH", "/api/orders/A1", auth, change)
    assert status == 200
    assert answer["notification"]["key"] == "order:A1:confirmed"
    assert answer["notification"]["queued"] is True
    status, answer = await call(client, "PATCH", "/api/orders/B2", auth, change)
    assert status == 404
    assert_error(answer, "not_found")


async def test_api_appointments_round_trip(client: Client, auth: dict[str, str]) -> None:
    """Book, list, reschedule and cancel an appointment through the API."""
    body = {
        "wa_id": "5511987654321",
        "service": "dental check-up",
        "starts_at": "2026-04-14T09:30:00-03:00",
        "location": "Av. Paulista 1578",
    }
    status, answer = await call(client, "POST", "/api/appointments", auth, body)
    assert status == 201
    appointment_id = answer["appointment"]["id"]
    assert answer["reminder"]["due_at"] == "2026-04-13T12:30:00+00:00"
    resp = await client.get("/api/appointments", headers=auth, params={"wa_id": "5511987654321"})
    assert [a["id"] for a in (await resp.json())["items"]] == [appointment_id]
    path = f"/api/appointments/{appointment_id}"
    status, answer = await call(client, "PATCH", path, auth, {"starts_at": "2026-04-16T15:00:00-03:00"})
    assert status == 200
    assert [n["template"] for n in answer["notifications"]] == ["appointment_update", "appointment_reminder"]
    status, answer = await call(client, "PATCH", path, auth, {"status": "cancelled"})
    assert (status, answer["appointment"]["status"]) == (200, "cancelled")
    assert (await call(client, "PATCH", "/api/appointments/999", auth, {"status": "cancelled"}))[0] == 404


async def test_a_brazilian_customer_is_reminded_in_portuguese_on_their_own_clock(
    aiohttp_client: ClientFactory, make_settings: Any, fixed_clock: FakeClock, auth: dict[str, str]
) -> None:
    """A business in Lisbon books a pt_BR contact from São Paulo: the pt_BR reminder, their date, their 09:30, named."""
    client, _ = await start_app(aiohttp_client, make_settings(business_timezone="Europe/Lisbon"), fixed_clock)
    contact = {"wa_id": "+55 11 98765 4321", "name": "Aisha", "language": "pt_BR"}
    assert (await call(client, "POST", "/api/contacts", auth, contact))[0] == 201
    body = {"wa_id": CUSTOMER.wa_id, "service": "consulta", "starts_at": "2026-04-14T12:30:00Z", "location": "Av. X 1"}
    assert (await call(client, "POST", "/api/appointments", auth, body))[0] == 201
    account = {"balance": "1234.5", "currency": "BRL", "low_threshold": "2000"}
    assert (await call(client, "PUT", f"/api/accounts/{CUSTOMER.wa_id}", auth, account))[0] == 200
    reminder, alert = await outbox_rows(client.server.app[keys.REPOSITORY])
    assert reminder.payload["template"]["language"] == {"code": "pt_BR"}
    assert params(reminder) == {
        "customer_name": "Aisha",
        "service": "consulta",
        "date": "terça-feira, 14 de abril",  # the template's own example's form
        "time": "09:30 (São Paulo)",  # 13:30 in Lisbon: the customer's clock, named as it is not the business's
        "location": "Av. X 1",
    }
    # No pt_BR balance alert exists: the English template, and amounts written as English writes them.
    assert alert.payload["template"]["language"] == {"code": "en"}
    assert (params(alert)["balance"], params(alert)["threshold"]) == ("R$1,234.50", "R$2,000.00")


async def test_api_account_and_batch_notifications(client: Client, auth: dict[str, str]) -> None:
    """PUT a low balance alerts; a batch answers per item, errors included."""
    body = {"balance": "10", "currency": "EUR", "low_threshold": "25"}
    status, answer = await call(client, "PUT", "/api/accounts/5511987654321", auth, body)
    assert (status, answer["notification"]["key"]) == (200, "account:5511987654321:low:1")
    ok = {"wa_id": "5511987654321", "template": "payment_received", "parameters": PAYMENT}
    items = [ok, ok, {**ok, "template": "login_code"}, {**ok, "parameters": {}}, "nope"]
    status, answer = await call(client, "POST", "/api/notifications", auth, {"items": items})
    assert status == 200
    assert [i["status"] for i in answer["items"]] == ["queued", "duplicate", "error", "error", "error"]
    assert "customer_name" in answer["items"][3]["error"]["message"]
    status, answer = await call(client, "POST", "/api/notifications", auth, {**ok, "idempotency_key": "pay-1"})
    assert (status, answer["notification"]["key"]) == (202, "notification:pay-1")


@pytest.mark.parametrize(
    ("method", "path", "body", "names"),
    [
        ("POST", "/api/orders", "{not json", "JSON"),
        ("POST", "/api/orders", {"wa_id": "5511987654321"}, "number"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "+55 11"}, "wa_id"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "12345"}, "wa_id"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "5511987654321", "status": "lost"}, "status"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "5511987654321", "total": "abc"}, "total"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "5511987654321", "currency": "EURO"}, "currency"),
        ("POST", "/api/orders", {"number": "A", "wa_id": "5511987654321", "delivery_start": "2026-04-17"}, "offset"),
        ("PATCH", "/api/orders/A", {}, "status"),
        ("POST", "/api/appointments", {"wa_id": "5511987654321", "service": "x", "location": "y"}, "starts_at"),
        ("PATCH", "/api/appointments/x", {"status": "cancelled"}, "id"),
        ("PATCH", "/api/appointments/1", {"status": "done"}, "status"),
        ("PATCH", "/api/appointments/1", {"duration_minutes": 0}, "duration_minutes"),
        ("PUT", "/api/accounts/5511987654321", {"currency": "EUR"}, "balance"),
        ("PUT", "/api/accounts/5511987654321", {"balance": "1"}, "currency"),
        ("POST", "/api/notifications", {"wa_id": "5511987654321"}, "template"),
        ("POST", "/api/notifications", {"wa_id": "5511987654321", "template": "login_code"}, "not utility"),
        ("POST", "/api/notifications", {"wa_id": "5511987654321", "template": "payment_received"}, "amount"),
        ("POST", "/api/notifications", {"items": []}, "items"),
    ],
)
async def test_api_rejects_bad_bodies(
    client: Client, auth: dict[str, str], method: str, path: str, body: Any, names: str
) -> None:
    """Malformed bodies are 400 invalid_request with a message naming the field or the problem."""
    status, answer = await call(client, method, path, auth, body)
    assert status == 400
    assert names in assert_error(answer, "invalid_request")


async def test_api_business_routes_need_the_admin_token(client: Client) -> None:
    """Every business route is admin API: no bearer token, 401."""
    routes = [
        ("POST", "/api/orders"),
        ("PATCH", "/api/orders/A1"),
        ("POST", "/api/appointments"),
        ("GET", "/api/appointments?wa_id=5511987654321"),
        ("PATCH", "/api/appointments/1"),
        ("PUT", "/api/accounts/5511987654321"),
        ("POST", "/api/notifications"),
    ]
    for method, path in routes:
        assert (await client.request(method, path, json={})).status == 401, path
