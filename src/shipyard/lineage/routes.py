"""HTTP routes of the lineage room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shipyard.core.web import AuthorizeDep, ContextDep
from shipyard.lineage import service
from shipyard.lineage.schemas import LineageOut

router = APIRouter(prefix="/api/v1/lineage", tags=["lineage"])
MAX_DEPTH = 100
EVERYTHING = f"{service.SRN_PREFIX}*"  # every entity


@router.get("", response_model=LineageOut)
def get_lineage(
    context: ContextDep,
    authorize: AuthorizeDep,
    entity: Annotated[str | None, Query(max_length=service.MAX_REF_LENGTH)] = None,
    direction: service.Direction = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 20,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LineageOut:
    """What produced ``entity`` (upstream) and what it fed (downstream), ``depth`` hops out.

    ``entity`` is an srn or a bare name or hash (see :func:`shipyard.lineage.service.resolve`);
    the action is ``lineage:GetLineage`` on the srn it resolves to. Without ``entity``: the
    ``limit`` entities recorded last, which needs ``lineage:GetLineage`` on ``srn:shipyard:*``.
    """
    if entity is None:
        authorize("lineage:GetLineage", EVERYTHING)
        with context.db.session_scope() as session:
            return service.recent(session, limit)
    with context.db.session_scope() as session:
        root = service.resolve(session, entity)
        authorize("lineage:GetLineage", root)
        return service.to_out(service.walk(session, root, direction, depth))
