"""Record lineage (every room calls :func:`record` when it makes or uses something) and
walk it upstream and downstream.

Entities are keyed by resource id; a dataset is keyed by its content hash
(:func:`dataset`), so two names for the same bytes are one node and a changed file is a
new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.clock import utcnow
from shipyard.core.digests import file_sha256, object_sha256
from shipyard.core.names import srn
from shipyard.data import service as data
from shipyard.lineage.models import LineageEdge, LineageEntity

Relation = Literal["ContributedTo", "Produced", "DeployedAs", "Registered", "Ran"]
Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class Entity:
    """A lineage node: ``kind`` is the resource kind of its srn (``training-job``, ...)."""

    kind: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return srn(self.kind, self.name)


def dataset(sha256: str, uri: str, name: str | None = None) -> Entity:
    """The node of a dataset's content; ``name`` when it is a registered dataset."""
    properties: dict[str, Any] = {"sha256": sha256, "uri": uri}
    if name:
        properties["dataset_name"] = name
    return Entity("dataset", f"sha256-{sha256}", properties)


def dataset_for_uri(session: Session, store: BaseArtifactStore, uri: str) -> Entity:
    """The node of the table at ``uri`` (``shipyard://`` or ``file://``), by its content:
    the hash a registered dataset carries, else one computed from the bytes."""
    registered = data.find_dataset_by_uri(session, uri)
    if registered is not None:
        return dataset(registered.sha256, uri, registered.name)
    if uri.startswith("file://"):
        return dataset(file_sha256(Path(url2pathname(urlparse(uri).path))), uri)
    return dataset(object_sha256(store, key_from_uri(uri)), uri)


def record(
    session: Session, source: Entity, target: Entity, relation: Relation = "ContributedTo"
) -> None:
    """``source`` fed ``target``; both nodes are made (or their properties extended) as needed.

    Idempotent, and safe when another process records the same edge at the same time.
    """
    for entity in (source, target):
        _upsert(session, entity)
    exists = session.scalar(
        select(LineageEdge.id).where(
            LineageEdge.source_id == source.id, LineageEdge.target_id == target.id
        )
    )
    if exists is None:
        _insert(
            session,
            LineageEdge(
                source_id=source.id, target_id=target.id, relation=relation, created_at=utcnow()
            ),
        )


def record_all(
    session: Session,
    sources: Iterable[Entity],
    target: Entity,
    relation: Relation = "ContributedTo",
) -> None:
    for source in sources:
        record(session, source, target, relation)


@dataclass(frozen=True)
class Graph:
    """The entities reached from ``root`` and the edges between them."""

    root: str
    entities: dict[str, LineageEntity]
    edges: list[LineageEdge]


def walk(session: Session, root: str, direction: Direction = "both", depth: int = 20) -> Graph:
    """Every entity upstream and/or downstream of ``root`` within ``depth`` hops."""
    entities: dict[str, LineageEntity] = {}
    edges: dict[int, LineageEdge] = {}
    start = session.get(LineageEntity, root)
    if start is None:
        return Graph(root, {}, [])
    entities[root] = start
    for way in ("upstream", "downstream"):
        if direction not in (way, "both"):
            continue
        frontier = {root}
        for _ in range(depth):
            if not frontier:
                break
            column = LineageEdge.target_id if way == "upstream" else LineageEdge.source_id
            found = session.scalars(select(LineageEdge).where(column.in_(frontier))).all()
            frontier = set()
            for edge in found:
                edges[edge.id] = edge
                other = edge.source_id if way == "upstream" else edge.target_id
                if other not in entities:
                    frontier.add(other)
            for entity in session.scalars(
                select(LineageEntity).where(LineageEntity.id.in_(frontier))
            ):
                entities[entity.id] = entity
    return Graph(root, entities, sorted(edges.values(), key=lambda e: e.id))


def _upsert(session: Session, entity: Entity) -> None:
    row = session.get(LineageEntity, entity.id)
    if row is None:
        row = LineageEntity(
            id=entity.id,
            kind=entity.kind,
            name=entity.name,
            properties=dict(entity.properties),
            created_at=utcnow(),
        )
        if _insert(session, row):
            return
        row = session.get(LineageEntity, entity.id)
        assert row is not None
    merged = {**row.properties, **entity.properties}
    if merged != row.properties:
        row.properties = merged


def _insert(session: Session, row: LineageEntity | LineageEdge) -> bool:
    """Add ``row`` in a savepoint; False when another transaction added it first."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True
