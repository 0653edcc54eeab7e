"""Request and response types of rollouts (SageMaker's ``DeploymentConfig``, in snake case)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_WAIT_SECONDS = 3600
MAX_ALARMS = 10


class CapacitySize(BaseModel):
    """A share of the new fleet: a percent of its capacity, or a number of its instances."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["CAPACITY_PERCENT", "INSTANCE_COUNT"] = "CAPACITY_PERCENT"
    value: int = Field(ge=1)


TrafficRoutingType = Literal["ALL_AT_ONCE", "CANARY", "LINEAR"]


class TrafficRoutingConfiguration(BaseModel):
    """How the traffic moves to the new fleet: all at once; a canary share, then the rest;
    or in equal linear steps. Each shift is held ``wait_interval_in_seconds`` (the baking
    period), watched by the rollback alarms, before the next."""

    model_config = ConfigDict(extra="forbid")

    type: TrafficRoutingType = "ALL_AT_ONCE"
    wait_interval_in_seconds: int = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)
    canary_size: CapacitySize | None = None
    linear_step_size: CapacitySize | None = None

    @model_validator(mode="after")
    def _sizes_match_the_type(self) -> TrafficRoutingConfiguration:
        if self.type == "CANARY" and self.canary_size is None:
            raise ValueError("canary_size: a CANARY rollout needs it")
        if self.type == "LINEAR" and self.linear_step_size is None:
            raise ValueError("linear_step_size: a LINEAR rollout needs it")
        if self.type != "CANARY" and self.canary_size is not None:
            raise ValueError(f"canary_size: only for a CANARY rollout, not {self.type}")
        if self.type != "LINEAR" and self.linear_step_size is not None:
            raise ValueError(f"linear_step_size: only for a LINEAR rollout, not {self.type}")
        return self


class BlueGreenUpdatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traffic_routing_configuration: TrafficRoutingConfiguration = Field(
        default_factory=TrafficRoutingConfiguration
    )
    termination_wait_in_seconds: int = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)
    """How long the old fleet is kept, idle, after the new one has baked at 100%."""
    maximum_execution_timeout_in_seconds: int | None = Field(default=None, ge=600, le=28_800)
    """A rollout still going on after this long is rolled back."""


class AlarmName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alarm_name: str = Field(min_length=1, max_length=255)


class AutoRollbackConfiguration(BaseModel):
    """The alarms that roll the update back if any of them is in ALARM before it ends."""

    model_config = ConfigDict(extra="forbid")

    alarms: list[AlarmName] = Field(min_length=1, max_length=MAX_ALARMS)


class DeploymentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blue_green_update_policy: BlueGreenUpdatePolicy = Field(default_factory=BlueGreenUpdatePolicy)
    auto_rollback_configuration: AutoRollbackConfiguration | None = None


class UpdateEndpointIn(BaseModel):
    """UpdateEndpoint: move the endpoint to another config, by the deployment config's
    blue/green rollout (all at once, without baking, when none is given)."""

    model_config = ConfigDict(extra="forbid")

    endpoint_config_name: str = Field(min_length=1, max_length=64)
    deployment_config: DeploymentConfig | None = None


class RolloutEvent(BaseModel):
    at: datetime
    traffic_percent: float
    message: str


RolloutStatus = Literal[
    "Deploying", "Shifting", "Baking", "Completed", "RolledBack", "Failed", "Stopped"
]


class RolloutOut(BaseModel):
    rollout_id: str
    endpoint_name: str
    from_endpoint_config_name: str
    to_endpoint_config_name: str
    status: RolloutStatus
    traffic_percent: float
    """The share of the traffic the new config gets now."""
    steps: list[float]
    """The shares it gets one after the other."""
    deployment_config: DeploymentConfig
    reason: str | None
    """Why it rolled back, failed or stopped."""
    events: list[RolloutEvent]
    next_step_at: datetime | None
    owner: str
    started_at: datetime
    last_modified_at: datetime
    ended_at: datetime | None
