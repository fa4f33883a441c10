"""The scheduler: each occurrence runs once across instances, missed runs collapse, broken schedules stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from bot.errors import Conflict, NotFound, ValidationError
from bot.message_templates.library import MessageTemplate, TemplateLibrary
from bot.notifications.scheduler import Scheduler, ScheduleRequest, TemplateLookup
from bot.notifications.service import NotificationService
from bot.otp.core import CODE_LIFE
from storage import schedule as store
from storage.models import SCHEDULE, SCHEDULE_RUN, OutboxBase, ScheduleBase, ScheduleRunBase
from storage.repository import Repository
from tests.conftest import FakeClock
from tests.notifications.test_service import params
from tests.otp.test_service import outbox_rows

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)  # a Friday, 14:00 in Amsterdam
NINE = datetime(2026, 4, 11, 7, 0, tzinfo=UTC)  # the next 09:00 in Amsterdam (CEST)
NUMBERS = ("31612345678", "447700900123")
INVOICE = {
    "customer_name": "Tomás",
    "invoice_number": "INV-2031",
    "amount": "€120.00",
    "due_date": "30 April 2026",
    "payment_id": "7f3c9a",
}


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(Path("templates"))


@pytest.fixture
def fixed_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def lookup(repository: Repository, library: TemplateLibrary, fixed_clock: FakeClock) -> TemplateLookup:
    """The real lookup the app uses: a utility template by name, anything else a ValidationError."""
    return NotificationService(repository, library, ZoneInfo("UTC"), fixed_clock).utility_template


@pytest.fixture
def woken() -> list[int]:
    return []


@pytest.fixture
def scheduler(repository: Repository, lookup: TemplateLookup, fixed_clock: FakeClock, woken: list[int]) -> Scheduler:
    return Scheduler(repository, lookup, clock=fixed_clock, on_enqueued=lambda: woken.append(1))


def daily(name: str = "invoice reminder", **changes: Any) -> ScheduleRequest:
    values: dict[str, Any] = {
        "name": name,
        "cron": "0 9 * * *",
        "time_zone": "Europe/Amsterdam",
        "template": "payment_link",
        "parameters": INVOICE,
        "wa_ids": NUMBERS,
    }
    return ScheduleRequest(**{**values, **changes})


async def runs(repository: Repository) -> list[ScheduleRunBase]:
    async with repository.engine.connect() as conn:
        rows = await conn.execute(select(SCHEDULE_RUN).order_by(SCHEDULE_RUN.c.id))
        return [ScheduleRunBase.model_validate(r._mapping) for r in rows]


async def stored(repository: Repository, schedule_id: int | None) -> ScheduleBase:
    assert schedule_id is not None
    async with repository.engine.connect() as conn:
        found = await store.schedule_by_id(conn, schedule_id)
    assert found is not None
    return found


async def insert(repository: Repository, **fields: Any) -> ScheduleBase:
    """A schedule row written directly, as a template change or an older version could have left it."""
    values: dict[str, Any] = {
        "name": "direct",
        "cron": "0 9 * * *",
        "time_zone": "Europe/Amsterdam",
        "template": "payment_link",
        "parameters": INVOICE,
        "wa_ids": list(NUMBERS),
        "next_run_at": NINE,
        **fields,
    }
    async with repository.transaction() as conn:
        row = await store.add_schedule(conn, ScheduleBase(**values))
    assert row is not None
    return row


def keys_of(rows: list[OutboxBase]) -> list[str | None]:
    return [row.idempotency_key for row in rows]


# --- creating ---------------------------------------------------------------------------------------


async def test_a_new_schedule_is_due_at_its_first_run(scheduler: Scheduler) -> None:
    """Created on Friday afternoon, a daily 09:00 Amsterdam schedule is first due Saturday 07:00 UTC."""
    created = await scheduler.create(daily())
    assert (created.active, created.next_run_at, created.last_run_at) == (True, NINE, None)
    assert (created.cron, created.time_zone, created.wa_ids) == ("0 9 * * *", "Europe/Amsterdam", list(NUMBERS))


async def test_creating_checks_everything_it_will_need(scheduler: Scheduler) -> None:
    """A bad cron or zone, a template that is not utility, missing values or a taken name are refused."""
    await scheduler.create(daily())
    with pytest.raises(Conflict, match="a schedule named 'invoice reminder' already exists"):
        await scheduler.create(daily())
    with pytest.raises(ValidationError, match="bad hour '25'"):
        await scheduler.create(daily("b", cron="0 25 * * *"))
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        await scheduler.create(daily("c", time_zone="Mars/Base"))
    with pytest.raises(ValidationError, match="template 'promotion_code' is marketing, not utility"):
        await scheduler.create(daily("d", template="promotion_code"))
    with pytest.raises(ValidationError, match="parameters lack payment_id for template 'payment_link'"):
        await scheduler.create(daily("e", parameters={k: v for k, v in INVOICE.items() if k != "payment_id"}))
    assert [s.name for s in await scheduler.schedules()] == ["invoice reminder"]


# --- running ----------------------------------------------------------------------------------------


async def test_nothing_runs_before_it_is_due(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """A second before its time, a schedule queues nothing."""
    await scheduler.create(daily())
    fixed_clock.now = NINE - timedelta(seconds=1)
    assert await scheduler.run_once() == 0
    assert await outbox_rows(repository) == []


async def test_a_due_schedule_queues_one_utility_message_per_number(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock, woken: list[int]
) -> None:
    """At 09:00 each number gets the utility template with the schedule's values, and the next run is tomorrow."""
    created = await scheduler.create(daily())
    fixed_clock.now = NINE + timedelta(seconds=5)
    assert await scheduler.run_once() == 1
    rows = await outbox_rows(repository)
    assert [(r.kind, r.recipient, r.template_name, r.template_category) for r in rows] == [
        ("utility", wa_id, "payment_link", "utility") for wa_id in NUMBERS
    ]
    assert keys_of(rows) == [f"schedule:{created.id}:2026-04-11T07:00:00+00:00:{wa_id}" for wa_id in NUMBERS]
    assert params(rows[0]) == {**{k: v for k, v in INVOICE.items() if k != "payment_id"}, "button_0": "7f3c9a"}
    assert rows[1].payload["to"] == NUMBERS[1]
    [run] = await runs(repository)
    assert (run.schedule_id, run.scheduled_for, run.queued) == (created.id, NINE, 2)
    after = await stored(repository, created.id)
    assert (after.next_run_at, after.last_run_at) == (NINE + timedelta(days=1), NINE)
    assert woken == [1]
    assert await scheduler.run_once() == 0


