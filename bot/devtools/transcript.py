"""Conversation transcripts played against the real app offline: `bot test` and the transcript tests.

A transcript (read by `bot.devtools.transcript_file`) runs on a fresh temporary SQLite database (migrated), the
real flows and templates, the real webhook, dispatcher, flow runner, one-time code service and sender
(into a recording transport instead of Meta), under a virtual clock that `wait:` moves forward so
timeouts, the 24-hour window and reminders happen without waiting. Actions run for real unless the
transcript stubs them. A failing transcript answers a diff (`bot.devtools.transcript_report`): every line up to
the first mismatch, with what was expected and what came, each at its line in the file.

Why one module of about 440 lines: it is the one runner of a transcript, stepping the real app through a
file's lines; reading (`transcript_file`), matching and reporting already live beside it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jinja2 import Environment, StrictUndefined, TemplateError

from bot import keys
from bot.app import create_app
from bot.devtools.rehearsal import VirtualClock, customer_message, customer_webhook, run_until_idle
from bot.devtools.transcript_file import (
    ACTING,
    GIVEN,
    RECORDS,
    SENDS,
    Step,
    Transcript,
    TranscriptError,
    jsonable,
    load_transcript,
    one_line,
    transcript_files,
)
from bot.devtools.transcript_match import Message, agrees, matches, projected
from bot.devtools.transcript_report import Diff, Mismatch, Result, display
from bot.engine.core import Engine
from bot.engine.endpoint import read_endpoints
from bot.engine.flow import Flow
from bot.engine.flow_file import load_flows, parse_duration
from bot.engine.state import State
from bot.errors import BotError
from bot.inbound.actions import BUSINESS
from bot.inbound.content import BUSINESS_FILE, endpoints_file
from bot.inbound.dispatcher import DISPATCHER
from bot.inbound.endpoint_call import CannedEndpoints, EndpointCaller, StandInSecrets
from bot.inbound.flow_runner import FlowRunner
from bot.inbound.plugin import load_plugins
from bot.message_templates.library import TemplateLibrary
from bot.metrics import Metrics
from bot.notifications.service import NOTIFICATIONS
from bot.otp.service import OTP
from bot.outbound.sender import SENDER
from bot.settings import SANDBOX_PHONE_NUMBER_ID, Settings
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.signature import sign
from storage import session as sessions
from storage.repository import Repository

# Reading transcripts is part of playing them: `bot test` and the tests find and read them through here.
__all__ = ["Workshop", "load_transcript", "run_transcript", "run_transcripts", "transcript_files"]

MAX_ROUNDS = 100  # sender rounds per settle, and stops per wait: a runaway loop ends the transcript

# The transcript's own app: a made-up Meta account that only the recording transport ever hears from.
ADMIN_TOKEN = "transcript-admin-token"
APP_SECRET = "transcript-app-secret"
_LINES = Environment(undefined=StrictUndefined, autoescape=False)


class Workshop:
    """What the transcripts of one run share: flows and templates read once per folder, one migrated database.

    Each transcript still gets a database of its own, copied from the migrated one, so no state passes
    from one transcript to the next; only the slow parts (migrations, reading content) happen once.
    """

    def __init__(self, project: Path = Path()) -> None:
        self.project = project  # the bot project whose flows and templates the transcripts name
        self._folder = tempfile.TemporaryDirectory(prefix="bot-transcripts-")
        self._migrated: Path | None = None
        self._content: dict[tuple[Path, Path], tuple[dict[str, Flow], TemplateLibrary]] = {}

    def close(self) -> None:
        self._folder.cleanup()

    async def database(self, into: Path) -> str:
        """A fresh, migrated SQLite database in `into`, as a URL."""
        if self._migrated is None:
            migrated = Path(self._folder.name) / "migrated.db"
            repository = Repository.connect(f"sqlite+aiosqlite:///{migrated}")
            try:
                await repository.migrate()
            finally:
                await repository.close()
            self._migrated = migrated
        target = into / "bot.db"
        for suffix in ("", "-wal"):  # a write-ahead log left behind holds part of the schema
            if self._migrated.with_name(self._migrated.name + suffix).exists():
                shutil.copyfile(self._migrated.with_name(self._migrated.name + suffix), f"{target}{suffix}")
        return f"sqlite+aiosqlite:///{target}"

    def content(self, transcript: Transcript) -> tuple[dict[str, Flow], TemplateLibrary]:
        """The flows and templates the transcript names, read as `bot serve` reads them: any error stops it."""
        key = (transcript.flows.resolve(), transcript.templates.resolve())
        if key not in self._content:
            self._content[key] = _content(transcript)
        return self._content[key]


async def run_transcript(path: Path, workshop: Workshop | None = None) -> Result:
    """Play one transcript file against the real app on a fresh temporary database."""
    own = workshop is None
    workshop = workshop or Workshop()
    try:
        transcript = load_transcript(path, workshop.project)
    except TranscriptError as exc:
        if own:
            workshop.close()
        return Result(path, path.stem, ok=False, report=str(exc))
    try:
        return await _play(transcript, workshop)
    except TranscriptError as exc:
        return Result(path, transcript.title, ok=False, report=str(exc), xfail=transcript.xfail)
    finally:
        if own:
            workshop.close()


async def _play(transcript: Transcript, workshop: Workshop) -> Result:
    flows, library = workshop.content(transcript)
    runner = None
    if transcript.stubs or transcript.endpoints:
        plugins = load_plugins()
        engine = Engine(flows, zone=ZoneInfo(transcript.business_zone), validators=plugins.validators)
        actions = {**plugins.actions, **transcript.stubs}
        runner = FlowRunner(engine, library, actions=actions, endpoints=_canned_endpoints(transcript))
    clock, transport = VirtualClock(transcript.now), RecordingTransport()
    with tempfile.TemporaryDirectory(prefix="bot-transcript-") as folder:
        settings = Settings(
            database_url=await workshop.database(Path(folder)),
            phone_number_id=SANDBOX_PHONE_NUMBER_ID,
            api_url="http://127.0.0.1:9/offline",
            api_version="v25.0",
            business_timezone=transcript.business_zone,
            throughput=1000,
            admin_token=ADMIN_TOKEN,
            secret_key="transcript-secret-key",
            access_token="transcript-access-token",
            app_secret=APP_SECRET,
            verify_token="transcript-verify-token",
        )
        app = create_app(
            settings,
            clock=clock,
            transport=transport,
            handler=runner,
            roles={"web"},
            migrate=False,
            flows=flows,
            templates=library,
            files=transcript.flows,
        )
        BUSINESS.follow(transcript.flows / BUSINESS_FILE)  # the appointment actions: the transcript's business
        async with TestClient(TestServer(app)) as client:
            if runner is not None:
                runner.otp = app[OTP]  # the app's services exist once the app has started
                runner.notices = app[NOTIFICATIONS].appointment_notices
            chat = _Chat(transcript, app, client, clock, transport)
            ok = await chat.play()
    return Result(transcript.path, transcript.title, ok, "" if ok else chat.diff.text(), transcript.xfail)


def _canned_endpoints(transcript: Transcript) -> EndpointCaller | None:
    """The project's endpoints answered from the transcript's `endpoints:`, offline, every secret a stand-in."""
    if not transcript.endpoints:
        return None
    endpoints, problems = read_endpoints(endpoints_file(transcript.flows))
    errors = [p.located for p in problems if p.severity == "error"]
    if errors:
        raise TranscriptError(
            f"{transcript.path}:1:1: the endpoints file has errors (run `bot check`):\n" + "\n".join(errors)
        )
    unknown = sorted(set(transcript.endpoints) - set(endpoints.by_name))
    if unknown:
        known = ", ".join(sorted(endpoints.by_name)) or "none"
        raise TranscriptError(f"{transcript.path}:1:1: no endpoint {unknown[0]!r} to answer; endpoints: {known}")
    return EndpointCaller(endpoints, CannedEndpoints(transcript.endpoints), StandInSecrets())


def _content(transcript: Transcript) -> tuple[dict[str, Flow], TemplateLibrary]:
    flows, problems = load_flows(transcript.flows)
    errors = [str(p) for p in problems if p.severity == "error"]
    if errors or not flows:
        found = "\n".join(errors) or f"no flows in {transcript.flows}"
        raise TranscriptError(f"{transcript.path}:1:1: the flows cannot be loaded (run `bot check`):\n{found}")
    try:
        library = TemplateLibrary.load(transcript.templates)
    except BotError as exc:
        raise TranscriptError(f"{transcript.path}:1:1: the templates cannot be loaded: {exc.message}") from None
    return flows, library


class _Chat:
    """One transcript being played: the customer's side driven through the webhook, the bot's side read back."""

    def __init__(
        self,
        transcript: Transcript,
        app: web.Application,
        client: TestClient[web.Request, web.Application],
        clock: VirtualClock,
        transport: RecordingTransport,
    ) -> None:
        self.t, self.app, self.client, self.clock, self.transport = transcript, app, client, clock, transport
        self.auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.diff = Diff(transcript.path)
        self.pending: list[Message] = []  # the bot's messages no `bot:` line has matched yet
        self.shown: list[Message] = []  # every message the customer received, for taps and codes
        self.seen_requests = 0
        self.uploaded: dict[str, str] = {}  # media id → the project file uploaded under it
        self.unsent: Counter[str] = Counter()
        self.wamids = count(1)

    # -- the chat --

    async def play(self) -> bool:
        try:
            await self.give()
            for step in self.t.steps:
                if step.kind in ACTING:
                    self.no_more(step.line)
                    await self.act(step)
                else:
                    await self.check(step)
            self.no_more(self.t.steps[-1].line + 1)
        except Mismatch:
            return False
        return True

    async def give(self) -> None:
        """Create the `given:` records through the admin API; what they send goes out before the chat starts.

        A contact with a language or a time zone is stored first, as a business's import would store it.
        """
        if self.t.language or self.t.time_zone:
            fields = {"language": self.t.language, "time_zone": self.t.time_zone, "name": self.t.name}
            body = {"wa_id": self.t.wa_id, **{k: v for k, v in fields.items() if v}}
            response = await self.client.post("/api/contacts", json=body, headers=self.auth)
            if response.status >= 300:
                error = (await response.json()).get("error", {})
                raise TranscriptError(f"{display(self.t.path)}:1:1: contact: {error.get('message', response.reason)}")
        for kind, items in self.t.given.items():
            method, route = GIVEN[kind]
            for line, item in items:
                body = {"wa_id": self.t.wa_id, **({"name": self.t.name} if self.t.name else {}), **jsonable(item)}
                url = route.format(wa_id=body["wa_id"])
                if "{wa_id}" in route:  # the number is the path's; the body has no field for it
                    body.pop("wa_id")
                response = await self.client.request(method, url, json=body, headers=self.auth)
                if response.status >= 300:
                    error = (await response.json()).get("error", {})
                    message = error.get("message", response.reason)
                    raise TranscriptError(f"{display(self.t.path)}:{line}:1: given {kind}: {message}")
        await self.settle()
        self.pending.clear()
        self.shown.clear()

    def no_more(self, line: int) -> None:
        """Every message so far must have been matched before the chat goes on."""
        if self.pending:
            raise self.diff.differ(line, None, [f"{m.shown()}  # unexpected" for m in self.pending])

    async def act(self, step: Step) -> None:
        if step.kind == "customer":
            self.diff.same(step.line, step.shown())
            await self.inbound("text", {"body": self.words(step)})
        elif step.kind == "customer taps":
            await self.tap(step)
        elif step.kind == "customer submits":
            await self.submit(step)
        elif step.kind == "customer sends":
            self.diff.same(step.line, step.shown())
            await self.inbound(str(step.value), SENDS[str(step.value)])
        elif step.kind == "agent":
            await self.agent(step)
        elif step.kind == "wait":
            self.diff.same(step.line, step.shown())
            await self.wait(_duration(step))
        else:
            response = await self.api("POST", f"/api/conversations/{self.t.wa_id}/release")
            if not response.get("released"):
                raise self.diff.differ(step.line, step.shown(), ["release: false  # nothing was handed off"])
            self.diff.same(step.line, step.shown())
            await self.settle()

    def words(self, step: Step) -> str:
        """The customer's text, with `{{ last_code }}` (the latest one-time code) filled in."""
        text = str(step.value)
        if "{{" not in text:
            return text
        codes = [m.code for m in self.shown if m.code]
        names: dict[str, Any] = {"contact": {"wa_id": self.t.wa_id, "name": self.t.name}}
        if codes:
            names["last_code"] = codes[-1]
        try:
            return _LINES.from_string(text).render(names)
        except TemplateError as exc:
            hint = " (no one-time code was sent yet)" if "last_code" in str(exc) else ""
            raise TranscriptError(f"{display(self.t.path)}:{step.line}:1: {exc}{hint}") from None

    async def tap(self, step: Step) -> None:
        """The customer taps a button or list row, found by id or title in the latest message that offers it."""
        wanted = str(step.value)
        for message in reversed(self.shown):
            chosen = message.offers(wanted)
            if chosen is not None:
                self.diff.same(step.line, step.shown())
                kind = "button_reply" if message.kind == "buttons" else "list_reply"
                await self.inbound("interactive", {"type": kind, kind: {"id": chosen[0], "title": chosen[1]}})
                return
        menus = [m for m in self.shown if m.options]
        offered = ", ".join(i for i, _ in menus[-1].options) if menus else "nothing"
        raise self.diff.differ(
            step.line, step.shown(), [f"{step.shown()}  # not offered; the last menu had: {offered}"]
        )

    async def submit(self, step: Step) -> None:
        """The customer submits the latest WhatsApp Flow with these answers; Meta sends them as an nfm_reply."""
        forms = [m for m in self.shown if m.kind == "form"]
        answers = dict(step.value)
        if not forms and "flow_token" not in answers:
            raise self.diff.differ(step.line, step.shown(), [f"{step.shown()}  # no form was sent"])
        answers.setdefault("flow_token", forms[-1].code if forms else None)
        self.diff.same(step.line, step.shown())
        reply = {"name": "flow", "body": "Sent", "response_json": json.dumps(jsonable(answers))}
        await self.inbound("interactive", {"type": "nfm_reply", "nfm_reply": reply})

    async def agent(self, step: Step) -> None:
        """A person replies through the handoff API (or is refused); their message is theirs, not the bot's."""
        text = str(step.value["text"] if isinstance(step.value, dict) else step.value)
        refusal = step.value.get("refused") if isinstance(step.value, dict) else None
        response = await self.client.post(
            f"/api/conversations/{self.t.wa_id}/reply", json={"text": text}, headers=self.auth
        )
        refused = (await response.json()).get("error", {}).get("code") if response.status >= 300 else None
        if refused != refusal:
            shown = f"agent: {one_line({'text': text, 'refused': refused})}" if refused else f"agent: {one_line(text)}"
            raise self.diff.differ(step.line, step.shown(), [shown])
        self.diff.same(step.line, step.shown())
        await self.settle()
        mine = next((m for m in self.pending if m.kind == "text" and m.text == text.strip()), None)
        if mine is not None:
            self.pending.remove(mine)

    async def inbound(self, kind: str, content: Mapping[str, Any]) -> None:
        """A signed Meta webhook carrying one customer message, then the turn it causes."""
        wamid = f"wamid.transcript.{next(self.wamids)}"
        message = customer_message(kind, content)
        payload = customer_webhook(message, wa_id=self.t.wa_id, name=self.t.name, wamid=wamid, now=self.clock())
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"}
        response = await self.client.post("/webhook", data=body, headers=headers)
        if response.status != 200:
            raise TranscriptError(f"{display(self.t.path)}:1:1: the webhook answered {response.status}")
        await self.settle()

    async def wait(self, delta: timedelta) -> None:
        """Move the clock, stopping at each session deadline and queued message on the way, as time would."""
        target = self.clock() + delta
        for _ in range(MAX_ROUNDS):
            state = await self.state()
            due = [state.deadline, state.expires_at if state.flow else None, await self.next_queued()]
            self.clock.now = min([t for t in due if t is not None and self.clock() < t < target], default=target)
            await self.settle()
            if self.clock() >= target:
                return

    async def next_queued(self) -> datetime | None:
        """When the next queued message falls due (a reminder, a retry), so `wait` stops there to send it."""
        return await self.app[keys.REPOSITORY].next_due_at(self.clock())

    async def settle(self) -> None:
        """Run the dispatcher once and the sender until it has nothing due; collect what the customer got."""
        await self.app[DISPATCHER].run_once()
        await run_until_idle(self.app[SENDER].run_once, MAX_ROUNDS)
        new = self.transport.requests[self.seen_requests :]
        self.seen_requests = len(self.transport.requests)
        # An upload answers a media id; the message that uses it is shown by the file's name.
        self.uploaded |= {str(r.json.get("id")): str(r.json.get("file")) for r in new if r.url.endswith("/media")}
        got = [
            Message.from_body(r.json, self.uploaded)
            for r in new
            if r.json.get("to") == self.t.wa_id and "type" in r.json
        ]
        unsent = _unsent(self.app[keys.METRICS])
        got += [Message("not_sent", reason) for reason in (unsent - self.unsent).elements()]
        self.unsent = unsent
        self.pending += got
        self.shown += got

    # -- expectations --

    async def check(self, step: Step) -> None:
        if step.kind == "bot":
            self.expect_bot(step)
            return
        if step.kind == "expect slots":
            actual: Any = dict((await self.state()).slots)
        elif step.kind == "expect session":
            state = await self.state()
            actual = {
                "flow": state.flow,
                "step": state.step,
                "handed_off": state.handed_off,
                "attempts": state.attempts,
            }
        else:
            actual = {name: await self.record(name) for name in step.value}
        if not agrees(step.value, actual):
            raise self.diff.differ(step.line, step.shown(), [f"{step.kind}: {one_line(projected(step.value, actual))}"])
        self.diff.same(step.line, step.shown())

    def expect_bot(self, step: Step) -> None:
        value = step.value
        if value == "...":
            self.diff.same(step.line, step.shown())
            self.pending.clear()
        elif value == "nothing":
            if self.pending:
                raise self.diff.differ(step.line, step.shown(), [m.shown() for m in self.pending])
            self.diff.same(step.line, step.shown())
        elif not self.pending:
            raise self.diff.differ(step.line, step.shown(), [])
        elif matches(value, self.pending[0]):
            self.diff.same(step.line, step.shown())
            self.pending.pop(0)
        else:
            raise self.diff.differ(
                step.line, step.shown(), [self.pending[0].shown(value if isinstance(value, dict) else None)]
            )

    async def state(self) -> State:
        contact = await self.app[keys.REPOSITORY].contact_by_wa_id(self.t.wa_id)
        if contact is None or contact.id is None:
            return State()
        async with self.app[keys.REPOSITORY].engine.connect() as conn:
            found = await sessions.load_sessions(conn, [contact.id])
        row = found.get(contact.id)
        return State.from_row(row.model_dump() if row else None)

    async def record(self, name: str) -> Any:
        body = await self.api("GET", RECORDS[name].format(wa_id=self.t.wa_id))
        return body.get("items", body) if isinstance(body, dict) else body

    async def api(self, method: str, url: str) -> Any:
        response = await self.client.request(method, url, headers=self.auth)
        return await response.json()


def _unsent(metrics: Metrics) -> Counter[str]:
    """Messages the sender settled unsent so far, by reason (outside_service_window, undeliverable, …)."""
    counts: Counter[str] = Counter()
    for family in (metrics.failed, metrics.dropped):
        for metric in family.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    counts[sample.labels["reason"]] += int(sample.value)
    return counts


def _duration(step: Step) -> timedelta:
    duration = parse_duration(str(step.value))
    assert duration is not None  # the reader checked it
    return duration


async def run_transcripts(paths: Sequence[Path], project: Path = Path()) -> list[Result]:
    """Play each transcript in turn; one that crashes is reported as failed and the others still run.

    `project` is the bot project whose folders the transcripts' `flows` and `templates` name.
    """
    results = []
    workshop = Workshop(project)
    try:
        for path in paths:
            try:
                results.append(await run_transcript(path, workshop))
            except Exception as exc:  # the command's top-level loop: report it and go on
                results.append(Result(path, path.stem, ok=False, report=f"crashed: {type(exc).__name__}: {exc}"))
    finally:
        workshop.close()
    return results
