"""The dashboard's overview: conversations by category per day and their estimated cost, as charts and tables.

The figures are `GET /api/stats`'s (`bot.api.stats.build_report`), for a range of UTC days that defaults
to the last 30; the charts are drawn on the server (`bot.dashboard.chart_svg`) from escaped text only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot import keys
from bot.api.stats import build_report, loaded_card, stats_range
from bot.dashboard.chart_svg import Chart, bar_chart
from bot.dashboard.render import render
from bot.errors import ValidationError
from bot.whatsapp.category import CATEGORIES

routes = web.RouteTableDef()
DEFAULT_DAYS = 30


def _range(request: web.Request, today: date) -> tuple[date, date, str | None]:
    """The [from, to) days asked for, checked as the API checks them; by default the last 30 days."""
    end = today + timedelta(days=1)
    default = end - timedelta(days=DEFAULT_DAYS), end
    if not request.query.get("from") and not request.query.get("to"):
        return *default, None
    try:
        return *stats_range(request), None
    except ValidationError as exc:
        return *default, f"{exc.message[:1].upper()}{exc.message[1:]}. Showing the last {DEFAULT_DAYS} days."


def _charts(days: list[dict[str, Any]], costs: bool) -> list[tuple[str, Markup]]:
    labels = [date.fromisoformat(d["date"]).strftime("%d %b") for d in days]
    by_category: dict[str, list[float]] = {c: [d["conversations"].get(c, 0) for d in days] for c in CATEGORIES}
    drawn = [
        Chart(
            "conversations", "Conversations by category per day",
            "Stacked bars: the conversations opened each UTC day, by category. The table below has the figures.",
            labels, by_category,
        )
    ]  # fmt: skip
    if costs:
        spent: dict[str, list[float]] = {c: [float(d["cost"].get(c, 0)) for d in days] for c in CATEGORIES}
        description = "Stacked bars: the estimated cost of each UTC day, by category. The table below has the figures."
        drawn.append(Chart("cost", "Estimated cost per day", description, labels, spent))
    # The SVG is built from escaped text only (`bot.dashboard.chart_svg`), so it may go into the page as markup.
    return [(chart.title, Markup(bar_chart(chart))) for chart in drawn]


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    """Conversations by category per day and what they cost, for a range of days, with totals."""
    start, end, problem = _range(request, request.config_dict[keys.CLOCK]().date())
    loaded = loaded_card(request.config_dict)
    report = (await build_report(request.config_dict[keys.REPOSITORY], start, end, loaded.card)).as_json()
    return render(
        request,
        "overview.html",
        title="Overview",
        start=start,
        last=end - timedelta(days=1),
        problem=problem,
        report=report,
        categories=CATEGORIES,
        charts=_charts(report["days"], loaded.card is not None),
        cost_note=loaded.describe()["cost_note"],
    )
