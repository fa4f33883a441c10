"""`bot graph FLOW`: a flow as a Mermaid flowchart, a node per step shaped by kind, edges labelled with their cause."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.engine import flow as f
from bot.engine.flow_file import load_flows
from bot.engine.graph import TEXT_LIMIT, escape, graph_flow, mermaid, node_id, shorten
from bot.errors import ConfigError, NotFound

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "flows"
NODE = re.compile(r"^    ([A-Za-z0-9_]+)[(\[{>]")
EDGE = re.compile(r"^    ([A-Za-z0-9_]+) (-->|-\.->)(?:\|\"([^\"]*)\"\|)? ([A-Za-z0-9_]+)$")


def nodes(diagram: str) -> list[str]:
    return [m[1] for line in diagram.splitlines() if (m := NODE.match(line))]


def edges(diagram: str) -> list[tuple[str, str, str | None, str]]:
    """Each edge as (source, arrow, label, target)."""
    return [(m[1], m[2], m[3], m[4]) for line in diagram.splitlines() if (m := EDGE.match(line))]


def say(text: str) -> f.Text:
    return f.Text(inline=text)


def tiny() -> f.Flow:
    """A small flow with one step of most kinds, built in code."""
    steps: list[f.AnyStep] = [
        f.Say("hello", text=say("Hi!"), next="menu"),
        f.Choose(
            "menu",
            prompt=say("What now?"),
            options=(f.Option("size", "Pick a size", next="size"), f.Option("agent", "A person", next="agent")),
            on_exhausted="agent",
            timeout=timedelta(minutes=10),
            on_timeout="bye",
        ),
        f.Ask("size", prompt=say("Which size?"), slot="size", next="save", on_exhausted="bye"),
        f.Act("save", action="orders.save", result="saved", on_error="sorry", next="route"),
        f.Branch("route", cases=(f.Case('saved.size == "large"', "large"),), otherwise="thanks"),
        f.Say("large", text=say("Large it is.")),  # no next: the flow ends here
        f.Call("thanks", flow="survey", next="bye"),
        f.Goto("sorry", goto="agent"),
        f.Handoff("agent", text=say("A person will reply.")),
        f.End("bye", text=say("Bye!")),
    ]
    return f.Flow("tiny", "hello", {s.id: s for s in steps}, "v1")


def test_the_shipped_flows_render_with_a_node_per_step_and_an_edge_per_target() -> None:
    """Every shipped flow renders; each step is a node, and every place `Flow.targets` names is an edge's end."""
    flows, _ = load_flows(SHIPPED)
    assert set(flows) == {"main", "orders", "balance", "appointments", "stores"}
    for name, flow in flows.items():
        diagram = graph_flow(SHIPPED, name)
        assert diagram.startswith("flowchart TD\n")
        assert {node_id(s) for s in flow.steps} <= set(nodes(diagram))
        drawn = {(source, target) for source, _, _, target in edges(diagram)}
        for step in flow.steps.values():
            for _, target in flow.targets(step):
                assert (node_id(step.id), node_id(target)) in drawn, (name, step.id, target)


def test_a_small_flow_has_its_nodes_shapes_and_labelled_edges() -> None:
    """Shapes follow the kind; edges carry option titles, exits, conditions and otherwise; on_error is dashed."""
    diagram = mermaid(tiny())
    lines = diagram.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1] == "%% flow tiny"
    # the ten steps, start, the called flow and the flow's end
    assert len(nodes(diagram)) == 13
    assert len(edges(diagram)) == 16
    for line in (
        '__start(("start"))',
        's_hello("<b>hello</b><br/>Hi!")',
        's_menu[\\"<b>menu</b><br/>What now?"\\]',
        's_size[/"<b>size</b><br/>Which size? → size"/]',
        's_save[["<b>save</b><br/>act orders.save → saved"]]',
        's_route{"<b>route</b><br/>branch"}',
        's_thanks[["<b>thanks</b><br/>call survey"]]',
        's_sorry(("<b>sorry</b><br/>goto"))',
        's_agent(["<b>agent</b><br/>handoff: A person will reply."])',
        's_bye(["<b>bye</b><br/>end: Bye!"])',
        'flow__survey>"flow survey"]',
        '__end(("end"))',
        "__start --> s_hello",
        "s_hello --> s_menu",
        's_menu -->|"Pick a size"| s_size',
        's_menu -->|"A person"| s_agent',
        's_menu -->|"on_exhausted"| s_agent',
        's_menu -->|"on_timeout"| s_bye',
        's_size -->|"on_exhausted"| s_bye',
        's_save -.->|"on_error"| s_sorry',
        's_route -->|"saved.size == #quot;large#quot;"| s_large',
        's_route -->|"otherwise"| s_thanks',
        's_thanks -.->|"calls"| flow__survey',
        "s_thanks --> s_bye",
        "s_sorry --> s_agent",
        "s_large --> __end",
    ):
        assert f"    {line}" in lines, line
    assert not any(line.startswith(("    s_agent -", "    s_bye -")) for line in lines)


