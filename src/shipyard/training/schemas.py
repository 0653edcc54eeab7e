"""Request and response types of the training room (shared by the server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.compute.schemas import MetricDefinition, Resources, StoppingCondition
from shipyard.debugger.schemas import (
    DebuggerHookConfig,
    RuleConfiguration,
    RuleEvaluationStatus,
)


class ChannelIn(BaseModel):
    """A channel's location and format; without a format, the file's suffix says (.parquet
    or .pq, .libsvm or .svm, else csv)."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(min_length=1, max_length=1024)
    format: Literal["csv", "parquet", "libsvm"] | None = None


class RetryStrategy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maximum_retry_attempts: int = Field(default=1, ge=1, le=30)


class TrainingDefinition(BaseModel):
    """What a training job runs, on what, with what: the part of a CreateTrainingJob that
    a tuning job's trials share (see ``tuning.schemas.TrainingJobDefinition``)."""

    model_config = ConfigDict(extra="forbid")

    algorithm: str | None = None
    entry_point: str | None = Field(default=None, max_length=256)
    source_uri: str | None = Field(default=None, max_length=1024)
    channels: dict[str, str | ChannelIn]
    target: str | None = Field(default=None, max_length=256)
    resources: Resources = Field(default_factory=Resources)
    stopping_condition: StoppingCondition = Field(default_factory=StoppingCondition)
    metric_definitions: list[MetricDefinition] = Field(default_factory=list, max_length=50)
    retry_strategy: RetryStrategy = Field(default_factory=RetryStrategy)


class TrainingJobIn(TrainingDefinition):
    """CreateTrainingJob: a built-in ``algorithm`` or a script (``entry_point`` + source)."""

    name: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)
    debugger_hook_config: DebuggerHookConfig | None = None
    debugger_rule_configurations: list[RuleConfiguration] = Field(
        default_factory=list, max_length=20, description="Debugger rules (script mode)."
    )


class ChannelOut(BaseModel):
    uri: str
    format: str
    columns: list[str]


class StatusTransition(BaseModel):
    status: str
    secondary_status: str
    at: datetime


class TrainingJobOut(BaseModel):
    name: str
    srn: str
    status: str
    secondary_status: str
    failure_reason: str | None
    algorithm: str | None
    entry_point: str | None
    source_uri: str | None
    hyperparameters: dict[str, Any]
    channels: dict[str, ChannelOut]
    target: str | None
    resources: Resources
    stopping_condition: StoppingCondition
    metric_definitions: list[MetricDefinition]
    tags: dict[str, str]
    model_artifacts: str
    output_uri: str
    final_metrics: dict[str, float]
    attempts: int
    owner: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status_history: list[StatusTransition]
    debugger_hook_config: DebuggerHookConfig | None = None
    debugger_rule_configurations: list[RuleConfiguration] = Field(default_factory=list)
    debugger_rule_evaluation_statuses: list[RuleEvaluationStatus] = Field(default_factory=list)


class LogLineOut(BaseModel):
    seq: int
    timestamp: datetime
    message: str


class LogsOut(BaseModel):
    lines: list[LogLineOut]
    next_seq: int
    complete: bool = Field(description="True when the job has ended and every line is returned.")


class MetricPointOut(BaseModel):
    name: str
    step: int | None
    value: float
    timestamp: datetime


class MetricsOut(BaseModel):
    metrics: list[MetricPointOut]
