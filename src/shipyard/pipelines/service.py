"""Pipelines and their executions: upsert a definition (a new version when it changed),
describe, list, delete; start an execution, stop it, retry its failed steps."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core import logstore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.errors import InvalidState, NotFound, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.pipelines.models import (
    Pipeline,
    PipelineExecution,
    PipelineStepExecution,
    PipelineVersion,
)
from shipyard.pipelines.schemas import (
    ExecutionIn,
    ExecutionOut,
    PipelineDefinition,
    PipelineIn,
    PipelineOut,
    PipelineVersionOut,
    StepExecutionOut,
)
from shipyard.pipelines.validation import check_definition, check_execution_parameters

ACTIVE = ("Executing", "Stopping")


# ---- pipelines ----------------------------------------------------------------------------
def upsert_pipeline(session: Session, name: str, request: PipelineIn, owner: str) -> PipelineOut:
    """Create the pipeline, or add a version when the definition differs from the latest."""
    validate_name(name)
    checked = check_definition(request.definition)
    document = request.definition.model_dump(mode="json")
    digest = _definition_sha256(document)
    now = utcnow()
    pipeline = session.get(Pipeline, name, with_for_update=True)
    if pipeline is None:
        pipeline = Pipeline(
            name=name,
            description=request.description,
            latest_version=0,
            owner=owner,
            created_at=now,
            last_modified_at=now,
        )
        session.add(pipeline)
    latest = _version_row(session, pipeline) if pipeline.latest_version else None
    if latest is None or latest.definition_sha256 != digest:
        pipeline.latest_version += 1
        session.add(
            PipelineVersion(
                pipeline_name=name,
                version=pipeline.latest_version,
                definition=document,
                definition_sha256=digest,
                created_by=owner,
                created_at=now,
            )
        )
        pipeline.last_modified_at = now
    pipeline.description = request.description
    session.flush()
    return _pipeline_out(pipeline, request.definition, checked.dependencies)


def describe_pipeline(session: Session, name: str) -> PipelineOut:
    pipeline = get_pipeline(session, name)
    definition = latest_definition(session, pipeline)
    return _pipeline_out(pipeline, definition, check_definition(definition).dependencies)


def get_pipeline(session: Session, name: str) -> Pipeline:
    pipeline = session.get(Pipeline, validate_name(name))
    if pipeline is None:
        raise NotFound(f"pipeline '{name}' not found")
    return pipeline


def latest_definition(session: Session, pipeline: Pipeline) -> PipelineDefinition:
    return PipelineDefinition.model_validate(_version_row(session, pipeline).definition)


def list_pipelines(session: Session, *, limit: int, offset: int) -> list[PipelineOut]:
    rows = session.scalars(
        select(Pipeline).order_by(Pipeline.created_at.desc()).limit(limit).offset(offset)
    ).all()
    outs = []
    for row in rows:
        definition = latest_definition(session, row)
        outs.append(_pipeline_out(row, definition, check_definition(definition).dependencies))
    return outs


def describe_version(session: Session, name: str, version: int) -> PipelineVersionOut:
    pipeline = get_pipeline(session, name)
    row = session.get(PipelineVersion, (pipeline.name, version))
    if row is None:
        raise NotFound(f"pipeline '{name}' has no version {version}")
    return PipelineVersionOut(
        pipeline_name=row.pipeline_name,
        version=row.version,
        definition=PipelineDefinition.model_validate(row.definition),
        created_by=row.created_by,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def delete_pipeline(session: Session, name: str) -> None:
    """Refused while an execution runs: stop it first."""
    pipeline = get_pipeline(session, name)
    running = session.scalar(
        select(PipelineExecution.id).where(
            PipelineExecution.pipeline_name == pipeline.name,
            PipelineExecution.status.in_(ACTIVE),
        )
    )
    if running is not None:
        raise InvalidState(f"pipeline '{name}' has execution {running} running; stop it first")
    for execution in session.scalars(
        select(PipelineExecution).where(PipelineExecution.pipeline_name == pipeline.name)
    ):
        session.delete(execution)
    session.flush()
    session.delete(pipeline)


# ---- executions ---------------------------------------------------------------------------
def start_execution(
    session: Session, name: str, request: ExecutionIn, started_by: str, trigger: str = "manual"
) -> ExecutionOut:
    """Start the latest version with these parameters; the engine takes it from here."""
    pipeline = get_pipeline(session, name)
    definition = latest_definition(session, pipeline)
    parameters = check_execution_parameters(definition, request.parameters)
    now = utcnow()
    execution = PipelineExecution(
        id=uuid.uuid4().hex[:16],
        pipeline_name=pipeline.name,
        pipeline_version=pipeline.latest_version,
        display_name=request.display_name,
        status="Executing",
        failure_reason=None,
        parameters=parameters,
        started_by=started_by,
        trigger=trigger,
        created_at=now,
    )
    session.add(execution)
    for step in definition.steps:
        session.add(_fresh_step(execution.id, step.name, step.type))
    session.flush()
    logstore.append(
        session,
        logstore.pipeline_group(pipeline.name),
        execution.id,
        [(now, _started_line(execution))],
    )
    return describe_execution(session, execution.id)


def _started_line(execution: PipelineExecution) -> str:
    parameters = json.dumps(execution.parameters, sort_keys=True, default=str)
    return (
        f"execution started ({execution.trigger}) by {execution.started_by}, version "
        f"{execution.pipeline_version}, parameters {parameters}"
    )


def describe_execution(
    session: Session, execution_id: str, pipeline_name: str | None = None
) -> ExecutionOut:
    """The execution, with its steps; NotFound unless it is one of ``pipeline_name``'s."""
    execution = _get_execution(session, execution_id, pipeline_name)
    return _execution_out(execution, _steps_of(session, execution_id))


