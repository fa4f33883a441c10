"""`bot graph FLOW`: a flow as a Mermaid flowchart, one node per step shaped by kind, edges saying what takes them.

Shapes: `say` rounded, `ask` a parallelogram, `choose` the mirrored parallelogram, `branch` a rhombus with
its conditions on the edges, `act` and `call` subroutine boxes (an action's `on_error` dashed, a call
dashed to the called flow), `verify` a hexagon, `goto` a small circle, `handoff` and `end` terminal
stadiums. Where a step has no `next` the flow ends, or, in a flow other flows call, returns to its caller:
those edges go to an `end` or `return` node. Texts are shortened and escaped so any flow renders.
https://mermaid.js.org/syntax/flowchart.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.engine import flow as f
from bot.engine.flow_file import SUFFIX, load_flows
from bot.errors import ConfigError, NotFound

TEXT_LIMIT = 48  # characters of a step's text shown in its node
START, RETURN, END = "__start", "__return", "__end"
# Mermaid reads these inside a quoted label as markup or as the label's end; its entity codes show them as is.
# `#` goes first: every other code starts with one.
_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#60;",
    ">": "#62;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
    "&": "#38;",
    "`": "#96;",
}
_SPACES = re.compile(r"\s+")
_NOT_ID = re.compile(r"[^A-Za-z0-9_]")
# Each step type's kind, as nodes name it.
_KINDS: dict[type, str] = {
    f.Say: "say",
    f.Ask: "ask",
    f.Choose: "choose",
    f.RequestLocation: "request_location",
    f.Link: "link",
    f.Form: "form",
    f.Branch: "branch",
    f.Act: "act",
    f.Http: "http",
    f.Call: "call",
    f.Verify: "verify",
    f.Goto: "goto",
    f.Handoff: "handoff",
    f.End: "end",
}
# Opening and closing marks of each kind's node shape; the last five are the nodes that are not steps.
_SHAPES: dict[str, tuple[str, str]] = {
    "say": ("(", ")"),
    "ask": ("[/", "/]"),
    "choose": ("[\\", "\\]"),
    "request_location": ("[/", "/]"),
    "link": ("(", ")"),
    "form": ("[/", "/]"),
    "branch": ("{", "}"),
    "act": ("[[", "]]"),
    "http": ("[[", "]]"),
    "call": ("[[", "]]"),
    "verify": ("{{", "}}"),
    "goto": ("((", "))"),
    "handoff": ("([", "])"),
    "end": ("([", "])"),
    "start": ("((", "))"),
    "finish": ("((", "))"),
    "missing": ("[", "]"),
    "flow": (">", "]"),
}


def escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: one line, with Mermaid's markup characters as entity codes."""
    return "".join(_ESCAPES.get(char, char) for char in _SPACES.sub(" ", text).strip())


def shorten(text: str, limit: int = TEXT_LIMIT) -> str:
    """At most `limit` characters on one line, cut at a word where one is near, with an ellipsis."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"


def node_id(step_id: str) -> str:
    """A step's Mermaid node id; the prefix keeps ids such as `end` or `o…` from reading as syntax."""
    return "s_" + _NOT_ID.sub("_", step_id)


@dataclass(frozen=True)
class Node:
    """A box of the diagram: a step (`title` is its id) or a start, end, return, missing step or called flow.

    `kind` is the step's kind, or `start`, `finish` (the flow's end or its return), `missing` or `flow`.
    `text` is plain and already shortened; each drawing escapes it for its own syntax.
    """

    id: str
    kind: str
    text: str
    title: str | None = None


@dataclass(frozen=True)
class Edge:
    """An arrow between two nodes, with what takes it (plain, shortened) and dashed for errors and calls."""

    source: str
    target: str
    label: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Graph:
    """A flow as nodes and edges, drawn as Mermaid text by `mermaid` and as SVG by `bot.dashboard.flow_svg`."""

    name: str
    description: str | None
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


