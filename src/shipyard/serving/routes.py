"""HTTP routes of the serving room: models, endpoint configs, endpoints, invocations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.errors import AccessDenied
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, Context, ContextDep, ListResponse, PageDep
from shipyard.security.iam import Principal, is_allowed
from shipyard.serving import capture, service, shadow
from shipyard.serving.autoscaling import service as autoscaling
from shipyard.serving.fastpath import receive_body
from shipyard.serving.host import TARGET_VARIANT_HEADER, ModelHost
from shipyard.serving.rollouts import service as rollouts
from shipyard.serving.rollouts.schemas import RolloutOut, UpdateEndpointIn
from shipyard.serving.schemas import (
    CapturedRecordsOut,
    EndpointConfigIn,
    EndpointConfigOut,
    EndpointIn,
    EndpointOut,
    ModelIn,
    ModelOut,
    PromoteShadowIn,
    ShadowReportOut,
)

router = APIRouter(prefix="/api/v1", tags=["serving"])


def model_host(context: Context) -> ModelHost:
    return context.extras["model_host"]


# ---- models ---------------------------------------------------------------------------
@router.post("/models", status_code=status.HTTP_201_CREATED, response_model=ModelOut)
def create_model(request: ModelIn, context: ContextDep, authorize: AuthorizeDep) -> ModelOut:
    principal = authorize("serving:CreateModel", srn("model", request.name))
    with context.db.session_scope() as session:
        return service.create_model(session, context.store, request, principal.name)


@router.get("/models", response_model=ListResponse[ModelOut])
def list_models(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[ModelOut]:
    authorize("serving:ListModels", srn("model", "*"))
    with context.db.session_scope() as session:
        items = service.list_models(session, limit=page.limit, offset=page.offset)
    return ListResponse[ModelOut](items=items, next_token=page.next_token(len(items)))


@router.get("/models/{name}", response_model=ModelOut)
def describe_model(name: str, context: ContextDep, authorize: AuthorizeDep) -> ModelOut:
    authorize("serving:DescribeModel", srn("model", name))
    with context.db.session_scope() as session:
        return service.model_out(service.get_model(session, name))


@router.delete("/models/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("serving:DeleteModel", srn("model", name))
    with context.db.session_scope() as session:
        service.delete_model(session, name)


# ---- endpoint configs -----------------------------------------------------------------
@router.post(
    "/endpoint-configs", status_code=status.HTTP_201_CREATED, response_model=EndpointConfigOut
)
def create_endpoint_config(
    request: EndpointConfigIn, context: ContextDep, authorize: AuthorizeDep
) -> EndpointConfigOut:
    principal = authorize("serving:CreateEndpointConfig", srn("endpoint-config", request.name))
    with context.db.session_scope() as session:
        return service.create_endpoint_config(session, request, principal.name)


@router.get("/endpoint-configs", response_model=ListResponse[EndpointConfigOut])
def list_endpoint_configs(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[EndpointConfigOut]:
    authorize("serving:ListEndpointConfigs", srn("endpoint-config", "*"))
    with context.db.session_scope() as session:
        items = service.list_endpoint_configs(session, limit=page.limit, offset=page.offset)
    return ListResponse[EndpointConfigOut](items=items, next_token=page.next_token(len(items)))


@router.get("/endpoint-configs/{name}", response_model=EndpointConfigOut)
def describe_endpoint_config(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> EndpointConfigOut:
    authorize("serving:DescribeEndpointConfig", srn("endpoint-config", name))
    with context.db.session_scope() as session:
        return service.endpoint_config_out(service.get_endpoint_config(session, name))


@router.delete("/endpoint-configs/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint_config(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("serving:DeleteEndpointConfig", srn("endpoint-config", name))
    with context.db.session_scope() as session:
        service.delete_endpoint_config(session, name)


# ---- endpoints ------------------------------------------------------------------------
@router.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointOut)
def create_endpoint(
    request: EndpointIn, context: ContextDep, authorize: AuthorizeDep
) -> EndpointOut:
    """Refused (403) when a variant serves a model package that is not Approved, unless
    the caller may ``registry:DeployUnapproved`` on that package."""
    principal = authorize("serving:CreateEndpoint", srn("endpoint", request.name))
    with context.db.session_scope() as session:
        refuse_unapproved(session, principal, request.endpoint_config_name)
        endpoint = service.create_endpoint(session, request, principal.name)
    model_host(context).deploy_in_background(endpoint.name)
    return endpoint


@router.get("/endpoints", response_model=ListResponse[EndpointOut])
def list_endpoints(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[EndpointOut]:
    authorize("serving:ListEndpoints", srn("endpoint", "*"))
    with context.db.session_scope() as session:
        items = service.list_endpoints(session, limit=page.limit, offset=page.offset)
    return ListResponse[EndpointOut](items=items, next_token=page.next_token(len(items)))


@router.get("/endpoints/{name}", response_model=EndpointOut)
def describe_endpoint(name: str, context: ContextDep, authorize: AuthorizeDep) -> EndpointOut:
    authorize("serving:DescribeEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        endpoint = service.describe_endpoint(session, name)
    endpoint.variant_status = model_host(context).variant_status(name)
    return endpoint


@router.put("/endpoints/{name}", response_model=EndpointOut)
def update_endpoint(
    name: str, request: UpdateEndpointIn, context: ContextDep, authorize: AuthorizeDep
) -> EndpointOut:
    """Move the endpoint to another config by a blue/green rollout (``deployment_config``:
    all at once, canary or linear traffic shifting, baking, and the alarms that roll it
    back); it serves its config until the new one takes the traffic. 409 while another
    rollout is going on."""
    principal = authorize("serving:UpdateEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        refuse_unapproved(session, principal, request.endpoint_config_name)
        endpoint = service.update_endpoint(
            session, name, request.endpoint_config_name, request.deployment_config, principal.name
        )
    model_host(context).deploy_in_background(endpoint.name)
    return endpoint


@router.get("/endpoints/{name}/rollouts", response_model=ListResponse[RolloutOut])
def list_rollouts(
    name: str, context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[RolloutOut]:
    """The endpoint's updates, newest first: their steps, events and outcomes."""
    authorize("serving:DescribeEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        service.get_endpoint(session, name)
        items = rollouts.list_rollouts(session, name, limit=page.limit, offset=page.offset)
    return ListResponse[RolloutOut](items=items, next_token=page.next_token(len(items)))


@router.get("/endpoints/{name}/rollouts/{rollout_id}", response_model=RolloutOut)
def describe_rollout(
    name: str, rollout_id: str, context: ContextDep, authorize: AuthorizeDep
) -> RolloutOut:
    authorize("serving:DescribeEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        return rollouts.describe_rollout(session, name, rollout_id)


@router.post("/endpoints/{name}/stop", response_model=EndpointOut)
def stop_endpoint(name: str, context: ContextDep, authorize: AuthorizeDep) -> EndpointOut:
    """Take the endpoint out of service (``OutOfService``); invocations then get a 409."""
    authorize("serving:StopEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        endpoint = service.stop_endpoint(session, name)
    model_host(context).undeploy(name)
    return endpoint


@router.post("/endpoints/{name}/rollback", response_model=EndpointOut)
def rollback_endpoint(name: str, context: ContextDep, authorize: AuthorizeDep) -> EndpointOut:
    """Roll back the update going on (its traffic back to the old fleet at once), else go
    back to the endpoint config it served before its last update."""
    authorize("serving:RollbackEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        endpoint = service.rollback_endpoint(session, name)
    model_host(context).deploy_in_background(endpoint.name)
    return endpoint


@router.get("/endpoints/{name}/shadow-report", response_model=ShadowReportOut)
def get_shadow_report(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> ShadowReportOut:
    """How each shadow variant answered next to production (the last hour by default)."""
    authorize("serving:DescribeEndpoint", srn("endpoint", name))
    end = end_time or utcnow()
    start = start_time or end - timedelta(hours=1)
    with context.db.session_scope() as session:
        service.get_endpoint(session, name)
        return shadow.shadow_report(session, name, start, end)


@router.get("/endpoints/{name}/data-capture", response_model=CapturedRecordsOut)
def get_captured_records(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    variant: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> CapturedRecordsOut:
    """The captured invocations of the endpoint (the last hour by default), oldest first."""
    authorize("serving:GetDataCapture", srn("endpoint", name))
    end = end_time or utcnow()
    start = start_time or end - timedelta(hours=1)
    with context.db.session_scope() as session:
        service.get_endpoint(session, name)
    records, files = capture.read_records(
        context.store, name, start, end, variant=variant, limit=limit
    )
    return CapturedRecordsOut(records=records, files_read=files)


@router.post("/endpoints/{name}/promote-shadow", response_model=EndpointOut)
def promote_shadow(
    name: str, request: PromoteShadowIn, context: ContextDep, authorize: AuthorizeDep
) -> EndpointOut:
    """The shadow becomes the only production variant, through a new endpoint config."""
    principal = authorize("serving:UpdateEndpoint", srn("endpoint", name))
    authorize("serving:CreateEndpointConfig", srn("endpoint-config", request.endpoint_config_name))
    with context.db.session_scope() as session:
        endpoint = service.promote_shadow(
            session, name, request.variant_name, request.endpoint_config_name, principal.name
        )
        refuse_unapproved(session, principal, request.endpoint_config_name)  # rolls back
    model_host(context).deploy_in_background(endpoint.name)
    return endpoint


@router.delete("/endpoints/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("serving:DeleteEndpoint", srn("endpoint", name))
    with context.db.session_scope() as session:
        service.mark_deleting(session, name)
    model_host(context).undeploy(name)
    with context.db.session_scope() as session:
        autoscaling.delete_endpoint_policies(session, name)
        service.delete_endpoint_row(session, name)


@router.post(
    "/endpoints/{name}/invocations",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def invoke_endpoint(
    name: str, http_request: Request, context: ContextDep, authorize: AuthorizeDep
) -> Response:
    """Predict: a JSON list of records, ``{"instances": [...]}``, or CSV rows without header."""
    authorize("serving:InvokeEndpoint", srn("endpoint", name))
    body = await read_body(http_request, context.settings.max_payload_bytes)
    headers = http_request.headers
    answer = await model_host(context).invoke(
        name,
        body,
        headers.get("content-type", "application/json"),
        headers.get("accept", "application/json"),
        headers.get(TARGET_VARIANT_HEADER),
    )
    return Response(
        answer.body, media_type=answer.content_type, headers={"X-Shipyard-Variant": answer.variant}
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it is known to be over ``limit`` bytes
    (the fast path's rule: :func:`shipyard.serving.fastpath.receive_body`)."""
    return await receive_body(request.receive, request.headers.get("content-length"), limit)


def refuse_unapproved(session: Session, principal: Principal, endpoint_config_name: str) -> None:
    """AccessDenied when the config serves a model package that is not Approved and the
    caller may not ``registry:DeployUnapproved`` on it."""
    for package in service.unapproved_packages(session, endpoint_config_name):
        if not is_allowed(principal, "registry:DeployUnapproved", package.srn):
            raise AccessDenied(
                f"model package '{package.model_package_name}' is "
                f"{package.approval_status}, not Approved, and {principal.name} is not "
                f"allowed to registry:DeployUnapproved on {package.srn}"
            )
