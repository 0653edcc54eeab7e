"""Record lineage (every room calls :func:`record` when it makes or uses something) and
walk it upstream and downstream.

Entities are keyed by resource id; a dataset is keyed by its content hash
(:func:`dataset`), so two names for the same bytes are one node and a changed file is a
new one. Hashes of files and stored objects are kept in a small in-process cache keyed by
where the bytes are and their size and modification time (or ETag), so a tuning job's
many trials over the same channels read them once. :func:`resolve` turns what a user
types (an endpoint name, a package ``group/version``, a dataset name or hash...) into the
id of one entity.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, S3ArtifactStore, key_from_uri
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.digests import file_sha256, object_sha256
from shipyard.core.errors import NotFound, ShipyardError, ValidationError
from shipyard.core.names import srn
from shipyard.data import service as data
from shipyard.lineage.models import LineageEdge, LineageEntity
from shipyard.lineage.schemas import EdgeOut, EntityOut, LineageOut

Relation = Literal["ContributedTo", "Produced", "DeployedAs", "Registered", "Ran"]
Direction = Literal["upstream", "downstream", "both"]
SRN_PREFIX = "srn:shipyard:"
JOB_KINDS = ("training-job", "processing-job", "transform-job", "tuning-job")
MAX_REF_LENGTH = 255
MIN_HASH_PREFIX = 12
_HASH_REF = re.compile(rf"(?:sha256-)?([0-9a-f]{{{MIN_HASH_PREFIX},64}})")


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
    return dataset(content_sha256(store, uri), uri)


def source_for_uri(store: BaseArtifactStore, uri: str) -> Entity:
    """The node of a script job's uploaded source (a .py file or a .tar.gz), by content."""
    sha256 = content_sha256(store, uri)
    return Entity("source", f"sha256-{sha256}", {"sha256": sha256, "uri": uri})


def content_sha256(store: BaseArtifactStore, uri: str) -> str:
    """The SHA-256 of the file at ``uri`` (``shipyard://`` or ``file://``), from the cache
    while the file's size and modification time (an object's ETag) are unchanged."""
    if uri.startswith("file://"):
        path = Path(url2pathname(urlparse(uri).path))
        return HASHES.get_or_compute(lambda: _stat_fingerprint(path), lambda: file_sha256(path))
    key = key_from_uri(uri)
    return HASHES.get_or_compute(
        lambda: _object_fingerprint(store, key), lambda: object_sha256(store, key)
    )


class HashCache:
    """A thread-safe LRU of content hashes by fingerprint (where the bytes are and their
    version). Bytes whose version cannot be told (no fingerprint), or that changed while
    they were hashed, are hashed every time."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._hashes: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(
        self, fingerprint: Callable[[], Hashable | None], compute: Callable[[], str]
    ) -> str:
        before = fingerprint()
        if before is None:
            return compute()
        with self._lock:
            if before in self._hashes:
                self._hashes.move_to_end(before)
                return self._hashes[before]
        value = compute()  # outside the lock: hashing a large file must not hold up others
        if fingerprint() == before:
            with self._lock:
                self._hashes[before] = value
                self._hashes.move_to_end(before)
                while len(self._hashes) > self.capacity:
                    self._hashes.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._hashes)

    def clear(self) -> None:
        with self._lock:
            self._hashes.clear()


HASHES = HashCache()


def _stat_fingerprint(path: Path) -> Hashable | None:
    """Where the file is and its version: size, mtime, ctime and inode (an atomic rewrite
    is a new inode). None when it cannot be read; hashing then raises the real error."""
    try:
        info = path.stat()
    except OSError:
        return None
    return ("file", str(path), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _object_fingerprint(store: BaseArtifactStore, key: str) -> Hashable | None:
    local = store.local_path(key)
    if local is not None:
        return _stat_fingerprint(local)
    if isinstance(store, S3ArtifactStore):
        path = f"{store.prefix}/{key}"
        try:
            info = store.fs.info(path)
        except (OSError, ValueError):
            return None
        etag = info.get("ETag") or info.get("etag")
        return ("s3", store.endpoint_url, path, info.get("size"), etag) if etag else None
    return None


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


def resolve(session: Session, ref: str) -> str:
    """The id of the one entity ``ref`` names.

    ``ref`` is a full srn (``srn:shipyard:endpoint/x``), or a bare reference tried in this
    order: an endpoint name, a model package ``<group>/<version>``, a registered dataset's
    name, a model, a training/processing/transform/tuning job, a dataset's sha256 (or a
    prefix of at least 12 hex digits). The first kind that matches wins; two matches of
    that kind (a training and a processing job of one name, a short hash prefix) are a
    ValidationError listing them, and nothing matching is NotFound.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ValidationError("give an entity: an srn, or a name or hash", "entity")
    if len(ref) > MAX_REF_LENGTH:
        raise ValidationError(f"at most {MAX_REF_LENGTH} characters", "entity")
    if ref.startswith(SRN_PREFIX):
        if session.get(LineageEntity, ref) is None:
            raise NotFound(f"no lineage is recorded for '{ref}'")
        return ref
    finders: list[Callable[[], list[str]]] = [
        lambda: _existing(session, [srn("endpoint", ref)]),
        lambda: _existing(session, [srn("model-package", ref)]) if "/" in ref else [],
        lambda: _datasets_named(session, ref),
        lambda: _existing(session, [srn("model", ref)]),
        lambda: _existing(session, [srn(kind, ref) for kind in JOB_KINDS]),
        lambda: _datasets_by_hash(session, ref),
    ]
    for find in finders:
        found = find()
        if len(found) == 1:
            return found[0]
        if found:
            shown = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
            raise ValidationError(f"'{ref}' is ambiguous; it may be any of {shown}", "entity")
    raise NotFound(
        f"no lineage entity matches '{ref}' (an endpoint, model package, dataset, model "
        "or job name, a dataset's sha256, or a full srn)"
    )


