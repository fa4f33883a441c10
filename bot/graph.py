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
from dataclasses import dataclass, field
from pathlib import Path

from bot import flow as f
from bot.errors import ConfigError, NotFound
from bot.flow_file import SUFFIX, load_flows

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
# Opening and closing marks of each kind's node shape.
_SHAPES: dict[type, tuple[str, str]] = {
    f.Say: ("(", ")"),
    f.Ask: ("[/", "/]"),
    f.Choose: ("[\\", "\\]"),
    f.Branch: ("{", "}"),
    f.Act: ("[[", "]]"),
    f.Call: ("[[", "]]"),
    f.Verify: ("{{", "}}"),
    f.Goto: ("((", "))"),
    f.Handoff: ("([", "])"),
    f.End: ("([", "])"),
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


@dataclass
class _Diagram:
    """The lines being drawn: node declarations, then edges."""

    flow: f.Flow
    called: bool
    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # node id → declaration, for nodes that are not steps

    def node(self, ident: str, shape: tuple[str, str], label: str) -> str:
        return f'{ident}{shape[0]}"{label}"{shape[1]}'

    def edge(self, source: str, target: str, label: str | None = None, *, dashed: bool = False) -> None:
        arrow = "-.->" if dashed else "-->"
        shown = f'|"{escape(shorten(label, TEXT_LIMIT))}"|' if label else ""
        self.edges.append(f"{source} {arrow}{shown} {target}")

    def to_step(self, source: f.AnyStep, target: str | None, label: str | None = None, *, dashed: bool = False) -> None:
        """An edge to a step; to the flow's end (or its return to the caller) when `target` is None."""
        if target is None:
            self.edge(node_id(source.id), self._fallthrough(), label, dashed=dashed)
            return
        if self.flow.step(target) is None:
            missing = node_id(target)
            self.extra.setdefault(missing, self.node(missing, ("[", "]"), escape(f"missing step {target}")))
        self.edge(node_id(source.id), node_id(target), label, dashed=dashed)

    def _fallthrough(self) -> str:
        ident, word = (RETURN, "return") if self.called else (END, "end")
        self.extra.setdefault(ident, self.node(ident, ("((", "))"), word))
        return ident

    def lines(self) -> list[str]:
        return [*self.nodes, *self.extra.values(), *self.edges]


def mermaid(flow: f.Flow, *, called: bool = False) -> str:
    """The flow as a Mermaid `flowchart TD`; `called` when other flows call it, so a missing next returns."""
    diagram = _Diagram(flow, called)
    diagram.nodes.append(diagram.node(START, ("((", "))"), "start"))
    diagram.edges.append(f"{START} --> {node_id(flow.start)}")
    if flow.step(flow.start) is None:
        diagram.extra[node_id(flow.start)] = diagram.node(
            node_id(flow.start), ("[", "]"), escape(f"missing step {flow.start}")
        )
    for step in flow.steps.values():
        diagram.nodes.append(diagram.node(node_id(step.id), _SHAPES[type(step)], _label(step)))
        _edges(diagram, step)
    title = f"%% flow {flow.name}" + (f": {_SPACES.sub(' ', flow.description).strip()}" if flow.description else "")
    return "\n".join(["flowchart TD", title, *(f"    {line}" for line in diagram.lines())]) + "\n"


def _label(step: f.AnyStep) -> str:
    """The step's id in bold, then what it says or does, shortened."""
    return f"<b>{escape(step.id)}</b><br/>{escape(shorten(_summary(step)))}"


def _summary(step: f.AnyStep) -> str:
    if isinstance(step, f.Say):
        return _text(step.text)
    if isinstance(step, f.Ask):
        return f"{_text(step.prompt)} → {step.slot}"
    if isinstance(step, f.Choose):
        return _text(step.prompt)
    if isinstance(step, f.Act):
        return f"act {step.action}" + (f" → {step.result}" if step.result else "")
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
    return f"template {text.template}" if text.template is not None else (text.inline or "")


def _edges(diagram: _Diagram, step: f.AnyStep) -> None:
    if isinstance(step, f.Say):
        diagram.to_step(step, step.next)
    elif isinstance(step, f.Ask):
        diagram.to_step(step, step.next)
        _waiting_exits(diagram, step)
    elif isinstance(step, f.Choose):
        for option in step.options:
            diagram.to_step(step, option.next or step.next, option.title)
        if step.options_from:
            diagram.to_step(step, step.next, f"from {step.options_from}")
        _waiting_exits(diagram, step)
    elif isinstance(step, f.Act):
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
        diagram.extra.setdefault(called, diagram.node(called, (">", "]"), escape(f"flow {step.flow}")))
        diagram.edge(node_id(step.id), called, "calls", dashed=True)
        diagram.to_step(step, step.next)
    elif isinstance(step, f.Verify):
        diagram.to_step(step, step.next, "verified")
        if step.on_failure:
            diagram.to_step(step, step.on_failure, "on_failure")
    # handoff and end are where the bot stops: no edges out


def _waiting_exits(diagram: _Diagram, step: f.Ask | f.Choose) -> None:
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
    called = any(isinstance(s, f.Call) and s.flow == name for other in flows.values() for s in other.steps.values())
    return mermaid(flow, called=called)
