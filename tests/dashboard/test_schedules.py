"""The dashboard's schedules: the form checked as `POST /api/schedules` checks a body, edit, pause, resume, delete."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot import keys
from bot.dashboard.schedules import schedule_body
from storage.models import SCHEDULE_RUN
from tests.api.test_campaigns import call
from tests.api.test_schedules import BODY
from tests.dashboard.test_app import client, logged_in, noon, post_form

Client = TestClient[web.Request, web.Application]
__all__ = ["client", "logged_in", "noon"]
FORM = {
    "name": BODY["name"], "cron": BODY["cron"], "time_zone": BODY["time_zone"], "template": BODY["template"],
    "parameters": "\n".join(f"{k}: {v}" for k, v in BODY["parameters"].items()),
    "wa_ids": "+31612345678,\n447700900123",
}  # fmt: skip


def test_the_form_reads_into_the_apis_body() -> None:
    """Values typed one `name: value` a line and numbers on lines or after commas make the API's body."""
    assert schedule_body(FORM) == BODY


async def test_errors_are_shown_by_field_and_nothing_is_stored(logged_in: Client, auth: dict[str, str]) -> None:
    """Every wrong field is named under it in the API's words; the scheduler's template check shows as one error."""
    resp = await post_form(logged_in, "/dashboard/schedules/new", {**FORM, "cron": "61 * * * *", "wa_ids": "12ab"})
    page = await resp.text()
    assert resp.status == 400
    assert 'id="cron-error">' in page
    assert 'id="wa_ids-error">Wa_ids[0]:' in page
    assert "Nothing was saved: 2 fields to correct." in page
    resp = await post_form(logged_in, "/dashboard/schedules/new", {**FORM, "template": "promotion_code"})
    assert "Template &#39;promotion_code&#39; is marketing, not utility" in await resp.text()
    assert (await call(logged_in, auth, "GET", "/api/schedules"))[1]["items"] == []


async def test_a_schedule_is_edited_paused_resumed_and_deleted(logged_in: Client, auth: dict[str, str]) -> None:
    """An edit is checked and moves the next run; pause stops it; resume runs from the next time; delete removes it."""
    resp = await post_form(logged_in, "/dashboard/schedules/new", FORM)
    assert resp.headers["Location"] == "/dashboard/schedules/1?done=schedule_saved"
    page = await (await logged_in.get("/dashboard/schedules")).text()
    assert '<a href="/dashboard/schedules/1">invoice reminder</a>' in page
    assert "02:30 Europe/Amsterdam" in page
    resp = await post_form(logged_in, "/dashboard/schedules/1", {**FORM, "cron": "0 9 * * *"})
    assert resp.status == 303
    assert (await call(logged_in, auth, "GET", "/api/schedules/1"))[1]["cron"] == "0 9 * * *"
    assert "09:00 Europe/Amsterdam" in await (await logged_in.get("/dashboard/schedules/1")).text()
    assert (await post_form(logged_in, "/dashboard/schedules/1/pause", {})).status == 303
    assert (await call(logged_in, auth, "GET", "/api/schedules/1"))[1]["active"] is False
    assert (await post_form(logged_in, "/dashboard/schedules/1/resume", {})).status == 303
    assert (await call(logged_in, auth, "GET", "/api/schedules/1"))[1]["active"] is True
    page = await (await post_form(logged_in, "/dashboard/schedules/1/delete", {})).text()
    assert "Delete &#39;invoice reminder&#39; for good?" in page
    resp = await post_form(logged_in, "/dashboard/schedules/1/delete", {"confirm": "yes"})
    assert resp.headers["Location"] == "/dashboard/schedules?done=schedule_deleted"
    assert (await call(logged_in, auth, "GET", "/api/schedules/1"))[0] == 404
    async with logged_in.server.app[keys.REPOSITORY].engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(SCHEDULE_RUN))).scalar_one() == 0