async def test_the_unique_run_row_stops_a_second_run_of_one_occurrence(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """Even if a schedule's due time were put back, an occurrence already run queues nothing again."""
    created = await scheduler.create(daily())
    fixed_clock.now = NINE
    await scheduler.run_once()
    async with repository.transaction() as conn:
        await conn.execute(update(SCHEDULE).where(SCHEDULE.c.id == created.id).values(next_run_at=NINE))
    with capture_logs() as logs:
        assert await scheduler.run_once() == 1
    assert len(await outbox_rows(repository)) == len(NUMBERS)
    assert len(await runs(repository)) == 1
    assert any(e["event"] == "schedule.run_exists" for e in logs)
    assert (await stored(repository, created.id)).next_run_at == NINE + timedelta(days=1)


async def test_two_schedulers_run_each_occurrence_once(
    database_url: str, repository: Repository, lookup: TemplateLookup, fixed_clock: FakeClock
) -> None:
    """Two schedulers on one database (as two processes would be) share the work: every run happens once."""
    second = Repository.connect(database_url)
    try:
        first_scheduler = Scheduler(repository, lookup, clock=fixed_clock)
        second_scheduler = Scheduler(second, lookup, clock=fixed_clock)
        for n in range(4):
            await first_scheduler.create(daily(f"reminder {n}"))
        for day in range(3):
            fixed_clock.now = NINE + timedelta(days=day, minutes=1)
            handled = await asyncio.gather(first_scheduler.run_once(), second_scheduler.run_once())
            assert sum(handled) == 4
        assert len(await runs(repository)) == 4 * 3
        rows = await outbox_rows(repository)
        assert len(rows) == len(set(keys_of(rows))) == 4 * 3 * len(NUMBERS)
    finally:
        await second.close()


async def test_missed_runs_collapse_to_the_latest(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """Down for three days, the service sends only today's run, once, and says how many it skipped."""
    created = await scheduler.create(daily())
    fixed_clock.now = NINE + timedelta(days=3, hours=2)
    with capture_logs() as logs:
        assert await scheduler.run_once() == 1
    [run] = await runs(repository)
    assert run.scheduled_for == NINE + timedelta(days=3)
    assert len(await outbox_rows(repository)) == len(NUMBERS)
    [skipped] = [e for e in logs if e["event"] == "schedule.runs_skipped"]
    assert (skipped["count"], skipped["since"], skipped["running"]) == (3, NINE, NINE + timedelta(days=3))
    assert (await stored(repository, created.id)).next_run_at == NINE + timedelta(days=4)


async def test_runs_follow_the_zone_across_the_spring_change(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """At 02:30 in Amsterdam: 01:30 UTC in winter, 03:00 CEST on the day it does not exist, then 00:30 UTC."""
    fixed_clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    created = await scheduler.create(daily(cron="30 2 * * *"))
    seen = []
    for _ in range(3):
        due = (await stored(repository, created.id)).next_run_at
        assert due is not None
        fixed_clock.now = due
        await scheduler.run_once()
        seen.append(due)
    assert seen == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    assert [r.scheduled_for for r in await runs(repository)] == seen


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"template": "retired_template"}, "no template 'retired_template'"),
        ({"template": "login_code"}, "template 'login_code' is authentication, not utility"),
        ({"parameters": {"customer_name": "Tomás"}}, "parameters lack invoice_number"),
        ({"parameters": {**INVOICE, "amount": "two\nlines"}}, "value for 'amount' must be non-empty text"),
        ({"time_zone": "Atlantis/Capital"}, "unknown time zone 'Atlantis/Capital'"),
        ({"cron": "0 9 * *"}, "expected 5 fields"),
    ],
)
async def test_a_schedule_that_can_no_longer_be_sent_is_disabled(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock, fields: dict[str, Any], reason: str
) -> None:
    """A schedule whose template, values, zone or cron stopped fitting is disabled with its reason; others still run."""
    broken = await insert(repository, name="broken", **fields)
    healthy = await insert(repository, name="healthy", next_run_at=NINE + timedelta(seconds=1))
    fixed_clock.now = NINE + timedelta(minutes=1)
    with capture_logs() as logs:
        assert await scheduler.run_once() == 2
    [disabled] = [e for e in logs if e["event"] == "schedule.disabled"]
    assert disabled["schedule_id"] == broken.id
    assert reason in disabled["reason"]
    after = await stored(repository, broken.id)
    assert (after.active, after.next_run_at) == (False, None)
    assert {r.schedule_id for r in await runs(repository)} == {healthy.id}
    assert {r.recipient for r in await outbox_rows(repository)} == set(NUMBERS)