@dataclass
class _Diagram:
    """The graph being built: step nodes, then the other nodes, and edges."""

    flow: f.Flow
    called: bool
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    extra: dict[str, Node] = field(default_factory=dict)  # node id → node, for nodes that are not steps

    def edge(self, source: str, target: str, label: str | None = None, *, dashed: bool = False) -> None:
        self.edges.append(Edge(source, target, shorten(label, TEXT_LIMIT) if label else None, dashed))

    def to_step(self, source: f.AnyStep, target: str | None, label: str | None = None, *, dashed: bool = False) -> None:
        """An edge to a step; to the flow's end (or its return to the caller) when `target` is None."""
        if target is None:
            self.edge(node_id(source.id), self._fallthrough(), label, dashed=dashed)
            return
        if self.flow.step(target) is None:
            self.missing(target)
        self.edge(node_id(source.id), node_id(target), label, dashed=dashed)

    def missing(self, step_id: str) -> None:
        self.extra.setdefault(node_id(step_id), Node(node_id(step_id), "missing", f"missing step {step_id}"))

    def _fallthrough(self) -> str:
        ident, word = (RETURN, "return") if self.called else (END, "end")
        self.extra.setdefault(ident, Node(ident, "finish", word))
        return ident


def flow_graph(flow: f.Flow, *, called: bool = False) -> Graph:
    """The flow's nodes and edges; `called` when other flows call it, so a missing next returns."""
    diagram = _Diagram(flow, called)
    diagram.nodes.append(Node(START, "start", "start"))
    diagram.edges.append(Edge(START, node_id(flow.start)))
    if flow.step(flow.start) is None:
        diagram.missing(flow.start)
    for step in flow.steps.values():
        diagram.nodes.append(Node(node_id(step.id), _KINDS[type(step)], shorten(_summary(step)), step.id))
        _edges(diagram, step)
    description = _SPACES.sub(" ", flow.description).strip() if flow.description else None
    return Graph(flow.name, description, (*diagram.nodes, *diagram.extra.values()), tuple(diagram.edges))


def mermaid(flow: f.Flow, *, called: bool = False) -> str:
    """The flow as a Mermaid `flowchart TD`; `called` when other flows call it, so a missing next returns."""
    graph = flow_graph(flow, called=called)
    lines = [*(_mermaid_node(node) for node in graph.nodes), *(_mermaid_edge(edge) for edge in graph.edges)]
    title = f"%% flow {graph.name}" + (f": {graph.description}" if graph.description else "")
    return "\n".join(["flowchart TD", title, *(f"    {line}" for line in lines)]) + "\n"


def _mermaid_node(node: Node) -> str:
    """A node declaration; a step's label is its id in bold, then what it says or does."""
    opening, closing = _SHAPES[node.kind]
    label = escape(node.text) if node.title is None else f"<b>{escape(node.title)}</b><br/>{escape(node.text)}"
    return f'{node.id}{opening}"{label}"{closing}'


def _mermaid_edge(edge: Edge) -> str:
    arrow = "-.->" if edge.dashed else "-->"
    shown = f'|"{escape(edge.label)}"|' if edge.label else ""
    return f"{edge.source} {arrow}{shown} {edge.target}"


