"""`create_app(settings)`: the one place that wires the service together.

Why one module of about 430 lines: it is the wiring, every resource's acquisition and release in one
`cleanup_ctx` each, and a reader should find all of them in one place (STYLE.md); the work is elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from bot import keys
from bot.api.app import mount_api
from bot.api.campaigns import CAMPAIGNER, price_lookup, template_lookup
from bot.api.request import client_gone, json_response
from bot.api.stats import RATE_CARD, load_card
from bot.api.token import GUESSES, WrongGuesses
from bot.campaigns.runner import Campaigner
from bot.dashboard.app import setup_dashboard
from bot.edge.intake import INTAKE, Intake, intake
from bot.engine.core import MAIN_FLOW
from bot.engine.flow import Flow
from bot.engine.flow_file import load_flows
from bot.errors import BotError, ConfigError, OTPRefused, http_status
from bot.events.courier import COURIER, Courier, Policy
from bot.events.service import SUBSCRIPTIONS, Subscriptions
from bot.inbound.actions import BUSINESS
from bot.inbound.consent_keywords import ConsentDesk, Keywords
from bot.inbound.content import BUSINESS_FILE, CONTENT, Content, LiveContent, LiveRunner, content_or_refuse
from bot.inbound.dispatcher import DISPATCHER, Dispatcher, TurnHandler
from bot.inbound.endpoint_call import (
    ENDPOINTS,
    AiohttpEndpoints,
    CannedEndpoints,
    EndpointTransport,
    StandInSecrets,
    read_canned,
)
from bot.inbound.ingest import INGESTOR, Ingestor
from bot.inbound.reload import Reloader, setup_reload
from bot.inbound.webhook import MAX_BODY, setup_webhook
from bot.loop import stop_all
from bot.media.fetcher import MEDIA_FETCHER, MediaFetcher
from bot.media.store import MEDIA_STORE, MediaStore
from bot.media.upload import ProjectMedia
from bot.message_templates.library import TEMPLATES, TemplateLibrary
from bot.metrics import Metrics
from bot.notifications.scheduler import SCHEDULER, Scheduler
from bot.notifications.service import NOTIFICATIONS, NotificationService
from bot.numbers.number import NUMBERS, Number, NumberBook, configured_numbers, publish_numbers
from bot.otp.core import CODE_LIFE
from bot.otp.service import OTP, OtpService
from bot.outbound.send_policy import SendPolicy
from bot.outbound.sender import SENDER, Sender
from bot.privacy.retention import RETENTION, Retention
from bot.settings import Settings
from bot.whatsapp.client import CLIENT, AiohttpTransport, CloudAPIClient, Transport, connector
from bot.whatsapp.media import MEDIA_CLIENT, MediaClient
from storage.database import current_revision, head_revision
from storage.inbox import Delivery
from storage.media import MEDIA_KINDS
from storage.repository import DatabaseUnavailable, Repository

log = structlog.get_logger("bot.app")

ROLES = frozenset({"web", "dispatcher", "sender", "scheduler"})
# How long an idle sender waits before looking at the outbox again. In the process that queues (the web
# role's API, the dispatcher's replies) it is woken at once and looks again each second in case another
# process queued. A sender alone (`bot worker --roles sender`) learns of new work only by looking: at one
# second, the first replies of a burst waited up to a second (`bot bench turns --workers 1`: 160 replies
# in its first second against 1,000 in each after). A look at an empty outbox is one indexed query.
IDLE_WITH_QUEUERS, IDLE_ALONE = 1.0, 0.1
SANDBOX_ACCESS_TOKEN = "sandbox-access-token"


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    transport: Transport | None = None,
    handler: TurnHandler | None = None,
    roles: Collection[str] = ROLES,
    migrate: bool | None = None,
    templates: Path | TemplateLibrary | None = None,
    flows: Path | Mapping[str, Flow] | None = None,
    endpoints: EndpointTransport | None = None,
    files: Path | None = None,
) -> web.Application:
    """Build the application; resources are acquired and released in its `cleanup_ctx`.

    `migrate` applies migrations at start-up (default: on SQLite only; PostgreSQL deployments run
    `bot db upgrade` once, before the instances start). `roles` picks what runs in this process:
    `bot serve` runs all three, `bot worker` only the sender. `templates` is the folder the message
    templates are read (and checked) from, or a library already loaded (default: the project's `templates/`,
    `settings.project_dir`); `flows` likewise. Customers' messages go to `handler`, by default the flow
    engine over `flows`. In sandbox mode with `settings.reload`, flows and templates read from folders are
    reloaded when they change.
    The business's endpoints are reached over HTTP unless `endpoints` (canned answers, say) is given.
    `files` is the folder the files `say` steps send are read from (default: the flows folder).
    """
    unknown = set(roles) - ROLES
    if unknown:
        raise ConfigError(f"unknown roles {sorted(unknown)}; choose from {sorted(ROLES)}")
    templates = settings.project_path("templates") if templates is None else templates
    flows = settings.project_path("flows") if flows is None else flows
    # The appointment actions read the business file beside these flows (flows handed in loaded: the project's).
    folder = flows if isinstance(flows, Path) else settings.project_path("flows")
    BUSINESS.follow(folder / BUSINESS_FILE)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[observe(log.bind()), handle_errors, intake])
    app[keys.SETTINGS] = settings
    app[INTAKE] = Intake()  # strangers' bodies: size, time and memory limits (bot.edge.intake)
    app[keys.CLOCK] = clock
    app[keys.METRICS] = Metrics()
    app[MEDIA_STORE] = MediaStore(settings.media_dir)
    live = LiveContent(_content(flows, templates, ZoneInfo(settings.business_timezone)))
    app[CONTENT], app[TEMPLATES] = live, live.templates
    configured = configured_numbers(settings)  # numbers.yaml with errors refuses to start, like flows
    app.cleanup_ctx.append(_database(settings.is_sqlite if migrate is None else migrate, configured))
    app.cleanup_ctx.append(_cloud_api(transport))
    app.cleanup_ctx.append(_endpoints(endpoints))
    app.cleanup_ctx.append(_workers(handler, set(roles), files or folder))
    if "web" in roles:
        app[RATE_CARD] = load_card(settings.rate_card)
        setup_webhook(app)
        mount_api(app)
        setup_dashboard(app)
        if settings.sandbox:
            _sandbox(app, flows, templates)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def _sandbox(app: web.Application, flows: Path | Mapping[str, Flow], templates: Path | TemplateLibrary) -> None:
    """The sandbox that plays Meta, and hot reload of the flows and templates when they come from folders."""
    from bot.sandbox.app import setup_sandbox

    settings, clock, live = app[keys.SETTINGS], app[keys.CLOCK], app[CONTENT]
    setup_sandbox(
        app, settings, clock=clock, templates=live.templates, flows=flows,
        numbers=lambda: _default_first(app[NUMBERS]),
    )  # fmt: skip
    reloader = None
    if settings.reload and isinstance(flows, Path) and isinstance(templates, Path):
        reloader = Reloader(live, flows, templates, live.current.engine.zone, clock=clock)
    setup_reload(app, reloader)


def _default_first(book: NumberBook) -> list[Number]:
    return sorted(book, key=lambda number: number.id != book.default.id)


def _database(migrate: bool, configured: tuple[list[Number], str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        repository = Repository.connect(app[keys.SETTINGS].database_url)
        numbers, source = configured
        try:
            if migrate:
                await repository.migrate(numbers[0].id)
            elif await current_revision(repository.engine) != head_revision():
                raise ConfigError("the database schema is not up to date: run `bot db upgrade` first")
            app[keys.REPOSITORY] = repository
            app[NUMBERS] = await publish_numbers(repository, numbers, source, app[keys.CLOCK]())
            app[GUESSES] = WrongGuesses(repository, app[keys.CLOCK])
            ingestor = Ingestor(repository)
            app[INGESTOR] = ingestor
            await ingestor.start()
            try:
                yield
            finally:
                await ingestor.stop()
        finally:
            await repository.close()

    return context


def _cloud_api(transport: Transport | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        if settings.api_url is None:
            raise ConfigError("no Graph API URL: set WHATSAPP_API_URL (bot serve sets it to its sandbox)")
        async with aiohttp.ClientSession(connector=connector(settings.throughput)) as session:
            book = app[NUMBERS]
            app[CLIENT] = CloudAPIClient(
                transport=transport or AiohttpTransport(session),
                base_url=settings.api_url,
                version=settings.api_version,
                phone_number_id=book.default.id,
                access_token=_token(settings, book.default) or "",
                tokens=lambda number: _token(settings, book.get(number)),
            )
            app[MEDIA_CLIENT] = MediaClient(
                session,
                base_url=settings.api_url,
                version=settings.api_version,
                phone_number_id=settings.phone_number_id,
                access_token=settings.access_token or SANDBOX_ACCESS_TOKEN,
            )
            yield

    return context


def _token(settings: Settings, number: Number) -> str | None:
    """A number's access token: in sandbox mode the sandbox's, else from its variable (or WHATSAPP_ACCESS_TOKEN)."""
    return SANDBOX_ACCESS_TOKEN if settings.sandbox else number.token(settings, os.environ)


def _endpoints(given: EndpointTransport | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """The client session the business's endpoints are called through, kept apart from Meta's."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        canned, transport = app[keys.SETTINGS].endpoints_canned, given
        if transport is None and canned is not None:
            answers, problems = read_canned(canned)
            errors = [p.located for p in problems if p.severity == "error"]
            if errors:
                raise ConfigError("BOT_ENDPOINTS_CANNED has errors:\n" + "\n".join(errors))
            transport = CannedEndpoints(answers)
        if transport is not None:
            app[ENDPOINTS] = transport
            yield
            return
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            app[ENDPOINTS] = AiohttpEndpoints(session)
            yield

    return context


