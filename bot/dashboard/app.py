"""The business dashboard at /dashboard: log in with the admin token, then plain pages over the service.

`setup_dashboard(app)` mounts a sub-application whose middleware guards every page: a browser without a
valid session cookie is sent to the login page; every POST must come from this site (Origin) and carry
the session's CSRF token, else it is refused with a page that says why. Errors of the service show as a
page in plain words, never as a stack trace. The pages themselves live in `bot.dashboard.pages` and
`bot.dashboard.overview`, `bot.dashboard.campaigns`, `bot.dashboard.contacts`, `bot.dashboard.contact_import`,
`bot.dashboard.contact_export`, `bot.dashboard.schedules` and `bot.dashboard.inbox`;
customers' files are served by `bot.dashboard.media`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from bot import keys
from bot.api.request import client_gone
from bot.api.token import GUESSES, address_of
from bot.dashboard.campaigns import routes as campaign_routes
from bot.dashboard.contact_export import routes as export_routes
from bot.dashboard.contact_import import imports_context
from bot.dashboard.contact_import import routes as import_routes
from bot.dashboard.contacts import routes as contact_routes
from bot.dashboard.events import routes as event_routes
from bot.dashboard.inbox import routes as inbox_routes
from bot.dashboard.inbox import unread_total
from bot.dashboard.live import live_hub
from bot.dashboard.live import routes as live_routes
from bot.dashboard.media import routes as media_routes
from bot.dashboard.meta import routes as meta_routes
from bot.dashboard.overview import routes as overview_routes
from bot.dashboard.pages import routes as page_routes
from bot.dashboard.render import (
    JINJA,
    OPEN_SESSION,
    PAGES,
    PREFIX,
    SIGNER,
    UNREAD_TOTAL,
    environment,
    form,
    render,
    session_of,
)
from bot.dashboard.schedules import routes as schedule_routes
from bot.dashboard.session import COOKIE, LIFETIME, LOGIN_COOKIE, LOGIN_FORM_LIFETIME, Session, Signer, token_matches
from bot.errors import BotError, http_status
from storage.repository import DatabaseUnavailable

log = structlog.get_logger("bot.dashboard.app")
PUBLIC: Final = frozenset({f"{PREFIX}/login", f"{PREFIX}/dashboard.css"})
QUIET: Final = tuple(f"{PREFIX}{path}" for path in ("/live", "/media", "/dashboard.css"))  # not pages: no navigation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_dashboard(app: web.Application) -> None:
    """Mount the dashboard under /dashboard; its session key derives from the secret key and admin token."""
    settings = app[keys.SETTINGS]
    dashboard = web.Application(middlewares=[guard])
    dashboard[JINJA] = environment()
    dashboard[SIGNER] = Signer(settings.secret_key, settings.admin_token)
    dashboard.cleanup_ctx.append(imports_context)
    dashboard.router.add_get("/login", login_page)
    dashboard.router.add_post("/login", login)
    dashboard.router.add_post("/logout", logout)
    dashboard.router.add_get("/dashboard.css", stylesheet)
    dashboard.router.add_get("/live.js", script)
    for routes in (
        overview_routes,
        campaign_routes,
        import_routes,  # before the contact routes: /contacts/import is not a contact's number
        export_routes,
        schedule_routes,
        contact_routes,
        page_routes,
        inbox_routes,
        media_routes,
        event_routes,
        live_routes,
        meta_routes,
    ):
        dashboard.router.add_routes(routes)
    app.cleanup_ctx.append(live_hub)  # on the main app, after the database it polls
    app.router.add_get(PREFIX, _to_overview)  # before the sub-application, which would answer it with a 404
    app.add_subapp(PREFIX, dashboard)


async def _to_overview(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PREFIX}/")


def _now(request: web.Request) -> datetime:
    return request.config_dict[keys.CLOCK]()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions, same-origin and CSRF checks for every dashboard request; the service's errors as pages."""
    session = await _open_session(request)
    if session is not None:
        request[OPEN_SESSION] = session
    public = request.path in PUBLIC
    if request.method == "POST" and not _same_origin(request):
        log.warning("dashboard.cross_origin_refused", path=request.path)
        return refused(request, "This form was sent from another website, so it was refused.")
    if session is None and not public:
        if request.method == "POST":
            return refused(request, "Your session has ended. Log in again, then repeat what you did.")
        raise web.HTTPSeeOther(f"{PREFIX}/login")
    try:  # reading the form for its CSRF token checks its fields too, so a bad one is a page here as well
        if request.method == "POST" and session is not None and not public and not await _csrf_ok(request, session):
            log.warning("dashboard.csrf_refused", path=request.path)
            return refused(request, "This form has expired or did not come from the dashboard. Reload the page.")
        if request.method == "GET" and session is not None and not request.path.startswith(QUIET):
            request[UNREAD_TOTAL] = await unread_total(request)  # the number beside Inbox in the navigation
        return await handler(request)
    except (BotError, DatabaseUnavailable) as exc:
        return _error_page(request, exc)
    except web.HTTPException:
        raise
    except Exception as exc:  # a bug: a page in plain words with the request id, never a stack trace
        if client_gone(request, exc):
            raise
        log.exception("dashboard.unexpected_error", path=request.path, error=type(exc).__name__)
        message = f"The service failed unexpectedly. Quote request {request.get(keys.REQUEST_ID)} when you report it."
        return render(request, "error.html", status=500, title="Something went wrong", message=message)