def _summary(step: f.AnyStep) -> str:
    if isinstance(step, f.Say) and step.media is not None:  # a file: its kind and where it comes from
        return f"{step.media.kind} {step.media.file or step.media.link}"
    if isinstance(step, f.Say):
        return _text(step.text)
    if isinstance(step, f.Ask):
        return f"{_text(step.prompt)} → {step.slot}"
    if isinstance(step, f.Choose):
        return _text(step.prompt)
    if isinstance(step, f.RequestLocation):
        return f"{_text(step.prompt)} → {step.slot} (location)"
    if isinstance(step, f.Link):
        return f"{_text(step.text)} [{step.button}]"
    if isinstance(step, f.Form):
        return f"form {step.flow_json}" + (f" → {', '.join(step.fields)}" if step.fields else "")
    if isinstance(step, f.Act):
        return f"act {step.action}" + (f" → {step.result}" if step.result else "")
    if isinstance(step, f.Http):
        return f"http {step.endpoint}" + (f" → {step.result}" if step.result else "")
    if isinstance(step, f.Branch):
        return "branch"
    if isinstance(step, f.Goto):
        return "goto"
    if isinstance(step, f.Call):
        return f"call {step.flow}"
    if isinstance(step, f.Verify):
        return f"verify {step.purpose}"
    if isinstance(step, f.Handoff):
        return "handoff" + (f": {_text(step.text)}" if step.text else "")
    return "end" + (f": {_text(step.text)}" if step.text else "")


def _text(text: f.Text) -> str:
    return f"template {text.template}" if text.template is not None else (text.inline_for(None) or "")


def _edges(diagram: _Diagram, step: f.AnyStep) -> None:
    if isinstance(step, f.Say | f.Link):
        diagram.to_step(step, step.next)
    elif isinstance(step, f.Ask | f.RequestLocation | f.Form):
        diagram.to_step(step, step.next)
        _waiting_exits(diagram, step)
    elif isinstance(step, f.Choose):
        for option in step.options:
            diagram.to_step(step, option.next or step.next, option.title)
        if step.options_from:
            diagram.to_step(step, step.next, f"from {step.options_from}")
        _waiting_exits(diagram, step)
    elif isinstance(step, f.Act | f.Http):
        diagram.to_step(step, step.next)
        if step.on_error:
            diagram.to_step(step, step.on_error, "on_error", dashed=True)
    elif isinstance(step, f.Branch):
        for case in step.cases:
            diagram.to_step(step, case.goto, case.when)
        if step.otherwise:
            diagram.to_step(step, step.otherwise, "otherwise")
    elif isinstance(step, f.Goto):
        diagram.to_step(step, step.goto)
    elif isinstance(step, f.Call):
        called = "flow__" + _NOT_ID.sub("_", step.flow)
        diagram.extra.setdefault(called, Node(called, "flow", f"flow {step.flow}"))
        diagram.edge(node_id(step.id), called, "calls", dashed=True)
        diagram.to_step(step, step.next)
    elif isinstance(step, f.Verify):
        diagram.to_step(step, step.next, "verified")
        if step.on_failure:
            diagram.to_step(step, step.on_failure, "on_failure")
    # handoff and end are where the bot stops: no edges out


def _waiting_exits(diagram: _Diagram, step: f.WaitingStep) -> None:
    if step.on_exhausted:
        diagram.to_step(step, step.on_exhausted, "on_exhausted")
    if step.on_timeout:
        diagram.to_step(step, step.on_timeout, "on_timeout")


def graph_flow(folder: Path, name: str) -> str:
    """The Mermaid diagram of flow `name` in `folder`; `NotFound` (listing the flows) or `ConfigError` if none."""
    flows, problems = load_flows(folder)
    flow = flows.get(name)
    if flow is None:
        path = folder / f"{name}{SUFFIX}"
        errors = [str(p) for p in problems if p.severity == "error" and Path(p.path) == path]
        if errors:
            raise ConfigError(f"flow {name!r} has errors (run `bot check`):\n" + "\n".join(errors))
        known = ", ".join(sorted(flows)) or "none"
        raise NotFound(f"no flow {name!r} in {folder}; known flows: {known}")
    return mermaid(flow, called=is_called(flows, name))


def is_called(flows: Mapping[str, f.Flow], name: str) -> bool:
    """Whether another flow calls flow `name`: then a step without a next returns to its caller."""
    return any(isinstance(s, f.Call) and s.flow == name for other in flows.values() for s in other.steps.values())
