"""``shipyard lineage REF``: what produced an endpoint, package, model, job or dataset
(upstream) and what it fed (downstream), as trees."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    session,
)
from shipyard.lineage.schemas import EntityOut
from shipyard.sdk.lineage import LineageGraph
from shipyard.sdk.lineage import lineage as get_lineage

HASH_CHARS = 16
WAYS = {"upstream": "what produced it", "downstream": "what it fed"}


@handle_errors
def lineage(
    ref: Annotated[
        str,
        typer.Argument(
            help="An srn, or an endpoint, model package (GROUP/VERSION), dataset, model or "
            "job name, or a dataset's sha256 (12 or more hex digits).",
            show_default=False,
        ),
    ],
    direction: Annotated[
        str, typer.Option(help="upstream, downstream or both.", show_default=True)
    ] = "both",
    depth: Annotated[int, typer.Option(help="How many hops to follow each way.")] = 20,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print what produced REF (upstream) and what it fed (downstream)."""
    graph = get_lineage(session(url, token), ref, direction=direction, depth=depth)
    if json_output:
        print_json(graph.to_dict())
        return
    for way, meaning in WAYS.items():
        if direction in (way, "both"):
            console.print(Text.assemble((way.capitalize(), "bold"), f" ({meaning})"))
            console.print(lineage_tree(graph, way))


def lineage_tree(graph: LineageGraph, way: str) -> Tree:
    """The root on top, then what fed it (``upstream``) or what it fed (``downstream``);
    an entity reached twice is shown once with its branches, then marked."""
    relations = {
        (edge.source, edge.target) if way == "downstream" else (edge.target, edge.source): (
            edge.relation
        )
        for edge in graph.edges
    }
    children: dict[str, list[str]] = {}
    for parent, child in relations:
        children.setdefault(parent, []).append(child)
    tree = Tree(entity_text(graph.entities[graph.root]))
    shown = {graph.root}
    pending = [(tree, graph.root)]
    while pending:
        branch, parent = pending.pop(0)
        for child in children.get(parent, []):
            label = entity_text(graph.entities[child], relations[(parent, child)])
            if child in shown:
                label.append("  (shown above)", style="dim")
                branch.add(label)
                continue
            shown.add(child)
            pending.append((branch.add(label), child))
    if not children.get(graph.root):
        tree.add(Text(f"nothing {way}", style="dim"))
    return tree


def entity_text(entity: EntityOut, relation: str | None = None) -> Text:
    """``kind name`` (a dataset or a source by its short hash, then its dataset name), how
    it is tied to its parent in the tree, and where content lies."""
    text = Text.assemble((entity.kind, "cyan"), " ")
    sha256 = entity.properties.get("sha256")
    if isinstance(sha256, str):
        text.append(f"sha256-{sha256[:HASH_CHARS]}", style="bold")
        if entity.properties.get("dataset_name"):
            text.append(f" {entity.properties['dataset_name']}")
    else:
        text.append(entity.name, style="bold")
    if relation:
        text.append(f" [{relation}]", style="dim")
    if isinstance(sha256, str) and entity.properties.get("uri"):
        text.append(f" {entity.properties['uri']}", style="dim")
    return text