async def test_deactivating_stops_runs_and_cancels_what_is_still_queued(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """A deactivated schedule keeps its history, runs no more, and its latest run's queued messages are cancelled."""
    created = await scheduler.create(daily())
    assert created.id is not None
    fixed_clock.now = NINE
    await scheduler.run_once()
    stopped = await scheduler.deactivate(created.id)
    assert (stopped.active, stopped.next_run_at, stopped.last_run_at) == (False, None, NINE)
    assert {r.status for r in await outbox_rows(repository)} == {"cancelled"}
    assert (await scheduler.deactivate(created.id)).active is False
    fixed_clock.now = NINE + timedelta(days=2)
    assert await scheduler.run_once() == 0
    schedule, history = await scheduler.schedule(created.id)
    assert (schedule.active, [r.scheduled_for for r in history]) == (False, [NINE])
    with pytest.raises(NotFound, match="no schedule 999"):
        await scheduler.deactivate(999)
    with pytest.raises(NotFound, match="no schedule 999"):
        await scheduler.schedule(999)


async def test_a_message_of_a_schedule_deactivated_meanwhile_is_not_sent(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock
) -> None:
    """A run's message still waiting (held for quiet hours, or claimed) when its schedule stops is not sent."""
    from bot.metrics import Metrics
    from bot.outbound.sender import Sender
    from bot.whatsapp.client import CloudAPIClient, RecordingTransport

    created = await scheduler.create(daily())
    fixed_clock.now = NINE
    await scheduler.run_once()
    async with repository.transaction() as conn:  # as if deactivated while the sender held the rows
        await conn.execute(update(SCHEDULE).where(SCHEDULE.c.id == created.id).values(active=False))
    transport = RecordingTransport()
    client = CloudAPIClient(
        transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
    )
    await Sender(repository, client, clock=fixed_clock, metrics=Metrics(), code_life=CODE_LIFE).run_once()
    assert transport.requests == []
    rows = await outbox_rows(repository)
    assert {(r.status, (r.last_error or {}).get("message")) for r in rows} == {
        ("cancelled", f"schedule {created.id} was deactivated")
    }


# --- storage -----------------------------------------------------------------------------------------


async def test_record_run_answers_whether_the_run_is_new(repository: Repository) -> None:
    """The (schedule, occurrence) pair is recorded once; a second record of it is ignored and says so."""
    row = await insert(repository)
    assert row.id is not None
    async with repository.transaction() as conn:
        assert await store.record_run(conn, row.id, NINE, 2, NOW) is True
        assert await store.record_run(conn, row.id, NINE, 2, NOW) is False
        assert await store.record_run(conn, row.id, NINE + timedelta(days=1), 2, NOW) is True
        assert await store.next_due_at(conn) == NINE


async def test_recipients_are_known_contacts_or_new_ones(repository: Repository) -> None:
    """A run's numbers map to their contacts, created once when missing, in two statements for the lot."""
    async with repository.transaction() as conn:
        known = await store.recipients(conn, NUMBERS[:1], NOW)
        both = await store.recipients(conn, NUMBERS, NOW)
        assert await store.recipients(conn, [], NOW) == {}
    assert both[NUMBERS[0]] == known[NUMBERS[0]]
    assert set(both) == set(NUMBERS)
    assert len(set(both.values())) == len(NUMBERS)


async def test_a_locked_due_schedule_is_skipped_by_other_transactions(repository: Repository) -> None:
    """On PostgreSQL a scheduler holding one due schedule leaves it out of another's claim (SKIP LOCKED)."""
    if repository.dialect != "postgresql":
        pytest.skip("SQLite serialises write transactions instead of locking rows")
    first = await insert(repository, name="first")
    second = await insert(repository, name="second", next_run_at=NINE + timedelta(seconds=1))
    async with repository.transaction() as holder:
        assert [s.id for s in await store.due_schedules(holder, NINE + timedelta(minutes=1), 1)] == [first.id]
        async with repository.transaction() as other:
            taken = await store.due_schedules(other, NINE + timedelta(minutes=1), 10)
        assert [s.id for s in taken] == [second.id]


# --- the loop -----------------------------------------------------------------------------------------


@pytest.fixture
async def running(scheduler: Scheduler) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(scheduler.run())
    yield task
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def wait_for_rows(repository: Repository, count: int) -> list[OutboxBase]:
    for _ in range(200):
        rows = await outbox_rows(repository)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} outbox rows")


