"""The dashboard's contact import: upload a CSV, see its first rows with each one's error, import it, watch it go.

The file is checked as `POST /api/contacts` checks a CSV body (`decode_csv`, `read_csv`) and stored by the
same `bot.api.contacts.import_csv`, a chunk per transaction. Between the preview and the import the file
waits in this process's memory (`Imports`, for at most `KEEP`); the import runs as a task the app owns, and
its page reloads every second until it is done, then shows the API's report: the counts and each refused
row's line and reason. A job lives in the process that read the file, so behind a load balancer a
dashboard user must stay on one process (sticky sessions), or import with the API.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import structlog
from aiohttp import web

from bot import keys
from bot.api.contact_input import COLUMNS, ContactInput, Rejected, count_rows, decode_csv, lines_of, read_csv
from bot.api.contacts import ImportReport, import_csv, region_code
from bot.dashboard.render import PREFIX, form, render
from bot.errors import NotFound, ValidationError

log = structlog.get_logger("bot.dashboard.contact_import")
routes = web.RouteTableDef()
PREVIEW_ROWS = 20
SHOWN_REJECTED = 200
KEEP = timedelta(hours=1)
MAX_JOBS = 8
# The columns a file may have, as people read them (docs/api.md says the same at more length).
GUIDE: Final = (
    ("wa_id or phone", "yes", "the number with its country code: +31612345678 or 31612345678"),
    ("name", "no", "up to 256 characters"),
    ("language", "no", "a code such as en, pt or pt_BR"),
    ("time_zone", "no", "an IANA name such as Europe/Amsterdam; empty: the number's zone, else the business's"),
    ("tags", "no", "separated by ; or |, each 1 to 48 letters, digits, spaces or . : / - _"),
    ("marketing", "no", "opt_in (or yes), opt_out (or no), or empty"),
    ("consent_evidence", "with opt_in", "where and how the customer agreed"),
    ("consent_at", "no", "when they agreed, ISO 8601 such as 2026-05-01T10:00Z; empty: now"),
)
assert {name for column, *_ in GUIDE for name in column.split(" or ")} == set(COLUMNS)


@dataclass
class ImportJob:
    """One uploaded file: its preview, then its import's running report."""

    id: str
    filename: str
    text: str
    region: str | None
    created_at: datetime
    total: int = 0
    first: list[ContactInput | Rejected] = field(default_factory=list)
    state: str = "ready"  # ready | running | done | failed
    report: ImportReport = field(default_factory=ImportReport)
    error: str | None = None


def preview(job: ImportJob, default_zone: str) -> None:
    """The file's first rows read as the import reads them (each refused one with its reason), and its row count.

    Only the first rows are checked here: checking a row costs about 0.1 ms (its number above all), so a
    whole file of 100,000 rows would hold the event loop for 10 s. The import checks every row again
    as it stores them, and its report lists every row it refused.
    """
    rows = read_csv(lines_of(job.text), default_zone=default_zone, region=job.region)
    job.first = list(itertools.islice(rows, PREVIEW_ROWS))  # a bad header is a ValidationError here
    job.total = count_rows(job.text)


class Imports:
    """The uploaded files of this process and the tasks importing them, which close with the app."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, job: ImportJob, now: datetime) -> None:
        """Keep a previewed file; files older than `KEEP`, and the oldest beyond `MAX_JOBS`, are forgotten."""
        idle = [j for j in self._jobs.values() if j.state != "running"]
        for old in idle:
            if old.created_at < now - KEEP or len(self._jobs) >= MAX_JOBS:
                del self._jobs[old.id]
        self._jobs[job.id] = job

    def get(self, job_id: str) -> ImportJob:
        found = self._jobs.get(job_id)
        if found is None:
            raise NotFound("this import is not known here: it is over an hour old, or the service restarted")
        return found

    def start(self, job: ImportJob, app: keys.Config) -> None:
        """Import the file in a task of its own; starting one that has started already changes nothing."""
        if job.state != "ready":
            return
        job.state = "running"
        task = asyncio.create_task(self._run(job, app))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: ImportJob, app: keys.Config) -> None:
        try:
            await import_csv(app, job.text, job.region, job.report)
            job.state = "done"
            log.info("contacts.imported", source="dashboard", rows=job.report.rows, rejected=len(job.report.rejected))
        except Exception as exc:  # a task's top level: the page says it stopped, the rows stored stay stored
            log.exception("contacts.import_failed", source="dashboard", error=type(exc).__name__)
            job.state, job.error = "failed", type(exc).__name__
        finally:
            job.text = ""  # the file is not needed any more

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


IMPORTS: Final = web.AppKey("dashboard_imports", Imports)


async def imports_context(app: web.Application) -> AsyncIterator[None]:
    app[IMPORTS] = Imports()
    yield
    await app[IMPORTS].close()


def _guide_page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
    return render(request, "contact_import.html", status=status, title="Import contacts", guide=GUIDE, error=error)


@routes.get("/contacts/import")
async def import_form(request: web.Request) -> web.Response:
    """The column guide and the file to upload."""
    return _guide_page(request)


@routes.post("/contacts/import")
async def upload(request: web.Request) -> web.Response:
    """Read and check the file whole, keep it, and show its preview; a file that cannot be read says why."""
    data = await request.post()  # already read (and size-limited) for the CSRF check
    file = data.get("file")
    if not isinstance(file, web.FileField):
        return _guide_page(request, status=400, error="Choose a CSV file to import.")
    app = request.config_dict
    try:
        region = region_code((await form(request)).get("region", "").strip() or None)
        job = ImportJob(
            secrets.token_urlsafe(12), file.filename, decode_csv(file.file.read()), region, app[keys.CLOCK]()
        )
        preview(job, app[keys.SETTINGS].business_timezone)
    except ValidationError as exc:
        return _guide_page(
            request, status=400, error=f"{exc.message[:1].upper()}{exc.message[1:]}. Nothing was imported."
        )
    if job.total == 0:
        return _guide_page(request, status=400, error="The file has a header but no rows. Nothing was imported.")
    request.config_dict[IMPORTS].add(job, app[keys.CLOCK]())
    raise web.HTTPSeeOther(f"{PREFIX}/contacts/import/{job.id}")


@routes.get("/contacts/import/{job}")
async def import_page(request: web.Request) -> web.Response:
    """Before the import its preview; while it runs its progress (reloading); after it the report."""
    job = request.config_dict[IMPORTS].get(request.match_info["job"])
    return render(
        request,
        "contact_imported.html",
        title=f"Import {job.filename}",
        job=job,
        shown_rejected=SHOWN_REJECTED,
        done=job.report.done,
    )


@routes.post("/contacts/import/{job}")
async def start_import(request: web.Request) -> web.Response:
    """Start importing the previewed file; its page shows how far it has got."""
    job = request.config_dict[IMPORTS].get(request.match_info["job"])
    request.config_dict[IMPORTS].start(job, request.config_dict)
    raise web.HTTPSeeOther(f"{PREFIX}/contacts/import/{job.id}")
