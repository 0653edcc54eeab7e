"""Console pages of models and endpoints, with a form to send an endpoint a test request."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import FormViewerDep, Viewer, ViewerDep
from shipyard.core.clock import utcnow
from shipyard.core.errors import AccessDenied, NotFound, ShipyardError
from shipyard.core.names import srn
from shipyard.security.iam import authorize, is_allowed
from shipyard.serving import service, shadow
from shipyard.serving.schemas import EndpointOut, ModelOut, ShadowVariantReport

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
ContentType = Literal["application/json", "text/csv"]
CONTENT_TYPES: tuple[str, ...] = ("application/json", "text/csv")
MAX_REQUEST_CHARS = 1_000_000


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
def endpoint(request: Request, name: str, viewer: ViewerDep) -> Response:
    item, model_of_endpoint = _describe(request, viewer, name)
    return _endpoint_page(
        request,
        item,
        model_of_endpoint,
        body=example_body(model_of_endpoint),
        content_type="application/json",
    )


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
        item,
        model_of_endpoint,
        body=body,
        content_type=content_type,
        answer=answer,
        variant=answered.variant,
    )


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
    item: EndpointOut,
    model_of_endpoint: ModelOut | None,
    *,
    body: str,
    content_type: str,
    status_code: int = 200,
    **result: Any,
) -> Response:
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
    )


def _shadow_reports(request: Request, item: EndpointOut) -> dict[str, ShadowVariantReport]:
    """The last hour of each shadow variant's comparison with production, by name."""
    if not item.shadow_production_variants:
        return {}
    end = utcnow()
    with request.app.state.context.db.session_scope() as session:
        found = shadow.shadow_report(session, item.name, end - timedelta(hours=1), end)
    return {report.shadow_variant: report for report in found.shadows}