async def test_the_loop_logs_a_failure_and_goes_on(
    repository: Repository, library: TemplateLibrary, fixed_clock: FakeClock
) -> None:
    """An unexpected error in one round is logged as scheduler.failed; the next round runs the schedule."""
    failures = [RuntimeError("templates folder unreadable")]

    def flaky(name: str, language: str | None) -> MessageTemplate:
        if failures:
            raise failures.pop()
        return NotificationService(repository, library, ZoneInfo("UTC"), fixed_clock).utility_template(name, language)

    scheduler = Scheduler(repository, flaky, clock=fixed_clock, idle_wait=0.05)
    await insert(repository)
    fixed_clock.now = NINE
    with capture_logs() as logs:
        task = asyncio.create_task(scheduler.run())
        try:
            rows = await wait_for_rows(repository, len(NUMBERS))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert [e["error"] for e in logs if e["event"] == "scheduler.failed"] == [
        "RuntimeError: templates folder unreadable"
    ]
    assert len(rows) == len(NUMBERS)


async def test_creating_wakes_the_loop(
    scheduler: Scheduler, repository: Repository, fixed_clock: FakeClock, running: asyncio.Task[None]
) -> None:
    """A schedule created while the loop sleeps is run as soon as it is due, not after the idle wait."""
    await asyncio.sleep(0.05)  # the loop found nothing and sleeps for its 15 s idle wait
    fixed_clock.now = NINE - timedelta(minutes=1)
    await scheduler.create(daily())
    fixed_clock.now = NINE  # before the loop wakes: it finds the schedule due
    await asyncio.wait_for(wait_for_rows(repository, len(NUMBERS)), timeout=5)
