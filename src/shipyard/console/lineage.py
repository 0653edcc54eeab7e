"""The console's lineage page: the graph around an entity, drawn, and its entities listed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from markupsafe import Markup

from shipyard.console.graphs import GraphNode, render_dag
from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.errors import NotFound, ValidationError
from shipyard.lineage import service
from shipyard.lineage.schemas import EntityOut, LineageOut
from shipyard.security.iam import authorize, is_allowed

router = APIRouter(route_class=ConsoleRoute)
MAX_DEPTH = 100
RECENT = 50
EVERYTHING = f"{service.SRN_PREFIX}*"
HASH_CHARS = 16
DIRECTIONS = ("both", "upstream", "downstream")
# the console page of each kind that has one; every other node links to its own lineage
PAGES = {
    "endpoint": "/console/endpoints/{name}",
    "model": "/console/models/{name}",
    "training-job": "/console/training-jobs/{name}",
    "tuning-job": "/console/tuning-jobs/{name}",
}


@dataclass(frozen=True)
class EntityRow:
    """An entity as the page shows it: in the graph and in the table."""

    entity: EntityOut
    label: str
    details: str
    href: str
    lineage_href: str


@router.get("/lineage", name="console-lineage")
def lineage(
    request: Request,
    viewer: ViewerDep,
    entity: Annotated[str, Query(max_length=service.MAX_REF_LENGTH)] = "",
    direction: service.Direction = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 20,
) -> Response:
    values: dict[str, Any] = {
        "entity": entity,
        "direction": direction,
        "depth": depth,
        "directions": DIRECTIONS,
        "graph": None,
        "rows": [],
        "svg": Markup(""),
        "error": None,
    }
    if not entity.strip():
        if is_allowed(viewer.principal, "lineage:GetLineage", EVERYTHING):
            with request.app.state.context.db.session_scope() as session:
                values["rows"] = [entity_row(e) for e in service.recent(session, RECENT).entities]
        return render(request, "lineage.html", section="lineage", **values)
    with request.app.state.context.db.session_scope() as session:
        try:
            root = service.resolve(session, entity)
        except (NotFound, ValidationError) as exc:
            values["error"] = exc.message
            return render(request, "lineage.html", exc.status_code, section="lineage", **values)
        authorize(viewer.principal, "lineage:GetLineage", root)
        graph = service.to_out(service.walk(session, root, direction, depth))
    rows = [entity_row(item) for item in graph.entities]
    values.update(graph=graph, rows=rows, svg=lineage_svg(graph, rows))
    return render(request, "lineage.html", section="lineage", **values)


def lineage_svg(graph: LineageOut, rows: list[EntityRow]) -> Markup:
    nodes = [
        GraphNode(
            id=row.entity.id,
            label=row.label,
            sublabel=row.entity.kind,
            href=row.href,
            css_class=" ".join(
                [f"kind-{_css_word(row.entity.kind)}"]
                + (["lineage-root"] if row.entity.id == graph.root else [])
            ),
        )
        for row in rows
    ]
    edges = [(edge.source, edge.target) for edge in graph.edges]
    return render_dag(nodes, edges, label=f"Lineage of {graph.root}")


def entity_row(entity: EntityOut) -> EntityRow:
    lineage_href = "/console/lineage?" + urlencode({"entity": entity.id})
    return EntityRow(
        entity=entity,
        label=entity_label(entity),
        details=entity_details(entity),
        href=console_href(entity) or lineage_href,
        lineage_href=lineage_href,
    )


def console_href(entity: EntityOut) -> str | None:
    """The console page of ``entity``, for the kinds that have one."""
    if entity.kind == "model-package":
        group, _, version = entity.name.partition("/")
        if group and version:
            return f"/console/model-package-groups/{quote(group)}/packages/{quote(version)}"
        return None
    page = PAGES.get(entity.kind)
    return page.format(name=quote(entity.name, safe="")) if page else None


def entity_label(entity: EntityOut) -> str:
    """A content node by its dataset name or short hash; any other by its name."""
    if entity.properties.get("dataset_name"):
        return str(entity.properties["dataset_name"])
    sha256 = entity.properties.get("sha256")
    if isinstance(sha256, str):
        return f"sha256-{sha256[:HASH_CHARS]}"
    return entity.name


def entity_details(entity: EntityOut) -> str:
    shown = []
    for key, value in sorted(entity.properties.items()):
        if key == "sha256" and isinstance(value, str):
            value = f"{value[:HASH_CHARS]}…"
        shown.append(f"{key}: {value}")
    return " · ".join(shown)


def _css_word(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower())
