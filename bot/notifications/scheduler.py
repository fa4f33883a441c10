"""Recurring utility notifications: schedules are rows with a due time, run by a loop, once per occurrence.

Each due schedule is handled in a transaction of its own: the run's row (unique per schedule and
occurrence, so a run happens once across instances), one outbox row per recipient (idempotency key
``schedule:{id}:{occurrence}:{wa_id}``), and the next due time, computed in the schedule's time zone by
`bot.recurring.cron`. A service that was down across several occurrences sends only the latest. A schedule that
can no longer be sent (its template is gone or changed, its values no longer fit) is disabled and
logged, and the loop goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import Conflict, NotFound, ValidationError
from bot.loop import Wakeful
from bot.message_templates.library import MessageTemplate, to_cloud_api
from bot.recurring import cron
from storage import schedule as store
from storage.business import cancel_queued
from storage.models import ScheduleBase, ScheduleRunBase
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.notifications.scheduler")

# A utility template by name and language; `NotificationService.utility_template` is the real one, and
# raises `ValidationError` for an unknown template or one of another category.
TemplateLookup = Callable[[str, str | None], MessageTemplate]
PREVIEW = 3  # upcoming runs shown with a schedule
RECENT_RUNS = 20


@dataclass(frozen=True)
class ScheduleRequest:
    """A new schedule as a caller asked for it; `Scheduler.create` checks it."""

    name: str
    cron: str
    time_zone: str
    template: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    wa_ids: Sequence[str] = ()
    language: str | None = None


def payloads(template: MessageTemplate, wa_ids: Sequence[str], parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Cloud API send body for each recipient; missing or unusable values are a `ValidationError`.

    Every recipient gets the same values, so the template is rendered once and only `to` differs.
    """
    missing = [name for name in template.variables if name not in parameters]
    if missing:
        raise ValidationError(f"parameters lack {', '.join(missing)} for template {template.name!r}")
    if not wa_ids:
        return []
    body = to_cloud_api(template, wa_ids[0], parameters)
    return [{**body, "to": wa_id} for wa_id in wa_ids]


def run_key(schedule_id: int, occurrence: datetime, wa_id: str) -> str:
    """The outbox idempotency key of one recipient's message in one run: a rerun queues nothing twice."""
    return f"schedule:{schedule_id}:{occurrence.astimezone(UTC).isoformat()}:{wa_id}"


def upcoming(schedule: ScheduleBase, count: int = PREVIEW) -> list[datetime]:
    """The schedule's next `count` runs, from its next due time; none once it is inactive."""
    if not schedule.active or schedule.next_run_at is None:
        return []
    try:
        recurrence = cron.parse(schedule.cron, schedule.time_zone)
        return [schedule.next_run_at, *cron.next_runs(recurrence, schedule.next_run_at, count - 1)]
    except ValidationError:  # the zone left the tz database: the loop disables it at its next run
        return [schedule.next_run_at]


