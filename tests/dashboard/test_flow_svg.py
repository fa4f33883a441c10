"""A flow graph drawn as SVG on the server: well-formed, nodes placed without overlap, loops found, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from bot.dashboard.flow_svg import HEIGHT, WIDTH, back_edges, layers, place, svg
from bot.engine import flow as f
from bot.engine.flow_file import load_flows
from bot.engine.graph import flow_graph, is_called
from tests.engine.test_graph import say, tiny

SHIPPED = Path(__file__).resolve().parents[2] / "flows"
SVG = "{http://www.w3.org/2000/svg}"


def test_the_shipped_flows_draw_as_svg_with_a_box_per_node_and_a_path_per_edge() -> None:
    """Each shipped flow is well-formed SVG with one node group per graph node and one path per edge."""
    flows, _ = load_flows(SHIPPED)
    for name, flow in flows.items():
        graph = flow_graph(flow, called=is_called(flows, name))
        root = ET.fromstring(svg(graph))
        groups = [g.get("data-node") for g in root.iter(f"{SVG}g") if g.get("data-node")]
        assert sorted(groups) == sorted(node.id for node in graph.nodes), name
        assert len(list(root.iter(f"{SVG}path"))) == len(graph.edges) + 1  # and the arrowhead's
        assert root.get("role") == "img"


def test_boxes_never_overlap_and_stay_inside_the_drawing() -> None:
    """In every shipped flow, no two boxes share space and every box lies within the SVG's size."""
    flows, _ = load_flows(SHIPPED)
    for flow in flows.values():
        placed, width, height = place(flow_graph(flow))
        boxes = list(placed.values())
        for box in boxes:
            assert box.x >= 0
            assert box.y >= 0
            assert box.x + WIDTH <= width
            assert box.y + HEIGHT <= height
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert abs(a.x - b.x) >= WIDTH or abs(a.y - b.y) >= HEIGHT, (flow.name, a.node.id, b.node.id)


def test_a_loop_is_one_edge_back_up_and_every_other_edge_points_down() -> None:
    """Retrying a question is an edge back; the layering puts each node below all its forward predecessors."""
    steps: list[f.AnyStep] = [
        f.Ask("size", prompt=say("Which size?"), slot="size", next="check"),
        f.Branch("check", cases=(f.Case('size == "XL"', "size"),), otherwise="done"),
        f.End("done", text=say("Thanks")),
    ]
    graph = flow_graph(f.Flow("loop", "size", {s.id: s for s in steps}, "v1"))
    back = back_edges(graph)
    assert [(graph.edges[i].source, graph.edges[i].target) for i in back] == [("s_check", "s_size")]
    level = {node.id: depth for depth, row in enumerate(layers(graph)) for node in row}
    for index, edge in enumerate(graph.edges):
        if index not in back:
            assert level[edge.target] > level[edge.source], edge
    assert [n.id for n in layers(graph)[0]] == ["__start"]


def test_texts_are_escaped_in_the_drawing() -> None:
    """A step whose text holds markup shows it as text: the SVG parses and holds no element of the text's."""
    flow = f.Flow("x", "s", {"s": f.Say("s", text=say('<script>alert("1")</script> & co'))}, "v1")
    drawing = svg(flow_graph(flow))
    assert "<script>" not in drawing
    root = ET.fromstring(drawing)
    assert not list(root.iter("script"))
    assert not list(root.iter(f"{SVG}script"))
    shown = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert '<script>alert("1")</script>' in shown


def test_the_small_flow_has_its_kinds_shapes_and_dashed_error_edges() -> None:
    """Asks are slanted, branches pointed, ends round; on_error and calls are dashed."""
    root = ET.fromstring(svg(flow_graph(tiny())))
    shapes = {g.get("data-node"): g[1].tag.removeprefix(SVG) for g in root.iter(f"{SVG}g") if g.get("data-node")}
    assert shapes["s_size"] == "polygon"
    assert shapes["s_route"] == "polygon"
    assert shapes["s_hello"] == "rect"
    dashed = [p for p in root.iter(f"{SVG}path") if p.get("stroke-dasharray")]
    assert len(dashed) == 2  # save's on_error, and the call to survey