def list_executions(
    session: Session,
    *,
    pipeline_name: str | None,
    limit: int,
    offset: int,
    status: str | None = None,
) -> list[ExecutionOut]:
    query = select(PipelineExecution).order_by(PipelineExecution.created_at.desc())
    if pipeline_name is not None:
        query = query.where(
            PipelineExecution.pipeline_name == get_pipeline(session, pipeline_name).name
        )
    if status is not None:
        query = query.where(PipelineExecution.status == status)
    rows = session.scalars(query.limit(limit).offset(offset)).all()
    steps = _steps_of_many(session, [r.id for r in rows])
    return [_execution_out(r, steps.get(r.id, [])) for r in rows]


def stop_execution(session: Session, execution_id: str, pipeline_name: str) -> ExecutionOut:
    """Ask the engine to stop every running step; the execution ends Stopped."""
    execution = _get_execution(session, execution_id, pipeline_name, lock=True)
    if execution.status not in ACTIVE:
        raise InvalidState(
            f"execution {execution_id} is {execution.status}; only a running one can be stopped"
        )
    execution.status, execution.failure_reason = "Stopping", "Stopped by user"
    return describe_execution(session, execution_id)


def retry_execution(session: Session, execution_id: str, pipeline_name: str) -> ExecutionOut:
    """Run the failed, stopped and skipped steps of an ended execution again; the steps
    that succeeded keep their results. A step's attempts go on counting (its retry policy
    counts them too)."""
    execution = _get_execution(session, execution_id, pipeline_name, lock=True)
    if execution.status not in ("Failed", "Stopped"):
        raise InvalidState(
            f"execution {execution_id} is {execution.status}; "
            "only a Failed or Stopped one can be retried"
        )
    for row in _steps_of(session, execution_id):
        if row.status in ("Failed", "Stopped", "Skipped"):
            # attempts go on counting: each attempt's job has a name of its own
            row.status, row.failure_reason = "NotStarted", None
            row.next_attempt_at = row.started_at = row.ended_at = None
            row.resource_name, row.cache_key, row.properties = None, None, {}
    execution.status, execution.failure_reason, execution.ended_at = "Executing", None, None
    session.flush()
    return describe_execution(session, execution_id)


