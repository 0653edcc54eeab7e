"""Scaling policies and activities in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.errors import NotFound, ValidationError
from shipyard.serving import service as serving
from shipyard.serving.autoscaling.models import ScalingActivity, ScalingPolicy
from shipyard.serving.autoscaling.schemas import (
    ScalingActivityOut,
    ScalingPolicyIn,
    ScalingPolicyOut,
)
from shipyard.serving.schemas import ProductionVariant


def put_policy(
    session: Session, endpoint: str, variant: str, request: ScalingPolicyIn, owner: str
) -> ScalingPolicyOut:
    """Create or replace the policy of one production variant of ``endpoint``."""
    row = serving.get_endpoint(session, endpoint)
    config = serving.get_endpoint_config(session, row.endpoint_config_name)
    names = [ProductionVariant(**v).variant_name for v in config.production_variants]
    if variant not in names:
        raise ValidationError(
            f"endpoint '{endpoint}' has no production variant '{variant}' (it has "
            f"{', '.join(names)})",
            "variant_name",
        )
    policy = session.get(ScalingPolicy, (endpoint, variant))
    if policy is None:
        policy = ScalingPolicy(endpoint_name=endpoint, variant_name=variant)
        session.add(policy)
    for key, value in request.model_dump().items():
        setattr(policy, key, value)
    policy.owner = owner
    policy.created_at = utcnow()
    session.flush()
    return policy_out(policy)


def get_policy(session: Session, endpoint: str, variant: str) -> ScalingPolicy:
    policy = session.get(ScalingPolicy, (endpoint, variant))
    if policy is None:
        raise NotFound(f"variant '{variant}' of endpoint '{endpoint}' has no scaling policy")
    return policy


def delete_policy(session: Session, endpoint: str, variant: str) -> None:
    session.delete(get_policy(session, endpoint, variant))


def delete_endpoint_policies(session: Session, endpoint: str) -> None:
    session.execute(delete(ScalingPolicy).where(ScalingPolicy.endpoint_name == endpoint))


def policies_of(session: Session, endpoints: list[str]) -> list[ScalingPolicy]:
    if not endpoints:
        return []
    query = select(ScalingPolicy).where(ScalingPolicy.endpoint_name.in_(endpoints))
    return list(session.scalars(query))


def policy_out(policy: ScalingPolicy) -> ScalingPolicyOut:
    return ScalingPolicyOut(
        endpoint_name=policy.endpoint_name,
        variant_name=policy.variant_name,
        metric=policy.metric,  # type: ignore[arg-type]
        target_value=policy.target_value,
        max_capacity=policy.max_capacity,
        min_capacity=policy.min_capacity,
        scale_out_cooldown_seconds=policy.scale_out_cooldown_seconds,
        scale_in_cooldown_seconds=policy.scale_in_cooldown_seconds,
        evaluation_seconds=policy.evaluation_seconds,
        owner=policy.owner,
        created_at=as_utc(policy.created_at) or policy.created_at,
    )


# ---- activities -----------------------------------------------------------------------
def start_activity(
    session: Session,
    endpoint: str,
    variant: str,
    from_capacity: int,
    to_capacity: int,
    cause: str,
    now: datetime,
) -> ScalingActivity:
    activity = ScalingActivity(
        endpoint_name=endpoint,
        variant_name=variant,
        from_capacity=from_capacity,
        to_capacity=to_capacity,
        cause=cause,
        status="InProgress",
        start_time=now,
    )
    session.add(activity)
    session.flush()
    return activity


def last_activity(session: Session, endpoint: str, variant: str) -> ScalingActivity | None:
    query = (
        select(ScalingActivity)
        .where(ScalingActivity.endpoint_name == endpoint)
        .where(ScalingActivity.variant_name == variant)
        .order_by(ScalingActivity.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def list_activities(
    session: Session, endpoint: str, *, limit: int, offset: int
) -> list[ScalingActivityOut]:
    """Newest first."""
    query = (
        select(ScalingActivity)
        .where(ScalingActivity.endpoint_name == endpoint)
        .order_by(ScalingActivity.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [activity_out(row) for row in session.scalars(query)]


def activity_out(row: ScalingActivity) -> ScalingActivityOut:
    return ScalingActivityOut(
        activity_id=row.id,
        endpoint_name=row.endpoint_name,
        variant_name=row.variant_name,
        from_capacity=row.from_capacity,
        to_capacity=row.to_capacity,
        cause=row.cause,
        status=row.status,  # type: ignore[arg-type]
        start_time=as_utc(row.start_time) or row.start_time,
        end_time=as_utc(row.end_time),
    )
