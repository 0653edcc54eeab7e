"""The console's home page: how many jobs, models and endpoints there are, and the latest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.names import srn
from shipyard.security.iam import Principal, is_allowed
from shipyard.serving import service as serving
from shipyard.training import service as training

router = APIRouter(route_class=ConsoleRoute)
COUNT_LIMIT = 1000
LATEST = 5


@dataclass
class Summary:
    """One kind of resource on the dashboard; ``allowed`` is False when the viewer may not
    list it, and ``count`` stops at COUNT_LIMIT (shown as "1000+")."""

    allowed: bool
    count: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    latest: list[Any] = field(default_factory=list)

    @property
    def shown_count(self) -> str:
        return f"{COUNT_LIMIT}+" if self.count >= COUNT_LIMIT else str(self.count)


@router.get("/", name="console-home")
def dashboard(request: Request, viewer: ViewerDep) -> Response:
    principal = viewer.principal
    jobs = Summary(allowed=_may(principal, "training:ListTrainingJobs", "training-job"))
    models = Summary(allowed=_may(principal, "serving:ListModels", "model"))
    endpoints = Summary(allowed=_may(principal, "serving:ListEndpoints", "endpoint"))
    with request.app.state.context.db.session_scope() as session:
        if jobs.allowed:
            _fill(jobs, training.list_training_jobs(session, limit=COUNT_LIMIT, offset=0))
        if models.allowed:
            _fill(models, serving.list_models(session, limit=COUNT_LIMIT, offset=0))
        if endpoints.allowed:
            _fill(endpoints, serving.list_endpoints(session, limit=COUNT_LIMIT, offset=0))
    return render(
        request, "dashboard.html", section="home", jobs=jobs, models=models, endpoints=endpoints
    )


def _may(principal: Principal, action: str, kind: str) -> bool:
    return is_allowed(principal, action, srn(kind, "*"))


def _fill(summary: Summary, items: list[Any]) -> None:
    summary.count = len(items)
    statuses = Counter(getattr(item, "status", None) for item in items)
    summary.by_status = {status: n for status, n in sorted(statuses.items()) if status}
    summary.latest = items[:LATEST]