def test_a_step_without_next_in_a_called_flow_returns_to_its_caller() -> None:
    """In a flow another flow calls, a step with no next draws an edge to a `return` node instead of `end`."""
    diagram = mermaid(tiny(), called=True)
    assert "    s_large --> __return" in diagram
    assert '    __return(("return"))' in diagram
    assert "__end" not in diagram
    shipped = graph_flow(SHIPPED, "orders")  # main calls orders
    assert "    s_status --> __return" in shipped
    assert "    s_agent_offer --> __end" in graph_flow(SHIPPED, "main")  # nothing calls main


def test_an_option_without_next_and_options_from_a_slot_go_to_the_steps_next() -> None:
    """Options without a next of their own, and rows from `options_from`, are edges to the step's next."""
    choose = f.Choose(
        "pick", prompt=say("Which?"), options=(f.Option("a", "Alpha"),), options_from="recent", next="done"
    )
    flow = f.Flow("picks", "pick", {"pick": choose, "done": f.End("done")}, "v1")
    assert edges(mermaid(flow))[1:] == [
        ("s_pick", "-->", "Alpha", "s_done"),
        ("s_pick", "-->", "from recent", "s_done"),
    ]


def test_texts_are_escaped_for_mermaid() -> None:
    """Quotes, brackets, braces, `#`, `<`, `>`, pipes and backticks become entity codes; newlines become spaces."""
    assert escape('He said "hi" [now] (ok) {{ x }} #1 <b>a & b</b> | `c`\nnext') == (
        "He said #quot;hi#quot; #91;now#93; #40;ok#41; #123;#123; x #125;#125; #35;1 "
        "#60;b#62;a #38; b#60;/b#62; #124; #96;c#96; next"
    )
    text = 'Order "{{ n }}" <shipped> #5 [late]'
    flow = f.Flow("quoted", "s", {"s": f.Say("s", text=say(text))}, "v1")
    [node] = [line for line in mermaid(flow).splitlines() if line.startswith("    s_s(")]
    label = node.removeprefix('    s_s("').removesuffix('")')
    assert '"' not in label
    assert "[" not in label
    assert "<shipped>" not in label
    assert "#quot;#123;#123; n #125;#125;#quot; #60;shipped#62; #35;5 #91;late#93;" in label


def test_long_texts_are_shortened_at_a_word() -> None:
    """A step's text is cut to TEXT_LIMIT characters at a word boundary, with an ellipsis."""
    text = "What is your order number? You find it in your order confirmation email."
    short = shorten(text)
    assert len(short) <= TEXT_LIMIT
    assert short == "What is your order number? You find it in your…"
    assert shorten("Short enough.") == "Short enough."


def test_step_ids_that_are_mermaid_syntax_are_safe() -> None:
    """Ids like `end` or starting with `o`/`x` are prefixed, so they never read as keywords or edge heads."""
    steps = {"end": f.Say("end", text=say("a"), next="o1"), "o1": f.Say("o1", text=say("b"), next="x")}
    steps["x"] = f.End("x")
    diagram = mermaid(f.Flow("ids", "end", steps, "v1"))
    assert "    s_end --> s_o1" in diagram
    assert "    s_o1 --> s_x" in diagram


def test_a_target_that_is_not_a_step_is_drawn_as_missing() -> None:
    """A flow built in code that names an unknown step still renders, with the missing step marked."""
    flow = f.Flow("broken", "a", {"a": f.Say("a", text=say("hi"), next="ghost")}, "v1")
    diagram = mermaid(flow)
    assert '    s_ghost["missing step ghost"]' in diagram
    assert "    s_a --> s_ghost" in diagram


def test_an_unknown_flow_is_an_error_that_lists_the_known_flows() -> None:
    """Asking for a flow that does not exist raises NotFound naming the flows there are."""
    with pytest.raises(NotFound) as raised:
        graph_flow(SHIPPED, "ordrs")
    assert (
        raised.value.message
        == f"no flow 'ordrs' in {SHIPPED}; known flows: appointments, balance, main, orders, stores"
    )


def test_a_flow_whose_file_has_errors_says_so(tmp_path: Path) -> None:
    """A flow file that does not read is a ConfigError with its problems, not an unknown flow."""
    (tmp_path / "bad.yaml").write_text("flow: bad\nstart: a\nsteps:\n  - {id: a, say: hi, colour: red}\n")
    with pytest.raises(ConfigError) as raised:
        graph_flow(tmp_path, "bad")
    assert raised.value.message.startswith("flow 'bad' has errors (run `bot check`):\n")
    assert f"{tmp_path / 'bad.yaml'}:4:" in raised.value.message


def test_bot_graph_prints_the_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot graph orders` prints the diagram on stdout and exits 0."""
    assert main(["--env-file", "/nonexistent", "graph", "orders", "--flows", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert out == graph_flow(SHIPPED, "orders")
    assert '    s_route -->|"order.status == #quot;shipped#quot;"| s_shipped' in out


def test_bot_graph_of_an_unknown_flow_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot graph nope` prints the error with the known flows on stderr and exits 2."""
    assert main(["--env-file", "/nonexistent", "graph", "nope", "--flows", str(SHIPPED)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"bot: error: no flow 'nope' in {SHIPPED}; known flows: appointments, balance, main, orders, stores\n"
    )
