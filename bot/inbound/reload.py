"""Hot reload in sandbox mode: a saved flow or template takes effect on the next message.

The reloader stats the watched files about twice a second (no dependency, no file-system events: a stat
of a few dozen files is cheap). On a change it loads and checks everything as start-up does and, when
`bot check` would pass, swaps the app's `LiveContent` in one assignment. A save with errors keeps the last
good content running; its errors go to the log (`reload.failed`), the console and `GET /sandbox/status`,
which the sandbox page shows as a banner until a good save clears it.
"""

from __future__ import annotations

import asyncio
import stat
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from bot.engine.flow_json import flows_folder_of
from bot.inbound.actions import BUSINESS
from bot.inbound.content import BUSINESS_FILE, Content, LiveContent, endpoints_file, load_content
from bot.loop import Wakeful, stop_all
from bot.yaml_file import Problem

log = structlog.get_logger("bot.inbound.reload")

INTERVAL = 0.5  # seconds between looks at the files
Snapshot = dict[Path, tuple[int, int]]  # file → (modification time in ns, size)


@dataclass(frozen=True)
class ReloadStatus:
    """Whether the files on disk are the content in use, the errors that stop them, and when it was loaded."""

    ok: bool
    errors: tuple[str, ...]
    loaded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": list(self.errors), "loaded_at": self.loaded_at.isoformat()}


def snapshot(flows: Path, templates: Path) -> Snapshot:
    """Size and modification time of every watched file: `flows/**/*.yaml`, `flows/data/*`, `templates/**`,
    the project's `endpoints.yaml` and its WhatsApp Flow JSON (`whatsapp_flows/*.json`).

    Editors' hidden and backup files (``.name.swp``, ``name~``) are left out, so a save is one change.
    """
    paths = [*flows.glob("**/*.yaml"), *(flows / "data").glob("*"), *templates.glob("**/*"), endpoints_file(flows)]
    paths += flows_folder_of(flows).glob("*.json")
    found: Snapshot = {}
    for path in paths:
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        try:
            info = path.stat()
        except OSError:  # deleted between the listing and the stat: the next look sees it gone
            continue
        if stat.S_ISREG(info.st_mode):
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    """The files added, removed or written between two snapshots, sorted."""
    return sorted(str(p) for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def differences(old: Content, new: Content) -> dict[str, list[str]]:
    """Which flows and templates a reload changed, added or removed, for the `reload.applied` line."""
    templates_before = {(t.name, t.language): t for t in old.library}
    templates_after = {(t.name, t.language): t for t in new.library}
    return {
        "flows_changed": sorted(
            name for name, flow in new.flows.items() if name not in old.flows or old.flows[name].version != flow.version
        ),
        "flows_removed": sorted(old.flows.keys() - new.flows.keys()),
        "templates_changed": sorted(
            f"{name}.{language}"
            for (name, language), t in templates_after.items()
            if templates_before.get((name, language)) != t
        ),
        "templates_removed": sorted(f"{n}.{lang}" for n, lang in templates_before.keys() - templates_after.keys()),
    }


class Reloader(Wakeful):
    """Watches the flows and templates folders and swaps the live content when they change and check clean."""

    def __init__(
        self,
        live: LiveContent,
        flows: Path,
        templates: Path,
        zone: ZoneInfo,
        *,
        clock: Callable[[], datetime],
        interval: float = INTERVAL,
        console: TextIO | None = None,
    ) -> None:
        super().__init__()
        self.live, self.flows, self.templates, self.zone = live, flows, templates, zone
        self.clock, self.interval, self.console = clock, interval, console
        self.status = ReloadStatus(ok=True, errors=(), loaded_at=clock())
        self._seen = snapshot(flows, templates)

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """The `cleanup_ctx` generator: watch while the app runs, stop between looks on shutdown."""
        task = asyncio.create_task(self.run(), name="reloader")
        yield
        await stop_all([self], [task])

    async def run(self) -> None:
        while self.running:
            await self.idle(self.interval)
            if not self.running:
                break
            try:
                await self.poll()
            except Exception as exc:  # a reload must never take the service down; the next look tries again
                log.error("reload.crashed", error=f"{type(exc).__name__}: {exc}")

    async def poll(self) -> bool:
        """Look at the files once; on a change, reload. True when something changed."""
        seen = snapshot(self.flows, self.templates)
        if seen == self._seen:
            return False
        changed, self._seen = changed_files(self._seen, seen), seen
        # Reading and checking parse every file: off the event loop, so turns go on meanwhile.
        content, errors = await asyncio.to_thread(load_content, self.flows, self.templates, self.zone)
        if content is None:
            self._refuse(changed, errors)
        else:
            self._apply(changed, content)
        return True

    def _apply(self, changed: list[str], content: Content) -> None:
        old, self.live.current = self.live.current, content  # the swap: the next turn reads the new content
        if str(self.flows / BUSINESS_FILE) in changed:
            BUSINESS.use(self.flows / BUSINESS_FILE)  # actions read the business file lazily: forget the old one
        self.status = ReloadStatus(ok=True, errors=(), loaded_at=self.clock())
        log.info("reload.applied", files=changed, **differences(old, content))

    def _refuse(self, changed: list[str], errors: list[Problem]) -> None:
        lines = tuple(str(p) for p in errors)
        self.status = ReloadStatus(ok=False, errors=lines, loaded_at=self.status.loaded_at)
        log.warning("reload.failed", files=changed, errors=list(lines))
        console = self.console or sys.stderr
        print("reload failed; the last good flows and templates keep running:", file=console)
        print("\n".join(f"  {line}" for line in lines), file=console, flush=True)


RELOADER: Final = web.AppKey("reloader", Reloader)


def setup_reload(app: web.Application, reloader: Reloader | None) -> None:
    """Add `GET /sandbox/status` (sandbox mode), and the reloader's `cleanup_ctx` when reloading is on."""
    if reloader is not None:
        app[RELOADER] = reloader
        app.cleanup_ctx.append(reloader.context)
    app.router.add_get("/sandbox/status", sandbox_status)


async def sandbox_status(request: web.Request) -> web.Response:
    """``GET /sandbox/status``: `{"reload": {"ok", "errors", "loaded_at"}}`, or `{"reload": null}` when off."""
    reloader = request.app.get(RELOADER)
    body: Mapping[str, Any] = {"reload": reloader.status.to_json() if reloader is not None else None}
    return web.json_response(body)
