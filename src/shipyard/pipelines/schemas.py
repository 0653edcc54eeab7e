"""Request and response types of the pipelines room, and the compiled pipeline definition
(shared by the server, the SDK's DSL and the CLI).

A definition is JSON: parameters, and steps whose arguments may hold *expressions* — a
one-key object naming a value known only when the execution runs:

- ``{"Parameter": "Threshold"}``: an execution parameter;
- ``{"Property": {"step": "train", "path": ["final_metrics", "validation:auc"]}}``: a
  property of an earlier step (its job's name, model artifacts, metrics, outputs...);
- ``{"JsonGet": {"step": "evaluate", "property_file": "evaluation", "json_path": "auc"}}``:
  a value from a JSON file a processing step wrote;
- ``{"Join": {"on": "/", "values": [...]}}``: values joined into a string;
- ``{"ExecutionVariable": "PipelineExecutionId"}``: the execution's id, pipeline name or
  start time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ParameterType = Literal["String", "Integer", "Float", "Boolean"]
StepType = Literal[
    "Processing",
    "Training",
    "Tuning",
    "Condition",
    "RegisterModel",
    "CreateModel",
    "Transform",
    "Deploy",
    "Fail",
]
EXECUTION_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")
STEP_STATUSES = (
    "NotStarted",
    "Executing",
    "Stopping",
    "Stopped",
    "Failed",
    "Succeeded",
    "Skipped",
)
MissedSlotPolicy = Literal["run-once", "skip"]
MAX_STEPS = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterDefinition(_Strict):
    name: str = Field(min_length=1, max_length=64)
    type: ParameterType
    default_value: str | int | float | bool | None = None
    enum_values: list[str | int | float | bool] | None = Field(default=None, max_length=100)


class CacheConfig(_Strict):
    """Reuse an earlier run of the step when its definition and inputs are unchanged."""

    enabled: bool = False
    expire_after: str | None = Field(
        default=None, description="ISO 8601 duration (P30D, PT12H); no expiry when unset."
    )


class RetryPolicy(_Strict):
    """Run a failed step again, waiting ``interval_seconds * backoff_rate**(n-1)`` before
    the n-th retry; only for failure reasons starting with one of ``failure_reasons`` when
    given (``WorkerLost``, ``AlgorithmError``, ``MaxRuntimeExceeded``...)."""

    max_attempts: int = Field(default=1, ge=1, le=10)
    interval_seconds: float = Field(default=1.0, ge=0, le=3600)
    backoff_rate: float = Field(default=2.0, ge=1, le=10)
    failure_reasons: list[str] | None = Field(default=None, max_length=20)


class PropertyFile(_Strict):
    """A JSON file in one of a processing step's outputs, read with ``JsonGet``."""

    name: str = Field(min_length=1, max_length=64)
    output_name: str = Field(min_length=1, max_length=64)
    path: str = Field(min_length=1, max_length=256)


class StepDefinition(_Strict):
    name: str = Field(min_length=1, max_length=64)
    type: StepType
    arguments: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    cache_config: CacheConfig | None = None
    retry_policy: RetryPolicy | None = None
    property_files: list[PropertyFile] = Field(default_factory=list, max_length=20)
    description: str = Field(default="", max_length=1024)


class PipelineDefinition(_Strict):
    version: Literal[1] = 1
    parameters: list[ParameterDefinition] = Field(default_factory=list, max_length=100)
    steps: list[StepDefinition] = Field(min_length=1, max_length=MAX_STEPS)


# ---- pipelines ----------------------------------------------------------------------
class PipelineIn(_Strict):
    """UpsertPipeline: a new version when the definition differs from the latest."""

    definition: PipelineDefinition
    description: str = Field(default="", max_length=1024)


class PipelineOut(BaseModel):
    name: str
    srn: str
    description: str
    latest_version: int
    definition: PipelineDefinition
    dependencies: dict[str, list[str]] = Field(
        description="Each step's upstream steps: depends_on, data references, conditions."
    )
    owner: str
    created_at: datetime
    last_modified_at: datetime


class PipelineVersionOut(BaseModel):
    pipeline_name: str
    version: int
    definition: PipelineDefinition
    created_by: str
    created_at: datetime


# ---- executions -----------------------------------------------------------------------
class ExecutionIn(_Strict):
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    display_name: str | None = Field(default=None, max_length=128)


class StepExecutionOut(BaseModel):
    step_name: str
    step_type: str
    status: str
    attempts: int
    failure_reason: str | None
    resource_kind: str | None = Field(description="training-job, processing-job, ...")
    resource_name: str | None
    cache_hit: bool
    cached_from_execution: str | None
    properties: dict[str, Any]
    started_at: datetime | None
    ended_at: datetime | None


class ExecutionOut(BaseModel):
    id: str
    srn: str
    pipeline_name: str
    pipeline_version: int
    display_name: str | None
    status: str
    failure_reason: str | None
    parameters: dict[str, Any]
    started_by: str
    trigger: str
    created_at: datetime
    ended_at: datetime | None
    steps: list[StepExecutionOut]


# ---- schedules and triggers -----------------------------------------------------------
class ScheduleIn(_Strict):
    """Run the pipeline at every slot of a cron expression (5 fields, or 6 with seconds
    last). A slot missed while no scheduler ran is run once (``run-once``: only the
    latest missed slot) or not at all (``skip``); a slot never runs twice."""

    name: str
    cron: str = Field(min_length=1, max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    missed_slots: MissedSlotPolicy = "run-once"
    enabled: bool = True


class ScheduleOut(BaseModel):
    name: str
    pipeline_name: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    missed_slots: MissedSlotPolicy
    enabled: bool
    last_slot_at: datetime | None
    next_slot_at: datetime | None
    owner: str
    created_at: datetime


class TriggerIn(_Strict):
    """Run the pipeline once for every new object under ``source`` (a ``shipyard://``
    prefix or a local directory inside the data roots); its URI is passed as the
    parameter ``parameter_name``. Objects already there when the trigger is made do not
    count."""

    name: str
    source: str = Field(min_length=1, max_length=1024)
    parameter_name: str | None = Field(default=None, max_length=64)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    enabled: bool = True


class TriggerOut(BaseModel):
    name: str
    pipeline_name: str
    source: str
    parameter_name: str | None
    parameters: dict[str, Any]
    enabled: bool
    owner: str
    created_at: datetime