class Scheduler(Wakeful):
    """Runs due schedules (several schedulers may share a database) and manages them for the admin API."""

    def __init__(
        self,
        repository: Repository,
        templates: TemplateLookup,
        *,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        batch: int = 50,
        idle_wait: float = 15.0,
    ) -> None:
        self._repository = repository
        self._templates = templates
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._batch = batch
        # The longest sleep between looks: a schedule created through another instance is seen this late.
        self._idle_wait = idle_wait
        super().__init__()

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        async def one_round() -> float:
            return 0.0 if await self.run_once() >= self._batch else await self._until_next()

        await self.rounds(one_round, "scheduler.failed", on_error=self._idle_wait)

    async def run_once(self) -> int:
        """Run due schedules, one transaction each, up to the batch size; returns how many were handled."""
        handled = 0
        while handled < self._batch and await self._run_next():
            handled += 1
        return handled

    async def _until_next(self) -> float:
        """Seconds until the earliest schedule is due, at most `idle_wait`."""
        async with self._repository.engine.connect() as conn:
            due = await store.next_due_at(conn)
        if due is None:
            return self._idle_wait
        return min(max((due - self._clock()).total_seconds(), 0.0), self._idle_wait)

    async def _run_next(self) -> bool:
        now = self._clock()
        async with self._repository.transaction() as conn:
            due = await store.due_schedules(conn, now, 1)
            if not due:
                return False
            queued = await self._fire(conn, due[0], now)
        if queued:
            self._on_enqueued()
        return True

    async def _fire(self, conn: AsyncConnection, schedule: ScheduleBase, now: datetime) -> int:
        """Run one due schedule inside the caller's transaction; returns how many messages it queued."""
        schedule_id, first = _id(schedule), schedule.next_run_at
        assert first is not None  # only schedules with a due time are due
        try:
            due = cron.due(cron.parse(schedule.cron, schedule.time_zone), first, now)
            template = self._templates(schedule.template, schedule.language)
            bodies = payloads(template, schedule.wa_ids or [], schedule.parameters or {})
        except ValidationError as exc:
            await store.deactivate(conn, schedule_id, now)
            log.warning("schedule.disabled", schedule_id=schedule_id, name=schedule.name, reason=exc.message)
            return 0
        occurrence = due.occurrence
        if due.skipped:
            log.warning(
                "schedule.runs_skipped", schedule_id=schedule_id, count=due.skipped, since=first, running=occurrence
            )
        added = 0
        if await store.record_run(conn, schedule_id, occurrence, len(bodies), now):
            contacts = await store.recipients(conn, schedule.wa_ids or [], now)
            messages = [
                NewMessage(
                    kind="utility",
                    contact_id=contacts[wa_id],
                    recipient=wa_id,
                    payload=body,
                    due_at=now,
                    template_name=template.name,
                    template_category=template.category,
                    idempotency_key=run_key(schedule_id, occurrence, wa_id),
                    subject=f"schedule:{schedule_id}",  # not sent once the schedule is deactivated
                )
                for wa_id, body in zip(schedule.wa_ids or [], bodies, strict=True)
            ]
            added = await enqueue(conn, messages, now)
            log.info("schedule.ran", schedule_id=schedule_id, scheduled_for=occurrence, queued=added)
        else:
            log.info("schedule.run_exists", schedule_id=schedule_id, scheduled_for=occurrence)
        await store.advance(conn, schedule_id, due.following, occurrence, now)
        return added

    # -- managing schedules ------------------------------------------------------------------------

    def _checked(self, request: ScheduleRequest, now: datetime) -> ScheduleBase:
        """The request as a row due at its first run after `now`, once its cron, zone, template and values check."""
        recurrence = cron.parse(request.cron, request.time_zone)
        template = self._templates(request.template, request.language)
        payloads(template, request.wa_ids, request.parameters)
        return ScheduleBase(
            name=request.name,
            cron=recurrence.cron,
            time_zone=recurrence.time_zone,
            template=template.name,
            language=request.language,
            parameters=dict(request.parameters),
            wa_ids=list(request.wa_ids),
            next_run_at=cron.next_run(recurrence, now),
            created_at=now,
            updated_at=now,
        )

    async def create(self, request: ScheduleRequest) -> ScheduleBase:
        """Check and store a schedule, due at its first run after now; a taken name is a `Conflict`."""
        row = self._checked(request, self._clock())
        async with self._repository.transaction() as conn:
            stored = await store.add_schedule(conn, row)
        if stored is None:
            raise Conflict(f"a schedule named {request.name!r} already exists")
        log.info("schedule.created", schedule_id=stored.id, name=stored.name, next_run_at=stored.next_run_at)
        self.wake()
        return stored

    async def update(self, schedule_id: int, request: ScheduleRequest) -> ScheduleBase:
        """Check a schedule's new fields as `create` does and store them; an active one is due at its next run."""
        now = self._clock()
        row = self._checked(request, now)
        async with self._repository.transaction() as conn:
            found = await store.schedule_by_id(conn, schedule_id)
            if found is None:
                raise NotFound(f"no schedule {schedule_id}")
            if not await store.name_is_free(conn, request.name, schedule_id):
                raise Conflict(f"a schedule named {request.name!r} already exists")
            values = row.model_dump(exclude={"id", "active", "last_run_at", "created_at"})
            stored = await store.change(
                conn, schedule_id, {**values, "next_run_at": row.next_run_at if found.active else None}
            )
        log.info("schedule.updated", schedule_id=schedule_id, next_run_at=stored.next_run_at)
        self.wake()
        return stored

    async def activate(self, schedule_id: int) -> ScheduleBase:
        """Run a stopped schedule again, from its next occurrence after now (the missed ones are not sent)."""
        now = self._clock()
        async with self._repository.transaction() as conn:
            found = await store.schedule_by_id(conn, schedule_id)
            if found is None:
                raise NotFound(f"no schedule {schedule_id}")
            if found.active:
                return found
            next_run = cron.next_run(cron.parse(found.cron, found.time_zone), now)
            stored = await store.change(conn, schedule_id, {"active": True, "next_run_at": next_run, "updated_at": now})
        log.info("schedule.activated", schedule_id=schedule_id, next_run_at=stored.next_run_at)
        self.wake()
        return stored

    async def delete(self, schedule_id: int) -> None:
        """Stop a schedule, cancel every message of it still queued, and remove it with its runs."""
        await self.deactivate(schedule_id)
        async with self._repository.transaction() as conn:
            cancelled = await store.remove(conn, schedule_id, self._clock())
        log.info("schedule.deleted", schedule_id=schedule_id, cancelled_queued=cancelled)

    async def schedules(self, limit: int = 100, before: int | None = None) -> list[ScheduleBase]:
        """A page of schedules, newest first (ids below `before`)."""
        async with self._repository.engine.connect() as conn:
            return await store.list_schedules(conn, limit=limit, before=before)

    async def schedule(self, schedule_id: int) -> tuple[ScheduleBase, list[ScheduleRunBase]]:
        """A schedule and its latest runs, newest first."""
        async with self._repository.engine.connect() as conn:
            found = await store.schedule_by_id(conn, schedule_id)
            if found is None:
                raise NotFound(f"no schedule {schedule_id}")
            return found, await store.recent_runs(conn, schedule_id, RECENT_RUNS)

    async def deactivate(self, schedule_id: int) -> ScheduleBase:
        """Stop a schedule, and its latest run's messages that are still queued; stopping it again is harmless."""
        now = self._clock()
        async with self._repository.transaction() as conn:
            stopped = await store.deactivate(conn, schedule_id, now)
            if stopped is None:
                raise NotFound(f"no schedule {schedule_id}")
            cancelled = False
            if stopped.last_run_at is not None:
                keys = [run_key(schedule_id, stopped.last_run_at, wa_id) for wa_id in stopped.wa_ids or []]
                cancelled = await cancel_queued(conn, keys, now)
        log.info("schedule.deactivated", schedule_id=schedule_id, cancelled_queued=cancelled)
        return stopped


def _id(schedule: ScheduleBase) -> int:
    assert schedule.id is not None
    return schedule.id


SCHEDULER = web.AppKey("scheduler", Scheduler)
