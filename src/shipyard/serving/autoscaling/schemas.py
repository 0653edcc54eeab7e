"""Request and response types of autoscaling."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shipyard.serving.schemas import MAX_INSTANCES

ScalingMetric = Literal["InvocationsPerInstance", "ModelLatencyP90"]


class ScalingPolicyIn(BaseModel):
    """Target tracking, as SageMaker's variant autoscaling: ``InvocationsPerInstance`` is
    invocations per instance per minute; ``ModelLatencyP90`` is the p90 model latency in
    milliseconds. Out as soon as the metric is over target (after the scale-out
    cooldown), in once it is under (after the scale-in cooldown)."""

    model_config = ConfigDict(extra="forbid")

    metric: ScalingMetric = "InvocationsPerInstance"
    target_value: float = Field(gt=0, allow_inf_nan=False)
    max_capacity: int = Field(ge=1, le=MAX_INSTANCES)
    min_capacity: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=86_400)
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=86_400)
    evaluation_seconds: int = Field(default=60, ge=10, le=3600)
    """The window the metric is read over, ending now."""

    @field_validator("min_capacity")
    @classmethod
    def _min_under_max(cls, value: int, info: ValidationInfo) -> int:
        most = info.data.get("max_capacity")
        if most is not None and value > most:
            raise ValueError(f"{value} is over max_capacity ({most})")
        return value


class ScalingPolicyOut(ScalingPolicyIn):
    endpoint_name: str
    variant_name: str
    owner: str
    created_at: datetime


class ScalingActivityOut(BaseModel):
    activity_id: int
    endpoint_name: str
    variant_name: str
    from_capacity: int
    to_capacity: int
    cause: str
    status: Literal["InProgress", "Successful", "Failed"]
    start_time: datetime
    end_time: datetime | None
