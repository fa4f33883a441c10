"""A flow's graph drawn on the server as SVG: a layered, top-down layout with no JavaScript and nothing fetched.

Mermaid draws in the browser and would have to be bundled; the dashboard needs only a readable picture,
so this lays `bot.engine.graph.Graph` out itself. Edges that point back up (loops, retries) are found with a
depth-first search and left out of the layering; every other node sits one layer below its deepest
predecessor (longest path), and each layer is ordered by its predecessors' mean position to cut crossings.
Forward edges are curves from a node's bottom to the target's top; edges back up or sideways bend out to
the right. Every text is XML-escaped.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass
from html import escape

from bot.engine.graph import Edge, Graph, Node

WIDTH, HEIGHT = 210, 58  # a node's box
GAP_X, GAP_Y = 36, 64  # between boxes side by side, and between layers (edge labels sit there)
MARGIN = 24
LOOP_BEND = 70  # how far an edge back up bends out to the right
LINE_CHARS = 30  # characters of step text per line inside a box, two lines at most
LABEL_CHARS = 28
CHAR_WIDTH = 6.4  # of the 11px label font, for the label's background

# Fill colour per kind: what the bot says, what waits for the customer, what it decides, what ends.
_FILL = {
    "say": "#e8f5e9",
    "ask": "#e3f2fd",
    "choose": "#e3f2fd",
    "form": "#e3f2fd",
    "branch": "#fff8e1",
    "act": "#f3e5f5",
    "http": "#f3e5f5",
    "call": "#f3e5f5",
    "verify": "#fff3e0",
    "goto": "#eceff1",
    "handoff": "#fce4ec",
    "end": "#eceff1",
    "start": "#c8e6c9",
    "finish": "#eceff1",
    "missing": "#ffebee",
    "flow": "#ede7f6",
}
ROUND = frozenset({"start", "finish", "goto", "end", "handoff"})
SLANTED = frozenset({"ask", "choose", "form"})
POINTED = frozenset({"branch", "verify"})
BOLD = ' font-weight="bold"'


@dataclass(frozen=True)
class Placed:
    """A node and the top-left corner of its box."""

    node: Node
    x: float
    y: float

    @property
    def centre(self) -> float:
        return self.x + WIDTH / 2


def back_edges(graph: Graph) -> set[int]:
    """Indexes of the edges that close a cycle, found depth-first from the start (then from any node left)."""
    outgoing: dict[str, list[int]] = defaultdict(list)
    for index, edge in enumerate(graph.edges):
        outgoing[edge.source].append(index)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    back: set[int] = set()
    for root in (node.id for node in graph.nodes):
        if root in state:
            continue
        stack = [(root, iter(outgoing[root]))]
        state[root] = 1
        while stack:
            current, pending = stack[-1]
            taken = next(pending, None)
            if taken is None:
                state[current] = 2
                stack.pop()
                continue
            target = graph.edges[taken].target
            if state.get(target) == 1:
                back.add(taken)
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(outgoing[target])))
    return back


def layers(graph: Graph) -> list[list[Node]]:
    """The nodes by layer: each one below its deepest predecessor, ignoring edges back up."""
    back = back_edges(graph)
    forward = [e for i, e in enumerate(graph.edges) if i not in back]
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in forward:
        incoming[edge.target].append(edge.source)
    depth: dict[str, int] = {}

    def deepest(ident: str) -> int:  # the forward edges form a DAG, so this ends
        pending = [ident]
        while pending:
            current = pending[-1]
            missing = [s for s in incoming[current] if s not in depth and s != current]
            if missing:
                pending.extend(missing)
                continue
            pending.pop()
            depth[current] = max((depth[s] + 1 for s in incoming[current] if s != current), default=0)
        return depth[ident]

    rows: dict[int, list[Node]] = defaultdict(list)
    for node in graph.nodes:
        rows[deepest(node.id)].append(node)
    return [_ordered(rows[level], incoming, rows) for level in sorted(rows)]


def _ordered(row: list[Node], incoming: dict[str, list[str]], rows: dict[int, list[Node]]) -> list[Node]:
    """A layer sorted by the mean position of each node's predecessors in the layers above (stable)."""
    position = {node.id: index for level in rows.values() for index, node in enumerate(level)}

    def weight(node: Node) -> float:
        sources = [position[s] for s in incoming[node.id] if s in position]
        return sum(sources) / len(sources) if sources else position[node.id]

    return sorted(row, key=weight)


def place(graph: Graph) -> tuple[dict[str, Placed], float, float]:
    """Every node's box, and the drawing's width and height; each layer is centred."""
    rows = layers(graph)
    widest = max(len(row) for row in rows)
    width = 2 * MARGIN + widest * WIDTH + (widest - 1) * GAP_X + LOOP_BEND
    placed: dict[str, Placed] = {}
    for level, row in enumerate(rows):
        row_width = len(row) * WIDTH + (len(row) - 1) * GAP_X
        left = MARGIN + (width - LOOP_BEND - 2 * MARGIN - row_width) / 2
        for index, node in enumerate(row):
            placed[node.id] = Placed(node, left + index * (WIDTH + GAP_X), MARGIN + level * (HEIGHT + GAP_Y))
    height = 2 * MARGIN + len(rows) * HEIGHT + (len(rows) - 1) * GAP_Y
    return placed, width, height


