"""Tables of the pipelines room: pipelines and their versions, executions and their steps,
schedules (with the slots they ran) and data triggers (with the objects they saw)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Pipeline(Base):
    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    latest_version: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PipelineVersion(Base):
    __tablename__ = "pipeline_versions"

    pipeline_name: Mapped[str] = mapped_column(
        ForeignKey("pipelines.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PipelineExecution(Base):
    """One run of one version; ``status`` is Executing until every step has settled."""

    __tablename__ = "pipeline_executions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["pipeline_name", "pipeline_version"],
            ["pipeline_versions.pipeline_name", "pipeline_versions.version"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_name: Mapped[str] = mapped_column(String(64), index=True)
    pipeline_version: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_by: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PipelineStepExecution(Base):
    """One step of one execution. ``resource_*`` names what the step made (a job, a
    package, an endpoint); ``cache_key`` is set when the step may be reused or reuse."""

    __tablename__ = "pipeline_step_executions"
    __table_args__ = (UniqueConstraint("execution_id", "step_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_executions.id", ondelete="CASCADE"), index=True
    )
    step_name: Mapped[str] = mapped_column(String(64))
    step_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    resource_kind: Mapped[str | None] = mapped_column(String(32))
    resource_name: Mapped[str | None] = mapped_column(String(160))
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    cached_from_execution: Mapped[str | None] = mapped_column(String(32))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PipelineSchedule(Base):
    __tablename__ = "pipeline_schedules"

    pipeline_name: Mapped[str] = mapped_column(
        ForeignKey("pipelines.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    missed_slots: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    last_slot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PipelineScheduleSlot(Base):
    """A slot a schedule took (ran or skipped); the key makes each slot happen once."""

    __tablename__ = "pipeline_schedule_slots"
    __table_args__ = (
        ForeignKeyConstraint(
            ["pipeline_name", "schedule_name"],
            ["pipeline_schedules.pipeline_name", "pipeline_schedules.name"],
            ondelete="CASCADE",
        ),
    )

    pipeline_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    schedule_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    execution_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PipelineTrigger(Base):
    __tablename__ = "pipeline_triggers"

    pipeline_name: Mapped[str] = mapped_column(
        ForeignKey("pipelines.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    parameter_name: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PipelineTriggerObject(Base):
    """An object a trigger has seen (at creation, or since: then it started a run)."""

    __tablename__ = "pipeline_trigger_objects"
    __table_args__ = (
        ForeignKeyConstraint(
            ["pipeline_name", "trigger_name"],
            ["pipeline_triggers.pipeline_name", "pipeline_triggers.name"],
            ondelete="CASCADE",
        ),
    )

    pipeline_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_uri: Mapped[str] = mapped_column(String(768), primary_key=True)
    execution_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
