"""Bar charts as SVG: stacked per label, scaled to a round top, accessible, and every text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from bot.dashboard.chart_svg import PLOT_HEIGHT, Chart, bar_chart, nice_top


def test_the_axis_top_is_a_round_number_at_least_the_largest_bar() -> None:
    """1, 2, 2.5 or 5 times a power of ten; an empty chart still has an axis."""
    assert [nice_top(v) for v in (0, 1, 3, 7, 11, 240, 0.3)] == [1, 1, 5, 10, 20, 250, 0.5]


def test_bars_stack_by_series_and_scale_to_the_top() -> None:
    """Each series is a rect over the one before; heights are proportional; zero draws nothing."""
    chart = Chart("c", "T", "D", ["a", "b"], {"service": [2, 0], "utility": [3, 5]})
    svg = ET.fromstring(bar_chart(chart))
    rects = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find("{*}title") is not None]
    heights = {r.find("{*}title").text: float(r.get("height", 0)) for r in rects}
    assert heights == {
        "a: service 2": PLOT_HEIGHT * 0.4,
        "a: utility 3": PLOT_HEIGHT * 0.6,
        "b: utility 5": PLOT_HEIGHT,
    }
    a_service, a_utility = rects[0], rects[1]
    assert float(a_utility.get("y", 0)) + float(a_utility.get("height", 0)) == float(a_service.get("y", 0))


def test_every_text_is_escaped_and_the_chart_is_labelled() -> None:
    """A label or series name with markup stays text; title and desc name the chart for screen readers."""
    chart = Chart("x", "<b>T</b>", "D & more", ["<script>"], {'a"b': [1]})
    text = bar_chart(chart)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert '<title id="x-title">&lt;b&gt;T&lt;/b&gt;</title>' in text
    assert 'aria-labelledby="x-title x-desc"' in text
    assert re.search(r'class="series-a&quot;b"', text)
    ET.fromstring(text)  # well-formed
