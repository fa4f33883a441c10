"""What developers edit, loaded as one consistent set: the flows, their engine and the message templates.

`check_content` applies `bot check`'s rules to the folders; `load_content` turns a clean check into a
`Content`. The app holds the content in use in a `LiveContent`, which everything that needs flows or
templates reads per turn, so hot reload (`bot.inbound.reload`) swaps one object and the next message uses it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine.business_hours import read_business
from bot.engine.core import MAIN_FLOW, Engine
from bot.engine.endpoint import FILE_NAME as ENDPOINTS_FILE
from bot.engine.endpoint import Endpoints, check_endpoints, read_endpoints
from bot.engine.flow import Flow
from bot.engine.flow_check import check_flows
from bot.engine.flow_file import SUFFIX, load_flows
from bot.engine.flow_json import check_forms, flows_folder_of, load_flow_jsons
from bot.errors import ConfigError
from bot.inbound.actions import MAY_BE_EMPTY
from bot.inbound.dispatcher import Acknowledger, TurnHandler, TurnResult
from bot.inbound.endpoint_call import EndpointCaller, EndpointTransport
from bot.inbound.flow_runner import FlowRunner
from bot.inbound.plugin import Plugins, load_plugins
from bot.message_templates.library import TemplateLibrary, read_library
from bot.message_templates.template_file import MessageTemplate
from bot.notifications.service import AppointmentNotices
from bot.otp.service import OtpService
from bot.yaml_file import Problem
from storage.models import ContactBase, MessageBase, SessionBase

BUSINESS_FILE = Path("data") / "business.yaml"  # below the flows folder: the appointments flow's hours


def endpoints_file(flows: Path) -> Path:
    """The project's endpoints file: `endpoints.yaml` beside the flows folder, in the project's folder."""
    return flows.parent / ENDPOINTS_FILE


@dataclass(frozen=True)
class Checked:
    """The folders as `bot check` sees them: what could be read, and the problems by section."""

    flows: Mapping[str, Flow]
    library: TemplateLibrary
    sections: tuple[tuple[str, list[Problem]], ...]  # ("templates", …), ("flows", …), ("business file", …)
    endpoints: Endpoints = field(default_factory=Endpoints)
    plugins: Plugins = field(default_factory=load_plugins)

    @property
    def errors(self) -> list[Problem]:
        return [p for _, problems in self.sections for p in problems if p.severity == "error"]


def check_content(flows: Path, templates: Path, environ: Mapping[str, str] | None = None) -> Checked:
    """Read both folders and apply every rule of `bot check`: templates, flows against them and the plug-ins
    and endpoints, the business file; `environ` (default: the process's) holds the endpoints' secrets."""
    library, template_problems = read_library(templates)
    plugins = load_plugins()
    endpoints, endpoint_problems = read_endpoints(endpoints_file(flows))
    endpoints_read = not any(p.severity == "error" for p in endpoint_problems)
    endpoint_problems += check_endpoints(endpoints, os.environ if environ is None else environ, plugins.actions)
    found, read_problems = load_flows(flows)
    flow_problems = check_flows(
        found,
        read_problems,
        templates=library,
        actions=plugins.actions.keys(),
        validators=plugins.validators.keys(),
        endpoints=endpoints.by_name.keys() if endpoints_read else None,
        may_be_empty=MAY_BE_EMPTY,
    )
    flow_jsons, flow_json_problems = load_flow_jsons(flows_folder_of(flows))
    flow_problems = sorted(
        flow_problems + check_forms(found, flow_jsons, flows_folder_of(flows)),
        key=lambda p: (str(p.path), p.line, p.column),
    )
    main_file = flows / f"{MAIN_FLOW}{SUFFIX}"
    if not main_file.is_file():  # a broken main.yaml reports its own errors; a missing one is this one
        where = "does not exist" if not flows.is_dir() else f"has no {main_file.name}"
        message = f"no {MAIN_FLOW!r} flow: every conversation starts there, and the flows folder {flows} {where}"
        flow_problems.insert(0, Problem(flows, 1, 1, "error", message))
    business = flows / BUSINESS_FILE
    business_problems = read_business(business)[1] if business.exists() else []
    sections = (
        ("templates", template_problems),
        ("flows", flow_problems),
        ("WhatsApp Flow JSON", flow_json_problems),
        ("business file", business_problems),
        ("endpoints", endpoint_problems),
        ("plug-ins", list(plugins.problems)),
    )
    return Checked(found, library, sections, endpoints, plugins)


@dataclass(frozen=True)
class Content:
    """One consistent set of flows, the engine over them, and templates; replaced whole, never changed."""

    flows: Mapping[str, Flow]
    library: TemplateLibrary
    engine: Engine
    endpoints: Endpoints = field(default_factory=Endpoints)
    plugins: Plugins = field(default_factory=load_plugins)

    @classmethod
    def of(
        cls,
        flows: Mapping[str, Flow],
        library: TemplateLibrary,
        zone: ZoneInfo,
        endpoints: Endpoints | None = None,
        plugins: Plugins | None = None,
    ) -> Content:
        plugins = plugins or load_plugins()
        engine = Engine(flows, zone=zone, validators=plugins.validators)
        return cls(flows, library, engine, endpoints or Endpoints(), plugins)


def load_content(flows: Path, templates: Path, zone: ZoneInfo) -> tuple[Content | None, list[Problem]]:
    """The content of both folders when `bot check` finds no error in them (None otherwise), and the errors."""
    checked = check_content(flows, templates)
    errors = checked.errors
    if errors:
        return None, errors
    return Content.of(checked.flows, checked.library, zone, checked.endpoints, checked.plugins), errors


def content_or_refuse(flows: Path, templates: Path, zone: ZoneInfo) -> Content:
    """`load_content` at start-up: any error refuses to start, so nothing half-checked talks to customers."""
    content, errors = load_content(flows, templates, zone)
    if content is None:
        raise ConfigError("flows or templates have errors (run `bot check`):\n" + "\n".join(map(str, errors)))
    return content


class LiveContent:
    """The content in use. Hot reload assigns `current` once; readers take it once per turn or request."""

    def __init__(self, content: Content) -> None:
        self.current = content
        self.templates = LiveTemplates(self)


@dataclass(frozen=True)
class LiveTemplates:
    """The templates of the content in use, for holders that outlive a reload (notifications, codes, the API)."""

    live: LiveContent

    def get(self, name: str, language: str | None = None) -> MessageTemplate:
        return self.live.current.library.get(name, language)

    def __iter__(self) -> Iterator[MessageTemplate]:
        return iter(self.live.current.library)

    def category_of(self, name: str) -> str | None:
        """A template's category by name, as Meta knows it from the approval (the sandbox asks this)."""
        return next((t.category for t in self if t.name == name), None)


@dataclass
class LiveRunner:
    """The dispatcher's handler over live content: each turn runs on the content current when it starts.

    Without a main flow customers get the stand-in acknowledgement, as at start-up.
    """

    live: LiveContent
    otp: OtpService | None = None
    notices: AppointmentNotices | None = None
    endpoints: EndpointTransport | None = None  # how the business's endpoints are reached (the app's session)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)  # where their secrets are
    # The flow a business number's customers start in (numbers.yaml's `main_flow`); None: `main`.
    main_of: Callable[[str | None], str | None] = lambda number: None
    _runners: dict[str, tuple[Content, FlowRunner]] = field(default_factory=dict, init=False, repr=False)

    def _current(self, number: str | None = None) -> FlowRunner:
        """The runner for the current content and the number's main flow; built once per content and main
        flow, as the runner keeps no state of its own. A main flow the content lacks falls back to `main`."""
        content = self.live.current
        main = self.main_of(number) or MAIN_FLOW
        main = main if main in content.flows else MAIN_FLOW
        found = self._runners.get(main)
        if found is None or found[0] is not content:
            caller = None
            if self.endpoints is not None:
                caller = EndpointCaller(content.endpoints, self.endpoints, self.environ)
            runner = FlowRunner(
                content.engine if main == MAIN_FLOW else replace(content.engine, main=main),
                content.library,
                otp=self.otp,
                notices=self.notices,
                actions=content.plugins.actions,
                endpoints=caller,
            )
            found = self._runners[main] = (content, runner)
        return found[1]

    async def handle(
        self,
        *,
        contact: ContactBase,
        message: MessageBase,
        session: SessionBase | None,
        now: datetime,
        conn: AsyncConnection,
    ) -> TurnResult:
        current = self.live.current
        handler: TurnHandler = self._current(message.phone_number_id) if MAIN_FLOW in current.flows else Acknowledger()
        return await handler.handle(contact=contact, message=message, session=session, now=now, conn=conn)

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        return await self._current().time_out(contact=contact, session=session, now=now, conn=conn)


CONTENT = web.AppKey("content", LiveContent)