def _existing(session: Session, ids: list[str]) -> list[str]:
    found = set(session.scalars(select(LineageEntity.id).where(LineageEntity.id.in_(ids))))
    return [entity_id for entity_id in ids if entity_id in found]


def _datasets_named(session: Session, name: str) -> list[str]:
    """The nodes of a registered dataset's content; of several (the name was deleted and
    registered again), the one the dataset holds now."""
    found = list(
        session.scalars(
            select(LineageEntity.id)
            .where(
                LineageEntity.kind == "dataset",
                LineageEntity.properties["dataset_name"].as_string() == name,
            )
            .order_by(LineageEntity.id)
        )
    )
    if len(found) > 1:
        try:
            current = srn("dataset", f"sha256-{data.get_dataset(session, name).sha256}")
        except ShipyardError:
            return found
        if current in found:
            return [current]
    return found


def _datasets_by_hash(session: Session, ref: str) -> list[str]:
    match = _HASH_REF.fullmatch(ref.lower())
    if match is None:
        return []
    prefix = srn("dataset", f"sha256-{match.group(1)}")
    return list(
        session.scalars(
            select(LineageEntity.id)
            .where(LineageEntity.id.startswith(prefix, autoescape=True))
            .order_by(LineageEntity.id)
            .limit(11)
        )
    )


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


def recent(session: Session, limit: int = 100) -> LineageOut:
    """No root: the ``limit`` entities recorded last (newest first) and the edges among them."""
    rows = session.scalars(
        select(LineageEntity)
        .order_by(LineageEntity.created_at.desc(), LineageEntity.id)
        .limit(limit)
    ).all()
    ids = [row.id for row in rows]
    edges = session.scalars(
        select(LineageEdge)
        .where(LineageEdge.source_id.in_(ids), LineageEdge.target_id.in_(ids))
        .order_by(LineageEdge.id)
    ).all()
    answer = to_out(Graph("", {row.id: row for row in rows}, list(edges)))
    order = {entity_id: i for i, entity_id in enumerate(ids)}
    answer.entities.sort(key=lambda entity: order[entity.id])
    answer.root = None
    return answer


def to_out(graph: Graph) -> LineageOut:
    """The API's view of a walked graph: entities ordered by id, edges by when recorded."""
    return LineageOut(
        root=graph.root,
        entities=[
            EntityOut(
                id=row.id,
                kind=row.kind,
                name=row.name,
                properties=dict(row.properties),
                created_at=as_utc(row.created_at) or row.created_at,
            )
            for row in sorted(graph.entities.values(), key=lambda row: row.id)
        ],
        edges=[
            EdgeOut(source=edge.source_id, target=edge.target_id, relation=edge.relation)
            for edge in graph.edges
        ],
    )
