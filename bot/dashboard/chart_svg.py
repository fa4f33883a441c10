"""Bar charts drawn on the server as SVG: one bar per day, stacked by series, with no script and nothing fetched.

Pure: given labels and numbers, it returns SVG text whose every word is XML-escaped, so it may go into a
page as markup. Each chart carries a `<title>` and `<desc>` for screen readers and a tooltip per bar; the
page shows the same figures in a table below it. Colours come from the dashboard's stylesheet by class
(`series-<name>`), so the charts follow the category badges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

PLOT_HEIGHT = 180
BAR_WIDTH, BAR_GAP = 20, 6
LABEL_SPACING = 60  # at least this far apart, so day labels never overlap
LEFT, TOP, BOTTOM = 56, 12, 46  # room for the value axis, above the plot, and for day labels and the legend
MIN_PLOT_WIDTH = 320


@dataclass(frozen=True)
class Chart:
    """What to draw: a title, a sentence saying what it shows, one label per bar, numbers per series."""

    ident: str
    title: str
    description: str
    labels: Sequence[str]
    series: Mapping[str, Sequence[float]]
    unit: str = ""


def nice_top(value: float) -> float:
    """The axis top: the smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value))


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def bar_chart(chart: Chart) -> str:
    """The chart as an SVG element; bars stack in the order of `chart.series`."""
    count = len(chart.labels)
    width = LEFT + max(count * (BAR_WIDTH + BAR_GAP), MIN_PLOT_WIDTH) + 12
    height = TOP + PLOT_HEIGHT + BOTTOM
    totals = [sum(values[i] for values in chart.series.values()) for i in range(count)]
    top = nice_top(max(totals, default=0))
    ident = escape(chart.ident)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(chart.title)}</title>',
        f'<desc id="{ident}-desc">{escape(chart.description)}</desc>',
        *_axis(top, width, chart.unit),
    ]
    every = math.ceil(LABEL_SPACING / (BAR_WIDTH + BAR_GAP))
    for index, label in enumerate(chart.labels):
        parts += _bars(chart, index, label, top)
        if index % every == 0:
            x = LEFT + index * (BAR_WIDTH + BAR_GAP) + BAR_WIDTH / 2
            parts.append(f'<text class="chart-label" x="{x:.1f}" y="{TOP + PLOT_HEIGHT + 14}">{escape(label)}</text>')
    parts += _legend(chart.series, height)
    parts.append("</svg>")
    return "\n".join(parts)


def _axis(top: float, width: int, unit: str) -> list[str]:
    lines = []
    for fraction in (0, 0.5, 1):
        y = TOP + PLOT_HEIGHT * (1 - fraction)
        text = escape(f"{unit}{_number(top * fraction)}")
        lines.append(f'<line class="chart-grid" x1="{LEFT}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}"/>')
        lines.append(f'<text class="chart-axis" x="{LEFT - 6}" y="{y + 4:.1f}">{text}</text>')
    return lines


def _bars(chart: Chart, index: int, label: str, top: float) -> list[str]:
    x = LEFT + index * (BAR_WIDTH + BAR_GAP)
    base = float(TOP + PLOT_HEIGHT)
    rects = []
    for name, values in chart.series.items():
        value = values[index]
        if value <= 0:
            continue
        tall = PLOT_HEIGHT * value / top
        base -= tall
        tip = escape(f"{label}: {name} {chart.unit}{_number(value)}")
        rects.append(
            f'<rect class="series-{escape(name)}" x="{x}" y="{base:.1f}" width="{BAR_WIDTH}" height="{tall:.1f}">'
            f"<title>{tip}</title></rect>"
        )
    return rects


def _legend(series: Mapping[str, Sequence[float]], height: int) -> list[str]:
    items, x = [], LEFT
    for name in series:
        y = height - 14
        items.append(f'<rect class="series-{escape(name)}" x="{x}" y="{y - 9}" width="10" height="10"/>')
        items.append(f'<text class="chart-legend" x="{x + 14}" y="{y}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return items