def svg(graph: Graph) -> str:
    """The whole drawing as an `<svg>` element, sized to fit, with a title for screen readers."""
    placed, width, height = place(graph)
    back = back_edges(graph)
    title = f"Flow {graph.name}" + (f": {graph.description}" if graph.description else "")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-diagram" role="img" aria-label="{escape(title)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#546e7a"/></marker></defs>',
    ]
    for index, edge in enumerate(graph.edges):
        parts.append(_edge(edge, placed[edge.source], placed[edge.target], upward=index in back))
    parts.extend(_node(p) for p in placed.values())
    parts.append("</svg>")
    return "\n".join(parts)


def _edge(edge: Edge, source: Placed, target: Placed, *, upward: bool) -> str:
    """A curve with an arrowhead, and its label on a white ground at the curve's middle."""
    if upward or target.y <= source.y:
        x1, y1 = source.x + WIDTH, source.y + HEIGHT / 2
        x2, y2 = target.x + WIDTH, target.y + HEIGHT / 2
        bend = max(x1, x2) + LOOP_BEND
        path = f"M{x1:.1f},{y1:.1f} C{bend:.1f},{y1:.1f} {bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        middle = (0.125 * x1 + 0.75 * bend + 0.125 * x2, (y1 + y2) / 2)
    else:
        x1, y1 = source.centre, source.y + HEIGHT
        x2, y2 = target.centre, target.y
        pull = (y2 - y1) / 2
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + pull:.1f} {x2:.1f},{y2 - pull:.1f} {x2:.1f},{y2:.1f}"
        middle = ((x1 + x2) / 2, (y1 + y2) / 2)
    dash = ' stroke-dasharray="5 4"' if edge.dashed else ""
    drawn = (
        f'<path class="edge" d="{path}" fill="none" stroke="#546e7a" stroke-width="1.4"{dash} '
        'marker-end="url(#arrow)"/>'
    )
    if not edge.label:
        return drawn
    label = textwrap.shorten(edge.label, LABEL_CHARS, placeholder="…")
    box = len(label) * CHAR_WIDTH + 8
    x, y = middle
    return (
        f'<g class="edge-label"><title>{escape(edge.label)}</title>{drawn}'
        f'<rect x="{x - box / 2:.1f}" y="{y - 9:.1f}" width="{box:.1f}" height="16" rx="3" fill="#ffffff" '
        'fill-opacity="0.92"/>'
        f'<text x="{x:.1f}" y="{y + 3:.1f}" text-anchor="middle" font-size="11" fill="#37474f">{escape(label)}</text>'
        "</g>"
    )


def _node(placed: Placed) -> str:
    """A box shaped by kind (rounded, slanted, pointed or square) with the step id in bold and its text."""
    node, x, y = placed.node, placed.x, placed.y
    fill = _FILL.get(node.kind, "#ffffff")
    outline = f'fill="{fill}" stroke="#78909c" stroke-width="1.2"'
    if node.kind in SLANTED:
        points = [(x + 12, y), (x + WIDTH, y), (x + WIDTH - 12, y + HEIGHT), (x, y + HEIGHT)]
        shape = f'<polygon points="{_points(points)}" {outline}/>'
    elif node.kind in POINTED:
        mid = y + HEIGHT / 2
        points = [
            (x + 14, y),
            (x + WIDTH - 14, y),
            (x + WIDTH, mid),
            (x + WIDTH - 14, y + HEIGHT),
            (x + 14, y + HEIGHT),
        ]
        shape = f'<polygon points="{_points([*points, (x, mid)])}" {outline}/>'
    else:
        radius = HEIGHT / 2 if node.kind in ROUND else 6
        shape = f'<rect x="{x:.1f}" y="{y:.1f}" width="{WIDTH}" height="{HEIGHT}" rx="{radius:.0f}" {outline}/>'
    lines = [(node.title, True)] if node.title else []
    lines += [(line, False) for line in textwrap.wrap(node.text, LINE_CHARS, max_lines=2, placeholder=" …")]
    top = y + HEIGHT / 2 - (len(lines) - 1) * 7.5 + 4
    texts = [
        f'<text x="{placed.centre:.1f}" y="{top + i * 15:.1f}" text-anchor="middle" font-size="12"'
        f'{BOLD if bold else ""} fill="#263238">{escape(line)}</text>'
        for i, (line, bold) in enumerate(lines)
    ]
    hint = f"{node.kind} {node.title}: {node.text}" if node.title else node.text
    opening = f'<g class="node node-{node.kind}" data-node="{escape(node.id)}"><title>{escape(hint)}</title>'
    return f"{opening}{shape}{''.join(texts)}</g>"


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
