"""The DAG layout and its SVG: edges point right, boxes never overlap, crossings are
reduced, the same graph is drawn the same way, and every string is escaped."""

from __future__ import annotations

import random
import re
from itertools import pairwise

import pytest

from shipyard.console.graphs import LABEL_CHARS, GraphNode, layout_dag, render_dag


def random_dag(
    seed: int, nodes: int = 30, edges: int = 50
) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    ids = [f"n{i}" for i in range(nodes)]
    pairs = set()
    while len(pairs) < edges:
        a, b = sorted(rng.sample(range(nodes), 2))
        pairs.add((ids[a], ids[b]))
    shuffled = list(ids)
    rng.shuffle(shuffled)
    return shuffled, sorted(pairs)


def overlaps(a, b) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


@pytest.mark.parametrize("seed", range(5))
def test_every_edge_points_right_and_no_boxes_overlap(seed):
    ids, edges = random_dag(seed)
    layout = layout_dag(ids, edges)

    assert sorted(layout.boxes) == sorted(ids)
    layer_of = {node: i for i, layer in enumerate(layout.layers) for node in layer}
    for source, target in edges:
        assert layer_of[source] < layer_of[target]
        assert layout.boxes[source].right < layout.boxes[target].x
        points = layout.routes[(source, target)]
        assert all(x1 <= x2 for (x1, _), (x2, _) in pairwise(points))
    boxes = list(layout.boxes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlaps(a, b)
        assert a.x >= 0 and a.x + a.width <= layout.width
        assert a.y >= 0 and a.y + a.height <= layout.height


def test_layers_are_longest_paths_from_the_sources():
    layout = layout_dag(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")])
    assert layout.layers == [["a", "d"], ["b"], ["c"]]


def test_a_long_edge_runs_in_a_lane_between_the_boxes_it_passes():
    layout = layout_dag(["a", "b", "c", "x"], [("a", "b"), ("b", "c"), ("a", "c"), ("x", "b")])
    route = layout.routes[("a", "c")]
    assert len(route) == 4  # out of a, into and out of b's layer, into c
    lane_y = route[1][1]
    assert route[1][1] == route[2][1]
    box = layout.boxes["b"]
    assert not box.y <= lane_y <= box.y + box.height
    assert layout.boxes["x"].x == layout.boxes["a"].x


def test_sweeps_untangle_crossed_chains():
    # given in the worst order: a→y and b→x cross until one layer is reordered
    edges = [("a", "y"), ("b", "x"), ("c", "z"), ("x", "p"), ("y", "q")]
    layout = layout_dag(["a", "b", "c", "x", "y", "z", "p", "q"], edges)
    assert layout.crossings == 0
    order = {node: i for layer in layout.layers for i, node in enumerate(layer)}
    assert (order["a"] < order["b"]) == (order["y"] < order["x"])


def test_the_same_graph_gives_the_same_drawing():
    ids, edges = random_dag(7)
    nodes = [GraphNode(i, i.upper(), "kind") for i in ids]
    first = render_dag(nodes, edges)
    assert render_dag(nodes, edges) == first
    assert layout_dag(ids, edges) == layout_dag(list(ids), list(edges))


def test_bad_edges_are_left_out_and_duplicate_nodes_refused():
    layout = layout_dag(
        ["a", "b"], [("a", "b"), ("a", "b"), ("a", "a"), ("a", "nowhere"), ("b", "a")]
    )
    assert list(layout.routes) == [("a", "b")]  # the repeat, the loop, the stranger, the cycle
    assert layout.layers == [["a"], ["b"]]
    with pytest.raises(ValueError, match="unique"):
        layout_dag(["a", "a"], [])
    assert layout_dag([], []).layers == []
    assert str(render_dag([], [])).startswith('<svg class="dag"')


def test_nodes_are_groups_with_their_id_class_and_link():
    svg = str(
        render_dag(
            [
                GraphNode(
                    "srn:shipyard:endpoint/e",
                    "e",
                    "endpoint",
                    "/console/endpoints/e",
                    "status-Succeeded",
                ),
                GraphNode("srn:shipyard:model/m", "m", "model"),
            ],
            [("srn:shipyard:model/m", "srn:shipyard:endpoint/e")],
        )
    )
    assert svg.count("data-node-id=") == 2
    assert '<g class="dag-node status-Succeeded" data-node-id="srn:shipyard:endpoint/e"' in svg
    assert '<a href="/console/endpoints/e">' in svg
    assert svg.count("<a ") == 1
    assert svg.count('class="dag-edge"') == 1 and svg.count('class="dag-arrow"') == 1
    assert re.search(
        r'data-source="srn:shipyard:model/m" data-target="srn:shipyard:endpoint/e"', svg
    )


def test_every_string_is_escaped():
    evil = '"><script>alert(1)</script>&'
    svg = str(
        render_dag(
            [
                GraphNode(evil, evil, evil, href=f"/console/x?q={evil}", css_class=evil),
                GraphNode("b", "b"),
            ],
            [(evil, "b")],
            label=evil,
        )
    )
    assert "<script>" not in svg
    assert '"><script' not in svg and evil not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg and "&#34;" in svg


def test_long_text_is_cut_with_the_whole_in_the_tooltip():
    long = "x" * 80
    svg = str(render_dag([GraphNode("a", long, "y" * 80)], []))
    assert f"<title>{long} — {'y' * 80}</title>" in svg
    assert f">{'x' * (LABEL_CHARS - 1)}…</text>" in svg


@pytest.mark.parametrize("href", ["javascript:alert(1)", "//evil.example/x", "data:text/html,x"])
def test_a_link_that_is_not_the_consoles_is_refused(href):
    with pytest.raises(ValueError, match="refusing"):
        render_dag([GraphNode("a", "a", href=href)], [])
