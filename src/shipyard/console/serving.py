"""Console pages of models and endpoints: an endpoint's live charts (and the JSON state
they redraw from), its latest rollout with a rollback button, and a form to send it a
test request."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session

from shipyard.console import endpoint_charts
from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import FormViewerDep, Viewer, ViewerDep
from shipyard.core.clock import utcnow
from shipyard.core.errors import AccessDenied, NotFound, ShipyardError
from shipyard.core.names import srn
from shipyard.monitoring.metrics import service as metrics
from shipyard.security.iam import Principal, authorize, is_allowed
from shipyard.serving import service, shadow
from shipyard.serving.rollouts import service as rollouts
from shipyard.serving.schemas import EndpointOut, ModelOut, ShadowVariantReport, VariantStatus

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
ContentType = Literal["application/json", "text/csv"]
CONTENT_TYPES: tuple[str, ...] = ("application/json", "text/csv")
MAX_REQUEST_CHARS = 1_000_000
RangeQuery = Annotated[str, Query(alias="range", max_length=8)]


# ---- models ---------------------------------------------------------------------------
@router.get("/models", name="console-models")
def models(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "serving:ListModels", srn("model", "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_models(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "models.html",
        section="models",
        models=items,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/models/{name}", name="console-model")
def model(request: Request, name: str, viewer: ViewerDep) -> Response:
    authorize(viewer.principal, "serving:DescribeModel", srn("model", name))
    endpoints: list[EndpointOut] | None = None
    with request.app.state.context.db.session_scope() as session:
        item = service.model_out(service.get_model(session, name))
        if is_allowed(viewer.principal, "serving:ListEndpoints", srn("endpoint", "*")):
            endpoints = [
                endpoint
                for endpoint in service.list_endpoints(session, limit=1000, offset=0)
                if any(v.model_name == item.name for v in endpoint.production_variants)
            ]
    return render(request, "model.html", section="models", model=item, endpoints=endpoints)


# ---- endpoints ------------------------------------------------------------------------
@router.get("/endpoints", name="console-endpoints")
def endpoints(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "serving:ListEndpoints", srn("endpoint", "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_endpoints(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "endpoints.html",
        section="endpoints",
        endpoints=items,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/endpoints/{name}", name="console-endpoint")
def endpoint(
    request: Request,
    name: str,
    viewer: ViewerDep,
    range_: RangeQuery = endpoint_charts.DEFAULT_RANGE,
) -> Response:
    item, model_of_endpoint = _describe(request, viewer, name)
    endpoint_charts.chart_range(range_)
    return _endpoint_page(
        request,
        viewer,
        item,
        model_of_endpoint,
        body=example_body(model_of_endpoint),
        content_type="application/json",
        chart_range=range_,
    )


@router.get("/endpoints/{name}/live", name="console-endpoint-live")
def endpoint_live(
    request: Request,
    name: str,
    viewer: ViewerDep,
    range_: RangeQuery = endpoint_charts.DEFAULT_RANGE,
) -> Response:
    """The state the endpoint page's charts redraw from every few seconds: the variants'
    instances now and, for a viewer who may read the endpoint metrics, the charts of the
    range (``charts`` is null otherwise)."""
    authorize(viewer.principal, "serving:DescribeEndpoint", srn("endpoint", name))
    endpoint_charts.chart_range(range_)
    with request.app.state.context.db.session_scope() as session:
        item = service.describe_endpoint(session, name)
        state = _live_state(request, viewer.principal, session, item, range_)
    return JSONResponse(state)


@router.post("/endpoints/{name}/rollback", name="console-endpoint-rollback")
def rollback(request: Request, name: str, viewer: FormViewerDep) -> Response:
    """The rollback button: the rollout going on goes back to the old config at once (else
    the endpoint goes back to the config it served before its last update)."""
    authorize(viewer.principal, "serving:RollbackEndpoint", srn("endpoint", name))
    with request.app.state.context.db.session_scope() as session:
        service.rollback_endpoint(session, name)
    request.app.state.context.extras["model_host"].deploy_in_background(name)
    return RedirectResponse(f"/console/endpoints/{name}", status_code=303)


@router.post("/endpoints/{name}/test-request", name="console-endpoint-test-request")
def test_request(
    request: Request,
    name: str,
    viewer: FormViewerDep,
    body: Annotated[str, Form(max_length=MAX_REQUEST_CHARS)] = "",
    content_type: Annotated[ContentType, Form()] = "application/json",
) -> Response:
    """Invoke the endpoint the way ``POST /endpoints/{name}/invocations`` does and show
    the answer, or the error, under the form."""
    item, model_of_endpoint = _describe(request, viewer, name)
    try:
        authorize(viewer.principal, "serving:InvokeEndpoint", srn("endpoint", name))
        answered = request.app.state.context.extras["model_host"].invoke_blocking(
            name, body.encode(), content_type, "application/json"
        )
    except ShipyardError as exc:
        return _endpoint_page(
            request,
            viewer,
            item,
            model_of_endpoint,
            body=body,
            content_type=content_type,
            error=exc.message,
            status_code=exc.status_code,
        )
    answer = json.dumps(json.loads(answered.body), indent=2)
    return _endpoint_page(
        request,
        viewer,
        item,
        model_of_endpoint,
        body=body,
        content_type=content_type,
        answer=answer,
        variant=answered.variant,
    )


def _live_state(
    request: Request, principal: Principal, session: Session, item: EndpointOut, range_: str
) -> dict[str, Any]:
    """The charts' state, their metric parts only where the viewer may read the
    endpoint metrics (as the metrics explorer asks)."""
    statuses: list[VariantStatus] = request.app.state.context.extras["model_host"].variant_status(
        item.name
    )
    return endpoint_charts.live_state(
        session,
        item,
        statuses,
        range_,
        now=utcnow(),
        with_metrics=_may_read_metrics(principal),
    )


def _may_read_metrics(principal: Principal) -> bool:
    resource = srn("metric-namespace", metrics.ENDPOINTS_NAMESPACE)
    return is_allowed(principal, "monitoring:GetMetricStatistics", resource)


def _describe(request: Request, viewer: Viewer, name: str) -> tuple[EndpointOut, ModelOut | None]:
    """The endpoint and the model of its first variant (None if the viewer may not see it)."""
    authorize(viewer.principal, "serving:DescribeEndpoint", srn("endpoint", name))
    with request.app.state.context.db.session_scope() as session:
        item = service.describe_endpoint(session, name)
        if not item.production_variants:
            return item, None
        model_name = item.production_variants[0].model_name
        try:
            authorize(viewer.principal, "serving:DescribeModel", srn("model", model_name))
            return item, service.model_out(service.get_model(session, model_name))
        except (AccessDenied, NotFound):
            return item, None


def example_body(model_of_endpoint: ModelOut | None) -> str:
    """A request the model accepts: one instance with every feature set to 0."""
    if model_of_endpoint is None or not model_of_endpoint.feature_names:
        return json.dumps({"instances": [[0]]}, indent=2)
    instance = {feature: 0 for feature in model_of_endpoint.feature_names}
    return json.dumps({"instances": [instance]}, indent=2)


def example_csv(model_of_endpoint: ModelOut | None) -> str:
    width = len(model_of_endpoint.feature_names) if model_of_endpoint else 1
    return ",".join(["0"] * max(width, 1))


def _endpoint_page(
    request: Request,
    viewer: Viewer,
    item: EndpointOut,
    model_of_endpoint: ModelOut | None,
    *,
    body: str,
    content_type: str,
    status_code: int = 200,
    chart_range: str = endpoint_charts.DEFAULT_RANGE,
    **result: Any,
) -> Response:
    with request.app.state.context.db.session_scope() as session:
        live = _live_state(request, viewer.principal, session, item, chart_range)
    return render(
        request,
        "endpoint.html",
        status_code,
        section="endpoints",
        endpoint=item,
        shadow_reports=_shadow_reports(request, item),
        model=model_of_endpoint,
        body=body,
        content_type=content_type,
        content_types=CONTENT_TYPES,
        json_example=example_body(model_of_endpoint),
        csv_example=example_csv(model_of_endpoint),
        refresh=item.status in ("Creating", "Updating"),
        answer=result.get("answer"),
        variant=result.get("variant"),
        error=result.get("error"),
        live=live,
        variant_counts={
            v.variant_name: endpoint_charts.counts_of(
                live["instances"], v.variant_name, item.endpoint_config_name
            )
            for v in item.production_variants
        },
        chart_range=chart_range,
        chart_ranges=list(endpoint_charts.CHART_RANGES),
        instances_layout=endpoint_charts.instances_layout(),
        refresh_seconds=endpoint_charts.REFRESH_SECONDS,
        may_roll_back=is_allowed(
            viewer.principal, "serving:RollbackEndpoint", srn("endpoint", item.name)
        ),
        rolling_out=item.rollout is not None and item.rollout.status in rollouts.IN_PROGRESS,
    )


def _shadow_reports(request: Request, item: EndpointOut) -> dict[str, ShadowVariantReport]:
    """The last hour of each shadow variant's comparison with production, by name."""
    if not item.shadow_production_variants:
        return {}
    end = utcnow()
    with request.app.state.context.db.session_scope() as session:
        found = shadow.shadow_report(session, item.name, end - timedelta(hours=1), end)
    return {report.shadow_variant: report for report in found.shadows}