def _content(flows: Path | Mapping[str, Flow], templates: Path | TemplateLibrary, zone: ZoneInfo) -> Content:
    """The flows and templates to start with: two folders pass `bot check` or the service refuses to start.

    Content handed in already loaded (transcripts, tests) is used as it is; a lone folder is read alone.
    """
    if isinstance(flows, Path) and isinstance(templates, Path):
        return content_or_refuse(flows, templates, zone)
    library = templates if isinstance(templates, TemplateLibrary) else TemplateLibrary.load(templates)
    return Content.of(flows if not isinstance(flows, Path) else _load_flows(flows), library, zone)


def _load_flows(folder: Path) -> Mapping[str, Flow]:
    """The flows in `folder`, checked; any error refuses them all, so nothing half-checked talks to customers."""
    flows, problems = load_flows(folder)
    errors = [str(p) for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError("flows have errors (run `bot check`):\n" + "\n".join(errors))
    return flows


def _handler(app: web.Application) -> TurnHandler:
    """The flow engine over the app's live content (the stand-in acknowledger while there is no main flow)."""
    live = app[CONTENT]
    if MAIN_FLOW not in live.current.flows:
        log.warning("flows.none", hint=f"no {MAIN_FLOW} flow: customers get an acknowledgement only")
    notices, endpoints = app[NOTIFICATIONS].appointment_notices, app[ENDPOINTS]
    offline = isinstance(endpoints, CannedEndpoints)  # canned answers need no real secrets
    environ: Mapping[str, str] = StandInSecrets() if offline else os.environ
    book = app[NUMBERS]
    return LiveRunner(
        live, otp=app[OTP], notices=notices, endpoints=endpoints, environ=environ,
        main_of=lambda number: book.get(number).main_flow,
    )  # fmt: skip


def _workers(
    handler: TurnHandler | None, roles: set[str], files: Path
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        repository, clock, metrics = app[keys.REPOSITORY], app[keys.CLOCK], app[keys.METRICS]
        settings = app[keys.SETTINGS]
        send_policy = SendPolicy.of(settings)
        sender = Sender(
            repository,
            app[CLIENT],
            clock=clock,
            metrics=metrics,
            code_life=CODE_LIFE,
            throughput=settings.throughput,
            send_policy=send_policy,
            lease=timedelta(seconds=settings.send_lease),
            numbers=app[NUMBERS],
            uploads=ProjectMedia(repository, app[CLIENT], files, phone_number_id=settings.phone_number_id, clock=clock),
            idle_wait=IDLE_WITH_QUEUERS if {"web", "dispatcher"} <= roles else IDLE_ALONE,
        )
        app[OTP] = OtpService(repository, app[TEMPLATES], app[keys.SETTINGS].secret_key, clock, on_enqueued=sender.wake)
        app[NOTIFICATIONS] = NotificationService(
            repository,
            app[TEMPLATES],
            ZoneInfo(app[keys.SETTINGS].business_timezone),
            clock,
            reminder_lead=timedelta(hours=app[keys.SETTINGS].reminder_lead_hours),
            on_enqueued=sender.wake,
        )
        keywords = Keywords.configured(settings.opt_out_keywords, settings.opt_in_keywords)
        turns = ConsentDesk(handler or _handler(app), app[TEMPLATES], repository.consent_guard, keywords)
        dispatcher = Dispatcher(repository, turns, clock=clock, metrics=metrics, on_enqueued=sender.wake)
        app[SENDER], app[DISPATCHER] = sender, dispatcher
        scheduler = Scheduler(repository, app[NOTIFICATIONS].utility_template, clock=clock, on_enqueued=sender.wake)
        app[SCHEDULER] = scheduler
        campaigner = Campaigner(
            repository, template_lookup(app), clock=clock, on_enqueued=sender.wake, price_of=price_lookup(app),
            send_policy=send_policy,
        )  # fmt: skip
        app[CAMPAIGNER] = campaigner
        retention = Retention(
            repository,
            webhooks_days=settings.retain_webhooks_days,
            texts_days=settings.retain_texts_days,
            media_days=settings.retain_media_days,
            media=app[MEDIA_STORE],
            clock=clock,
        )
        app[RETENTION] = retention
        fetcher = MediaFetcher(repository, app[MEDIA_CLIENT], app[MEDIA_STORE], clock=clock, metrics=metrics)
        app[MEDIA_FETCHER] = fetcher

        def stored(batch: Sequence[Delivery]) -> None:
            dispatcher.wake()
            # Only a batch with a file to fetch: waking it for every batch was a claim transaction per batch.
            if any(m.type in MEDIA_KINDS for d in batch for m in d.parsed.messages):
                fetcher.wake()

        app[INGESTOR].on_stored = stored
        courier = Courier(repository, policy=_event_policy(settings))  # the wall clock: see storage.events
        app[COURIER] = courier
        app[SUBSCRIPTIONS] = Subscriptions(repository, clock, on_replayed=courier.wake)
        tasks = []
        if "dispatcher" in roles:
            tasks.append(asyncio.create_task(dispatcher.run(), name="dispatcher"))
        if "sender" in roles:
            tasks.append(asyncio.create_task(sender.run(), name="sender"))
            tasks.append(asyncio.create_task(fetcher.run(), name="media-fetcher"))
            tasks.append(asyncio.create_task(courier.run(), name="courier"))
        if "scheduler" in roles:
            tasks.append(asyncio.create_task(scheduler.run(), name="scheduler"))
            tasks.append(asyncio.create_task(campaigner.run(), name="campaigner"))
            if retention.enabled:
                tasks.append(asyncio.create_task(retention.run(), name="retention"))
        yield
        # Stopped between rounds, not cancelled mid-statement: sends in flight are settled first.
        await stop_all([dispatcher, sender, scheduler, campaigner, retention, fetcher, courier], tasks)

    return context


def _event_policy(settings: Settings) -> Policy:
    return Policy(
        timeout=settings.events_timeout,
        concurrency=settings.events_concurrency,
        per_subscription=max(1, settings.events_concurrency // 4),
        first_retry=settings.events_retry,
        give_up=timedelta(hours=settings.events_give_up_hours),
    )


class _RequestIds:
    """Request ids unique across processes (a random prefix per process) without a syscall per request."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"


_request_ids = _RequestIds()


def observe(log: structlog.typing.FilteringBoundLogger) -> Middleware:
    """One canonical log line per request, with a request id bound for everything logged meanwhile.

    `log` is bound once, when the app is built: through the lazy proxy every request would build a new
    logger just to find that `info` is off (`bot bench webhook` showed it per request on the hot path).
    """

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-Id") or _request_ids.next()
        request[keys.REQUEST_ID] = request_id
        started = time.perf_counter()
        status: int | None = 500
        # bind/reset rather than `bound_contextvars`: the same, without a generator-based context manager.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            if not client_gone(request, exc):
                raise
            status = None  # nobody is left to answer: not an error of ours, and no traceback
            log.info("client.disconnected", method=request.method, path=request.path, error=type(exc).__name__)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return web.Response(status=499)  # aiohttp cannot send it and says nothing; 499 as nginx logs it
        finally:
            if status is not None:
                log.info(
                    "http.request",
                    method=request.method,
                    path=request.path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.reset_contextvars(**tokens)

    return middleware


@web.middleware
async def handle_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Domain errors become `{"error": {"code", "message"}}` with a fitting status; nothing else leaks."""
    try:
        return await handler(request)
    except DatabaseUnavailable:
        return json_response({"error": {"code": "storage_unavailable", "message": "database unavailable"}}, 503)
    except BotError as exc:
        response = json_response({"error": {"code": exc.code, "message": exc.message}}, http_status(exc))
        if isinstance(exc, OTPRefused):
            wait = (exc.retry_at - request.app[keys.CLOCK]()).total_seconds()
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: the database answers."""
    try:
        await request.app[keys.REPOSITORY].ping()
    except Exception as exc:  # health must answer, whatever the failure
        log.warning("health.database_down", error=type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "sandbox": request.app[keys.SETTINGS].sandbox})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