# ---- rendering ------------------------------------------------------------------------------
def _pipeline_out(
    row: Pipeline, definition: PipelineDefinition, dependencies: dict[str, list[str]]
) -> PipelineOut:
    return PipelineOut(
        name=row.name,
        srn=srn("pipeline", row.name),
        description=row.description,
        latest_version=row.latest_version,
        definition=definition,
        dependencies=dependencies,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
        last_modified_at=as_utc(row.last_modified_at) or row.last_modified_at,
    )


def _execution_out(row: PipelineExecution, steps: Sequence[PipelineStepExecution]) -> ExecutionOut:
    return ExecutionOut(
        id=row.id,
        srn=srn("pipeline", f"{row.pipeline_name}/execution/{row.id}"),
        pipeline_name=row.pipeline_name,
        pipeline_version=row.pipeline_version,
        display_name=row.display_name,
        status=row.status,
        failure_reason=row.failure_reason,
        parameters=row.parameters,
        started_by=row.started_by,
        trigger=row.trigger,
        created_at=as_utc(row.created_at) or row.created_at,
        ended_at=as_utc(row.ended_at),
        steps=[_step_out(s) for s in steps],
    )


def _step_out(row: PipelineStepExecution) -> StepExecutionOut:
    return StepExecutionOut(
        step_name=row.step_name,
        step_type=row.step_type,
        status=row.status,
        attempts=row.attempts,
        failure_reason=row.failure_reason,
        resource_kind=row.resource_kind,
        resource_name=row.resource_name,
        cache_hit=row.cached_from_execution is not None,
        cached_from_execution=row.cached_from_execution,
        properties=row.properties,
        started_at=as_utc(row.started_at),
        ended_at=as_utc(row.ended_at),
    )


def _fresh_step(execution_id: str, name: str, step_type: str) -> PipelineStepExecution:
    return PipelineStepExecution(
        execution_id=execution_id,
        step_name=name,
        step_type=step_type,
        status="NotStarted",
        attempts=0,
        properties={},
    )


def _get_execution(
    session: Session, execution_id: str, pipeline_name: str | None, lock: bool = False
) -> PipelineExecution:
    if not isinstance(execution_id, str) or not execution_id.isalnum() or len(execution_id) > 32:
        raise ValidationError("is not a pipeline execution id", "execution_id")
    execution = session.get(PipelineExecution, execution_id, with_for_update=lock)
    if execution is None or pipeline_name not in (None, execution.pipeline_name):
        where = f" of pipeline '{pipeline_name}'" if pipeline_name else ""
        raise NotFound(f"pipeline execution '{execution_id}'{where} not found")
    return execution


def _steps_of(session: Session, execution_id: str) -> list[PipelineStepExecution]:
    return list(
        session.scalars(
            select(PipelineStepExecution)
            .where(PipelineStepExecution.execution_id == execution_id)
            .order_by(PipelineStepExecution.id)
        )
    )


def _steps_of_many(session: Session, ids: Sequence[str]) -> dict[str, list[PipelineStepExecution]]:
    if not ids:
        return {}
    found: dict[str, list[PipelineStepExecution]] = {}
    rows = session.scalars(
        select(PipelineStepExecution)
        .where(PipelineStepExecution.execution_id.in_(ids))
        .order_by(PipelineStepExecution.id)
    )
    for row in rows:
        found.setdefault(row.execution_id, []).append(row)
    return found


def _version_row(session: Session, pipeline: Pipeline) -> PipelineVersion:
    row = session.get(PipelineVersion, (pipeline.name, pipeline.latest_version))
    assert row is not None
    return row


def _definition_sha256(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
