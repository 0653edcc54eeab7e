"""What a job asks of the executor: its entry point, payload, resources and limits."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

JOB_STATUSES = ("Pending", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
ACTIVE_STATUSES = ("InProgress", "Stopping")


MAX_INSTANCE_COUNT = 64


class Resources(BaseModel):
    """What one job may use; unset means the machine's share the worker grants.

    ``cpu_count`` is per instance; a job of ``instance_count`` instances (the processes of
    a data-parallel script) is granted ``cpu_count * instance_count`` CPUs in all, and
    ``memory_limit_mb`` bounds all its instances together.
    """

    model_config = ConfigDict(extra="forbid")

    cpu_count: int | None = Field(default=None, ge=1, le=1024)
    memory_limit_mb: int | None = Field(default=None, ge=32)
    instance_count: int = Field(default=1, ge=1, le=MAX_INSTANCE_COUNT)


class StoppingCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_runtime_seconds: int = Field(default=86400, ge=1, le=28 * 86400)


class MetricDefinition(BaseModel):
    """A metric the job emits: read from its log by a regex whose first group is the
    value, or, without a regex, reported by the job itself with ``log_metric``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    regex: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("regex")
    @classmethod
    def _compiles_with_a_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if pattern.groups < 1:
            raise ValueError("needs one capturing group for the value")
        return value


class JobSpec(BaseModel):
    """Everything an executor needs to run one attempt of a job, on any backend.

    ``entrypoint`` is a module with ``main(payload: dict) -> None``; it runs in a fresh
    process whose working directory holds ``payload`` as ``job.json``.
    """

    entrypoint: str
    payload: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
