"""Small directed acyclic graphs drawn as inline SVG, left to right, with no dependency.

:func:`layout_dag` places the nodes the Sugiyama way, which suits the few dozen nodes of
a lineage or a pipeline: each node goes in the layer of its longest path from a source
(so every edge points right), an edge that spans several layers gets a slot in each
layer it crosses (so it runs between nodes, not through them), and a few sweeps order
each layer by the barycentre of its neighbours in the layer before (then after), keeping
the order with the fewest crossings. :func:`render_dag` draws that as rounded boxes and
curved arrows; every string that reaches the SVG is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from markupsafe import Markup, escape

NODE_WIDTH = 220.0
NODE_HEIGHT = 48.0
LAYER_GAP = 64.0  # between the columns of two layers, where the edges curve
NODE_GAP = 18.0  # between two boxes of one layer
LANE_GAP = 14.0  # the room a long edge takes where it crosses a layer
MARGIN = 8.0
ARROW = 8.0
TEXT_INSET = 12.0
LABEL_CHARS = 24  # what fits in a box at the stylesheet's sizes; longer text is cut
SUBLABEL_CHARS = 30
SWEEPS = 8
SAFE_HREF_PREFIXES = ("/", "?", "#", "https://", "http://")


@dataclass(frozen=True)
class GraphNode:
    """A box: ``label`` on top, ``sublabel`` under it, a link to ``href`` if given, and
    ``css_class`` on its group (``status-Succeeded``, ``kind-dataset``...)."""

    id: str
    label: str
    sublabel: str = ""
    href: str | None = None
    css_class: str = ""


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float = NODE_WIDTH
    height: float = NODE_HEIGHT

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def middle(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class DagLayout:
    """Where everything goes: ``layers`` (node ids, top to bottom, left to right), the
    ``boxes`` of the nodes, and each drawn edge's ``routes`` (the points it passes, from
    the source's right side to the target's left side)."""

    layers: list[list[str]]
    boxes: dict[str, Box]
    routes: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    width: float = 2 * MARGIN
    height: float = 2 * MARGIN
    crossings: int = 0


def layout_dag(node_ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> DagLayout:
    """Lay out the graph. Edges naming an unknown node, self-loops and repeats are left
    out, as is an edge that would close a cycle (a DAG has none). The same input always
    gives the same layout."""
    ids = list(dict.fromkeys(node_ids))
    if len(ids) != len(node_ids):
        raise ValueError("node ids must be unique")
    index = {node_id: i for i, node_id in enumerate(ids)}
    kept = _acyclic(len(ids), [(index[s], index[t]) for s, t in edges if s in index and t in index])
    layer_of = _longest_path_layers(len(ids), kept)

    # each edge becomes a chain of unit edges through one lane per layer it crosses
    layer_of_item = list(layer_of)
    chains: dict[tuple[int, int], list[int]] = {}
    for source, target in kept:
        chain = [source]
        for layer in range(layer_of[source] + 1, layer_of[target]):
            layer_of_item.append(layer)
            chain.append(len(layer_of_item) - 1)
        chains[(source, target)] = [*chain, target]
    predecessors: list[list[int]] = [[] for _ in layer_of_item]
    successors: list[list[int]] = [[] for _ in layer_of_item]
    for chain in chains.values():
        for a, b in pairwise(chain):
            successors[a].append(b)
            predecessors[b].append(a)

    count = max(layer_of, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(count)]
    for item, layer in enumerate(layer_of_item):
        layers[layer].append(item)
    layers, crossings = _ordered(layers, predecessors, successors)
    return _placed(ids, layers, chains, crossings)


def render_dag(
    nodes: Sequence[GraphNode], edges: Sequence[tuple[str, str]], *, label: str = "Graph"
) -> Markup:
    """An ``<svg class="dag">`` of the graph: each node a ``<g class="dag-node …">`` with
    ``data-node-id``, inside an ``<a>`` when it has an ``href``; each edge a path with an
    arrowhead at its target."""
    by_id = {node.id: node for node in nodes}
    layout = layout_dag([node.id for node in nodes], edges)
    width, height = _number(layout.width), _number(layout.height)
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" role="group" '
        f'aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        '<g class="dag-edges">',
    ]
    for (source, target), points in layout.routes.items():
        parts.append(_edge(source, target, points))
    parts.append("</g>")
    parts.append('<g class="dag-nodes">')
    for layer in layout.layers:
        for node_id in layer:
            parts.append(_node(by_id[node_id], layout.boxes[node_id]))
    parts.append("</g></svg>")
    return Markup("".join(parts))


# ---- layout ---------------------------------------------------------------------------
def _acyclic(count: int, edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The edges without repeats, self-loops and those that close a cycle (found by a
    depth-first search in input order)."""
    unique = [edge for edge in dict.fromkeys(edges) if edge[0] != edge[1]]
    successors: list[list[int]] = [[] for _ in range(count)]
    for source, target in unique:
        successors[source].append(target)
    state = [0] * count  # 0 unseen, 1 on the stack, 2 done
    back: set[tuple[int, int]] = set()
    for start in range(count):
        if state[start]:
            continue
        stack = [(start, iter(successors[start]))]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                state[node] = 2
                stack.pop()
            elif state[following] == 1:
                back.add((node, following))
            elif state[following] == 0:
                state[following] = 1
                stack.append((following, iter(successors[following])))
    return [edge for edge in unique if edge not in back]


