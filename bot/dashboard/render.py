"""The dashboard's pages: the Jinja environment over the page templates, the navigation, and `render`.

Page templates live in `bot/dashboard/html/` and extend `layout.html`. Autoescape is on for every
page, so whatever customers wrote is shown as text; customers' words are only ever values given to a
page, never a template. To add a page: write its template, give its handler one route that returns
`render(request, "<page>.html", ...)`, and, for the navigation, list it in `NAV`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.dashboard.session import Session, Signer
from bot.errors import BodyTooLarge, ValidationError
from bot.field import check_text, row_id

PAGES: Final = Path(__file__).parent / "html"
PREFIX: Final = "/dashboard"
JINJA: Final = web.AppKey("dashboard_jinja", Environment)
SIGNER: Final = web.AppKey("dashboard_signer", Signer)
OPEN_SESSION: Final = web.RequestKey("dashboard_session", Session)  # set by the guard, for a valid session only
# What a page says after a form did its work (the redirect names it; no text travels in the URL).
NOTICES = {
    "replied": "Your reply is queued and goes out in a moment.",
    "template_sent": "The template is queued and goes out in a moment.",
    "released": "The bot answers this customer again, and tells them so if they wrote in the last 24 hours.",
    "not_handed_off": "This chat was not waiting for a person; nothing changed.",
    "unblocked": "The template will be used again.",
    "logged_out": "You are logged out.",
    "campaign_created": "The campaign is created and scheduled.",
    "campaign_paused": "The campaign is paused: its queued messages wait until you resume it.",
    "campaign_resumed": "The campaign is running again.",
    "campaign_cancelled": "The campaign is cancelled: nothing more of it is sent.",
    "campaign_retried": "The campaign's failed messages are queued again.",
    "campaign_tested": "The test messages go out now: quiet hours don't hold a test to your own numbers.",
    "consent_recorded": "The consent is recorded. An opt-out also cancels the marketing still queued for them.",
    "subscription_deleted": "The URL is deleted, with its undelivered events and its log.",
    "event_replayed": "The event is queued to be delivered again.",
    "contact_edited": "The contact is saved.",
    "schedule_saved": "The schedule is saved; it runs at the next time it names.",
    "schedule_paused": "The schedule is paused: it sends nothing until you resume it.",
    "schedule_resumed": "The schedule runs again, from its next time (the runs it missed are not sent).",
    "schedule_deleted": "The schedule is deleted; its messages still queued are cancelled.",
    "contact_erased": "The contact is erased: number, name and messages are gone; the consent history is kept.",
}
UNREAD_TOTAL: Final = web.RequestKey("dashboard_unread_total", int)  # for the navigation, set by the guard
# Browsers must not cache pages with customers' words or frame them; the only script they run is the
# dashboard's own `live.js` (no inline script), which may talk to this site only.
HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Link:
    title: str
    path: str  # below PREFIX

    @property
    def href(self) -> str:
        return PREFIX + self.path


NAV: Final = (
    Link("Overview", "/"),
    Link("Campaigns", "/campaigns"),
    Link("Schedules", "/schedules"),
    Link("Contacts", "/contacts"),
    Link("Conversations", "/conversations"),
    Link("Inbox", "/inbox"),
    Link("Templates", "/templates"),
    Link("Events", "/events"),
    Link("Flows", "/flows"),
)


def when(moment: datetime | None) -> str:
    """A time as people read it, in UTC and saying so."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def local(moment: datetime | None, zone: str) -> str:
    """A time as people in `zone` read it, naming the zone."""
    if moment is None:
        return "—"
    try:
        return moment.astimezone(ZoneInfo(zone)).strftime(f"%a %d %b %Y, %H:%M {zone}")
    except (ValueError, KeyError, OSError):  # a zone that left the tz database: UTC says it still
        return when(moment)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PAGES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["local"] = local
    return env


def session_of(request: web.Request) -> Session | None:
    """The request's session, as the dashboard's guard found it (signed, unexpired, not logged out); or None."""
    return request.get(OPEN_SESSION)


def render(request: web.Request, page: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page of the dashboard, with the navigation, the session's CSRF token and any notice."""
    session = session_of(request)
    signer = request.config_dict[SIGNER]
    html = (
        request.config_dict[JINJA]
        .get_template(page)
        .render(
            nav=NAV,
            current=_current(request.path),
            logged_in=session is not None,
            csrf=signer.csrf(session) if session else "",
            notice=NOTICES.get(request.query.get("done", "")),
            unread_total=request.get(UNREAD_TOTAL, 0),
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", headers=HEADERS)


def _current(path: str) -> str:
    """The navigation entry a path belongs to: its first segment below the prefix."""
    below = path.removeprefix(PREFIX).strip("/").split("/")[0]
    return f"/{below}" if below else "/"


def done(path: str, notice: str, anchor: str = "") -> web.HTTPSeeOther:
    """After a form's POST, the page to show next, saying what happened (post, redirect, get), at `anchor`."""
    assert notice in NOTICES
    return web.HTTPSeeOther(f"{PREFIX}{path}?done={notice}" + (f"#{anchor}" if anchor else ""))


def before(request: web.Request) -> int | None:
    """A list page's cursor: the id the next page starts below (`?before=`), or None for the first page."""
    return row_id(request.query.get("before", ""))


async def form(request: web.Request) -> dict[str, str]:
    """The POSTed form's text fields; one holding NUL or a lone surrogate is a `ValidationError` naming it.

    A body aiohttp cannot read as a form (not UTF-8, or multipart parts without a field name) is a
    `ValidationError` too: the browser's forms never send one, so it is a client's mistake, not a bug.
    """
    try:
        data = await request.post()
    except UnicodeDecodeError:
        raise ValidationError("the form is not UTF-8 text") from None
    except ValueError as exc:  # aiohttp's words for a multipart body it cannot split into fields
        raise ValidationError(f"the form cannot be read: {exc}") from None
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(
            "the form is over the service's size limit; a larger file goes through the admin API"
        ) from None
    return {name: check_text(value, name) for name, value in data.items() if isinstance(value, str)}
