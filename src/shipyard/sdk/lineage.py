"""``lineage(session, ref)``: what produced an endpoint, package, model, job or dataset, and
what it fed, as a :class:`LineageGraph`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.lineage.schemas import EdgeOut, EntityOut, LineageOut
from shipyard.sdk.client import Session


@dataclass(frozen=True)
class LineageGraph:
    """The answer of ``GET /api/v1/lineage``: ``root`` (an srn), its ``entities`` by id and
    the ``edges`` between them (``source`` fed ``target``)."""

    root: str
    entities: dict[str, EntityOut]
    edges: list[EdgeOut]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LineageGraph:
        answer = LineageOut.model_validate(document)
        return cls(answer.root or "", {e.id: e for e in answer.entities}, answer.edges)

    def upstream(self, entity: str | None = None) -> list[EntityOut]:
        """What fed ``entity`` (default: the root) directly, in the order recorded."""
        of = entity or self.root
        return [self.entities[e.source] for e in self.edges if e.target == of]

    def downstream(self, entity: str | None = None) -> list[EntityOut]:
        """What ``entity`` (default: the root) fed directly, in the order recorded."""
        of = entity or self.root
        return [self.entities[e.target] for e in self.edges if e.source == of]

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON document."""
        answer = LineageOut(root=self.root, entities=list(self.entities.values()), edges=self.edges)
        return answer.model_dump(mode="json")


def lineage(session: Session, ref: str, direction: str = "both", depth: int = 20) -> LineageGraph:
    """The lineage of ``ref``: an srn (``srn:shipyard:endpoint/fraud``) or a bare name —
    an endpoint, a model package ``group/version``, a dataset, a model, a job — or a
    dataset's sha256 (a prefix of 12 or more hex digits will do). ``direction`` is
    ``upstream``, ``downstream`` or ``both``; ``depth`` bounds the hops either way."""
    document = session.get("/api/v1/lineage", entity=ref, direction=direction, depth=depth)
    return LineageGraph.from_document(document)
