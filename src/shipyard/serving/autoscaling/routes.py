"""HTTP routes of autoscaling: a variant's scaling policy and the endpoint's activities."""

from __future__ import annotations

from fastapi import APIRouter, status

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.serving import service as serving
from shipyard.serving.autoscaling import service
from shipyard.serving.autoscaling.schemas import (
    ScalingActivityOut,
    ScalingPolicyIn,
    ScalingPolicyOut,
)

router = APIRouter(prefix="/api/v1", tags=["serving"])
POLICY = "/endpoints/{name}/variants/{variant}/scaling-policy"


@router.put(POLICY, response_model=ScalingPolicyOut)
def put_scaling_policy(
    name: str, variant: str, request: ScalingPolicyIn, context: ContextDep, authorize: AuthorizeDep
) -> ScalingPolicyOut:
    principal = authorize("serving:PutScalingPolicy", srn("endpoint", name))
    with context.db.session_scope() as session:
        return service.put_policy(session, name, variant, request, principal.name)


@router.get(POLICY, response_model=ScalingPolicyOut)
def describe_scaling_policy(
    name: str, variant: str, context: ContextDep, authorize: AuthorizeDep
) -> ScalingPolicyOut:
    authorize("serving:DescribeScalingPolicy", srn("endpoint", name))
    with context.db.session_scope() as session:
        return service.policy_out(service.get_policy(session, name, variant))


@router.delete(POLICY, status_code=status.HTTP_204_NO_CONTENT)
def delete_scaling_policy(
    name: str, variant: str, context: ContextDep, authorize: AuthorizeDep
) -> None:
    authorize("serving:DeleteScalingPolicy", srn("endpoint", name))
    with context.db.session_scope() as session:
        service.delete_policy(session, name, variant)


@router.get("/endpoints/{name}/scaling-activities", response_model=ListResponse[ScalingActivityOut])
def list_scaling_activities(
    name: str, context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[ScalingActivityOut]:
    """What the autoscaler did to the endpoint's variants, and why; newest first."""
    authorize("serving:DescribeScalingActivities", srn("endpoint", name))
    with context.db.session_scope() as session:
        serving.get_endpoint(session, name)
        items = service.list_activities(session, name, limit=page.limit, offset=page.offset)
    return ListResponse[ScalingActivityOut](items=items, next_token=page.next_token(len(items)))