def _longest_path_layers(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Each node's layer: 0 for a source, else one past its furthest predecessor."""
    successors: list[list[int]] = [[] for _ in range(count)]
    waiting = [0] * count
    for source, target in edges:
        successors[source].append(target)
        waiting[target] += 1
    layer = [0] * count
    ready = [node for node in range(count) if waiting[node] == 0]
    while ready:
        node = ready.pop(0)
        for following in successors[node]:
            layer[following] = max(layer[following], layer[node] + 1)
            waiting[following] -= 1
            if waiting[following] == 0:
                ready.append(following)
    return layer


def _ordered(
    layers: list[list[int]], predecessors: list[list[int]], successors: list[list[int]]
) -> tuple[list[list[int]], int]:
    """Sweep down and up, ordering each layer by its neighbours' mean position in the
    layer just swept; keep the ordering with the fewest crossings."""
    best = [list(layer) for layer in layers]
    fewest = _crossings(best, successors)
    current = [list(layer) for layer in layers]
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        for i in range(1, len(current)):
            current[i] = _by_barycentre(current[i], current[i - 1], predecessors)
        for i in range(len(current) - 2, -1, -1):
            current[i] = _by_barycentre(current[i], current[i + 1], successors)
        _transpose(current, predecessors, successors)
        crossings = _crossings(current, successors)
        if crossings < fewest:
            best, fewest = [list(layer) for layer in current], crossings
    return best, fewest


def _by_barycentre(layer: list[int], fixed: list[int], neighbours: list[list[int]]) -> list[int]:
    position = {item: i for i, item in enumerate(fixed)}

    def key(entry: tuple[int, int]) -> tuple[float, int]:
        at, item = entry
        placed = [position[n] for n in neighbours[item] if n in position]
        # scaled to the fixed layer, so a node without neighbours there keeps its place
        scale = (len(fixed) - 1) / (len(layer) - 1) if len(layer) > 1 else 0.0
        return (sum(placed) / len(placed) if placed else at * scale, at)

    return [item for _, item in sorted(enumerate(layer), key=key)]


def _transpose(
    layers: list[list[int]], predecessors: list[list[int]], successors: list[list[int]]
) -> None:
    """Swap neighbours in a layer while that removes crossings (the barycentre alone
    stalls on ties)."""
    for _ in range(SWEEPS):
        improved = False
        for i, layer in enumerate(layers):
            before = {item: p for p, item in enumerate(layers[i - 1])} if i > 0 else {}
            after = {item: p for p, item in enumerate(layers[i + 1])} if i + 1 < len(layers) else {}
            for p in range(len(layer) - 1):
                upper, lower = layer[p], layer[p + 1]
                kept = _pair_crossings(upper, lower, before, after, predecessors, successors)
                swapped = _pair_crossings(lower, upper, before, after, predecessors, successors)
                if swapped < kept:
                    layer[p], layer[p + 1] = lower, upper
                    improved = True
        if not improved:
            return


def _pair_crossings(
    upper: int,
    lower: int,
    before: dict[int, int],
    after: dict[int, int],
    predecessors: list[list[int]],
    successors: list[list[int]],
) -> int:
    """The crossings between the edges of ``upper`` and of ``lower`` (just below it)."""
    total = 0
    for position, neighbours in ((before, predecessors), (after, successors)):
        mine = [position[n] for n in neighbours[upper] if n in position]
        theirs = [position[n] for n in neighbours[lower] if n in position]
        total += sum(1 for a in mine for b in theirs if a > b)
    return total


def _crossings(layers: list[list[int]], successors: list[list[int]]) -> int:
    total = 0
    for left, right in pairwise(layers):
        position = {item: i for i, item in enumerate(right)}
        spans = [(i, position[t]) for i, s in enumerate(left) for t in successors[s]]
        total += sum(
            1
            for a, (s1, t1) in enumerate(spans)
            for s2, t2 in spans[a + 1 :]
            if (s1 - s2) * (t1 - t2) < 0
        )
    return total


def _placed(
    ids: list[str],
    layers: list[list[int]],
    chains: dict[tuple[int, int], list[int]],
    crossings: int,
) -> DagLayout:
    """Columns left to right, each layer's boxes and lanes stacked and centred."""

    def extent(item: int) -> float:
        return NODE_HEIGHT if item < len(ids) else 0.0

    def stacked(layer: list[int]) -> float:
        gaps = [NODE_GAP if item < len(ids) else LANE_GAP for item in layer]
        return sum(extent(item) for item in layer) + sum(gaps) - (gaps[-1] if gaps else 0.0)

    tallest = max((stacked(layer) for layer in layers), default=0.0)
    boxes: dict[str, Box] = {}
    lanes: dict[int, tuple[float, float]] = {}  # a long edge's lane: (left x, y)
    for column, layer in enumerate(layers):
        x = MARGIN + column * (NODE_WIDTH + LAYER_GAP)
        y = MARGIN + (tallest - stacked(layer)) / 2
        for item in layer:
            if item < len(ids):
                boxes[ids[item]] = Box(x, y)
                y += NODE_HEIGHT + NODE_GAP
            else:
                lanes[item] = (x, y)
                y += LANE_GAP
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (source, target), chain in chains.items():
        start, end = boxes[ids[source]], boxes[ids[target]]
        points = [(start.right, start.middle)]
        for lane in chain[1:-1]:
            x, y = lanes[lane]
            points += [(x, y), (x + NODE_WIDTH, y)]
        points.append((end.x, end.middle))
        routes[(ids[source], ids[target])] = points
    width = MARGIN * 2 + len(layers) * NODE_WIDTH + max(len(layers) - 1, 0) * LAYER_GAP
    return DagLayout(
        layers=[[ids[item] for item in layer if item < len(ids)] for layer in layers],
        boxes=boxes,
        routes=routes,
        width=width,
        height=MARGIN * 2 + tallest,
        crossings=crossings,
    )


# ---- drawing --------------------------------------------------------------------------
def _edge(source: str, target: str, points: list[tuple[float, float]]) -> str:
    *path, (end_x, end_y) = points
    path.append((end_x - ARROW, end_y))
    d = [f"M{_number(path[0][0])} {_number(path[0][1])}"]
    for (x1, y1), (x2, y2) in pairwise(path):
        bend = (x2 - x1) / 2
        d.append(
            f"C{_number(x1 + bend)} {_number(y1)} {_number(x2 - bend)} {_number(y2)} "
            f"{_number(x2)} {_number(y2)}"
        )
    arrow = (
        f"M{_number(end_x)} {_number(end_y)} L{_number(end_x - ARROW)} {_number(end_y - 4)} "
        f"L{_number(end_x - ARROW)} {_number(end_y + 4)} Z"
    )
    return (
        f'<g class="dag-edge" data-source="{escape(source)}" data-target="{escape(target)}">'
        f'<path class="dag-line" d="{" ".join(d)}"/><path class="dag-arrow" d="{arrow}"/></g>'
    )


def _node(node: GraphNode, box: Box) -> str:
    classes = " ".join(["dag-node", *node.css_class.split()])
    tooltip = f"{node.label} — {node.sublabel}" if node.sublabel else node.label
    label_y = TEXT_INSET + 8 if node.sublabel else box.height / 2 + 5
    inner = [
        f"<title>{escape(tooltip)}</title>",
        f'<rect width="{_number(box.width)}" height="{_number(box.height)}" rx="8" ry="8"/>',
        f'<text class="dag-label" x="{_number(TEXT_INSET)}" y="{_number(label_y)}">'
        f"{escape(_cut(node.label, LABEL_CHARS))}</text>",
    ]
    if node.sublabel:
        inner.append(
            f'<text class="dag-sublabel" x="{_number(TEXT_INSET)}" '
            f'y="{_number(TEXT_INSET + 26)}">{escape(_cut(node.sublabel, SUBLABEL_CHARS))}</text>'
        )
    body = "".join(inner)
    if node.href is not None:
        body = f'<a href="{escape(_safe_href(node.href))}">{body}</a>'
    return (
        f'<g class="{escape(classes)}" data-node-id="{escape(node.id)}" '
        f'transform="translate({_number(box.x)} {_number(box.y)})">{body}</g>'
    )


def _safe_href(href: str) -> str:
    """A link the console built (a path, a query, an http(s) URL), never ``javascript:``."""
    if href.startswith(SAFE_HREF_PREFIXES) and not href.startswith("//"):
        return href
    raise ValueError(f"refusing to link a graph node to {href!r}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
