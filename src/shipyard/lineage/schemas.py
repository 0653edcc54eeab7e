"""Response types of the lineage room: a graph of entities and the edges between them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EntityOut(BaseModel):
    """A node: ``id`` is its srn (``srn:shipyard:<kind>/<name>``)."""

    id: str
    kind: str
    name: str
    properties: dict[str, Any]
    created_at: datetime


class EdgeOut(BaseModel):
    """``source`` fed ``target`` (a dataset a job read, the model a job wrote, ...)."""

    source: str
    target: str
    relation: str


class LineageOut(BaseModel):
    """GetLineage: every entity reached from ``root`` and the edges between them; without
    a root (no entity asked for), the entities recorded last."""

    root: str | None
    entities: list[EntityOut]
    edges: list[EdgeOut]