async def _open_session(request: web.Request) -> Session | None:
    """The session the cookie holds, if it is signed, unexpired and still stored (not logged out)."""
    now = _now(request)
    session = request.config_dict[SIGNER].read(request.cookies.get(COOKIE), now)
    if session is None:
        return None
    stored = await request.config_dict[keys.REPOSITORY].dashboard_session_is_open(session.digest, now=now)
    return session if stored else None


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    return request.config_dict[SIGNER].csrf_ok(session, (await form(request)).get("csrf"))


def _same_origin(request: web.Request) -> bool:
    """A POST's Origin (or, without one, its Referer) names this host; browsers send one on every form POST."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        return True  # not a browser; the CSRF token still has to match
    return urlsplit(source).netloc == request.host


def refused(request: web.Request, why: str) -> web.Response:
    return render(request, "refused.html", status=403, title="Refused", why=why)


def _error_page(request: web.Request, exc: BotError | DatabaseUnavailable) -> web.Response:
    if isinstance(exc, DatabaseUnavailable):
        message, status = "The database is not answering. Try again in a minute.", 503
    else:
        message = exc.message[:1].upper() + exc.message[1:]
        status = http_status(exc)
    log.info("dashboard.error", path=request.path, status=status, error=type(exc).__name__)
    return render(request, "error.html", status=status, title="Something went wrong", message=message)


# -- login and logout ----------------------------------------------------------------------------------


async def login_page(request: web.Request, *, error: str | None = None, status: int = 401) -> web.Response:
    """The login form; its CSRF token pairs with a fresh nonce in a cookie of its own."""
    if session_of(request) is not None and error is None:
        raise web.HTTPSeeOther(f"{PREFIX}/")
    signer = request.config_dict[SIGNER]
    nonce = signer.login_nonce()
    response = render(
        request,
        "login.html",
        status=status if error else 200,
        title="Log in",
        error=error,
        token=signer.login_csrf(nonce),
    )
    _set_cookie(request, response, LOGIN_COOKIE, nonce, int(LOGIN_FORM_LIFETIME.total_seconds()))
    return response


async def login(request: web.Request) -> web.Response:
    """Check the admin token (constant time) and start a session; a wrong one shows the form again."""
    signer = request.config_dict[SIGNER]
    fields = await form(request)
    if not signer.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), fields.get("csrf")):
        return refused(request, "The login form had expired. Open the login page again and log in.")
    guesses, address = request.config_dict[GUESSES], address_of(request)
    wait = await guesses.wait(address)
    if wait:
        error = f"Too many wrong tokens from this address. Try again in {math.ceil(wait)} seconds."
        return await login_page(request, error=error, status=429)
    if not token_matches(fields.get("token"), request.config_dict[keys.SETTINGS].admin_token):
        await guesses.wrong(address)
        log.warning("dashboard.login_failed")
        return await login_page(request, error="That is not the admin token. Check it and try again.")
    now = _now(request)
    session, cookie = signer.issue(now)
    repository = request.config_dict[keys.REPOSITORY]
    await repository.open_dashboard_session(session.digest, expires_at=session.expires_at, now=now)
    log.info("dashboard.logged_in")
    response = web.HTTPSeeOther(f"{PREFIX}/")
    _set_cookie(request, response, COOKIE, cookie, int(LIFETIME.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request) -> web.Response:
    """End the session on the server (a copy of its cookie no longer works anywhere) and clear the cookie."""
    session = session_of(request)
    if session is not None:
        await request.config_dict[keys.REPOSITORY].end_dashboard_session(session.digest)
    response = web.HTTPSeeOther(f"{PREFIX}/login?done=logged_out")
    response.del_cookie(COOKIE, path=PREFIX)
    log.info("dashboard.logged_out")
    raise response


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Strict, for /dashboard only, and Secure whenever the browser came over https."""
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="Strict", secure=secure)


# -- the rest ------------------------------------------------------------------------------------------


# The two assets are a few kilobytes each, read whole per request. aiohttp's `FileResponse` opens its file in
# a worker thread: a browser that left mid-request (a page navigated away under load) cancelled the handler
# while the thread opened the file, and the file was left open (a ResourceWarning the suite turns into a failure).


async def stylesheet(request: web.Request) -> web.Response:
    return _asset("dashboard.css", "text/css")


async def script(request: web.Request) -> web.Response:
    """The one script of the dashboard's pages: the live inbox (`bot.dashboard.live`)."""
    return _asset("live.js", "text/javascript")


def _asset(name: str, content_type: str) -> web.Response:
    body = (PAGES / name).read_bytes()
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers={"Cache-Control": "no-cache"})
