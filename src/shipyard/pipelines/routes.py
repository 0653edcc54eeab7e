"""HTTP routes of the pipelines room: pipelines, executions, schedules and triggers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.errors import ValidationError
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.pipelines import engine, schedules, service
from shipyard.pipelines.schemas import (
    EXECUTION_STATUSES,
    ExecutionIn,
    ExecutionOut,
    PipelineIn,
    PipelineOut,
    PipelineVersionOut,
    ScheduleIn,
    ScheduleOut,
    TriggerIn,
    TriggerOut,
)

router = APIRouter(prefix="/api/v1", tags=["pipelines"])


def pipeline_srn(name: str) -> str:
    return srn("pipeline", name)


# ---- pipelines ----------------------------------------------------------------------------
@router.put("/pipelines/{name}", response_model=PipelineOut)
def upsert_pipeline(
    name: str, request: PipelineIn, context: ContextDep, authorize: AuthorizeDep
) -> PipelineOut:
    principal = authorize("pipelines:UpsertPipeline", pipeline_srn(name))
    with context.db.session_scope() as session:
        return service.upsert_pipeline(session, name, request, principal.name)


@router.get("/pipelines", response_model=ListResponse[PipelineOut])
def list_pipelines(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[PipelineOut]:
    authorize("pipelines:ListPipelines", pipeline_srn("*"))
    with context.db.session_scope() as session:
        items = service.list_pipelines(session, limit=page.limit, offset=page.offset)
    return ListResponse[PipelineOut](items=items, next_token=page.next_token(len(items)))


@router.get("/pipelines/{name}", response_model=PipelineOut)
def describe_pipeline(name: str, context: ContextDep, authorize: AuthorizeDep) -> PipelineOut:
    authorize("pipelines:DescribePipeline", pipeline_srn(name))
    with context.db.session_scope() as session:
        return service.describe_pipeline(session, name)


@router.get("/pipelines/{name}/versions/{version}", response_model=PipelineVersionOut)
def describe_pipeline_version(
    name: str, version: str, context: ContextDep, authorize: AuthorizeDep
) -> PipelineVersionOut:
    authorize("pipelines:DescribePipeline", pipeline_srn(name))
    if not version.isdigit():
        raise ValidationError("expected a version number", "version")
    with context.db.session_scope() as session:
        return service.describe_version(session, name, int(version))


@router.delete("/pipelines/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pipeline(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("pipelines:DeletePipeline", pipeline_srn(name))
    with context.db.session_scope() as session:
        service.delete_pipeline(session, name)


# ---- executions ---------------------------------------------------------------------------
@router.post(
    "/pipelines/{name}/executions",
    status_code=status.HTTP_201_CREATED,
    response_model=ExecutionOut,
)
def start_pipeline_execution(
    name: str, request: ExecutionIn, context: ContextDep, authorize: AuthorizeDep
) -> ExecutionOut:
    principal = authorize("pipelines:StartPipelineExecution", pipeline_srn(name))
    with context.db.session_scope() as session:
        execution = service.start_execution(session, name, request, principal.name)
    context.run_soon(engine.DUTY_NAME)
    return execution


@router.get("/pipelines/{name}/executions", response_model=ListResponse[ExecutionOut])
def list_pipeline_executions(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    status_equals: Annotated[str | None, Query(alias="status")] = None,
) -> ListResponse[ExecutionOut]:
    authorize("pipelines:ListPipelineExecutions", pipeline_srn(name))
    if status_equals is not None and status_equals not in EXECUTION_STATUSES:
        raise ValidationError(f"expected one of {', '.join(EXECUTION_STATUSES)}", "status")
    with context.db.session_scope() as session:
        items = service.list_executions(
            session, pipeline_name=name, limit=page.limit, offset=page.offset, status=status_equals
        )
    return ListResponse[ExecutionOut](items=items, next_token=page.next_token(len(items)))


@router.get("/pipelines/{name}/executions/{execution_id}", response_model=ExecutionOut)
def describe_pipeline_execution(
    name: str, execution_id: str, context: ContextDep, authorize: AuthorizeDep
) -> ExecutionOut:
    authorize("pipelines:DescribePipelineExecution", pipeline_srn(name))
    with context.db.session_scope() as session:
        return service.describe_execution(session, execution_id, name)


@router.post("/pipelines/{name}/executions/{execution_id}/stop", response_model=ExecutionOut)
def stop_pipeline_execution(
    name: str, execution_id: str, context: ContextDep, authorize: AuthorizeDep
) -> ExecutionOut:
    authorize("pipelines:StopPipelineExecution", pipeline_srn(name))
    with context.db.session_scope() as session:
        execution = service.stop_execution(session, execution_id, name)
    context.run_soon(engine.DUTY_NAME)
    return execution


@router.post("/pipelines/{name}/executions/{execution_id}/retry", response_model=ExecutionOut)
def retry_pipeline_execution(
    name: str, execution_id: str, context: ContextDep, authorize: AuthorizeDep
) -> ExecutionOut:
    authorize("pipelines:RetryPipelineExecution", pipeline_srn(name))
    with context.db.session_scope() as session:
        execution = service.retry_execution(session, execution_id, name)
    context.run_soon(engine.DUTY_NAME)
    return execution


# ---- schedules and triggers ------------------------------------------------------------------
@router.post(
    "/pipelines/{name}/schedules", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut
)
def create_schedule(
    name: str, request: ScheduleIn, context: ContextDep, authorize: AuthorizeDep
) -> ScheduleOut:
    principal = authorize("pipelines:CreateSchedule", pipeline_srn(name))
    with context.db.session_scope() as session:
        return schedules.create_schedule(session, name, request, principal.name)


@router.get("/pipelines/{name}/schedules", response_model=ListResponse[ScheduleOut])
def list_schedules(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> ListResponse[ScheduleOut]:
    authorize("pipelines:ListSchedules", pipeline_srn(name))
    with context.db.session_scope() as session:
        return ListResponse[ScheduleOut](items=schedules.list_schedules(session, name))


@router.delete("/pipelines/{name}/schedules/{schedule}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(name: str, schedule: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("pipelines:DeleteSchedule", pipeline_srn(name))
    with context.db.session_scope() as session:
        schedules.delete_schedule(session, name, schedule)


@router.post(
    "/pipelines/{name}/triggers", status_code=status.HTTP_201_CREATED, response_model=TriggerOut
)
def create_trigger(
    name: str, request: TriggerIn, context: ContextDep, authorize: AuthorizeDep
) -> TriggerOut:
    principal = authorize("pipelines:CreateTrigger", pipeline_srn(name))
    with context.db.session_scope() as session:
        return schedules.create_trigger(
            session, context.settings, context.store, name, request, principal.name
        )


@router.get("/pipelines/{name}/triggers", response_model=ListResponse[TriggerOut])
def list_triggers(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> ListResponse[TriggerOut]:
    authorize("pipelines:ListTriggers", pipeline_srn(name))
    with context.db.session_scope() as session:
        return ListResponse[TriggerOut](items=schedules.list_triggers(session, name))


@router.delete("/pipelines/{name}/triggers/{trigger}", status_code=status.HTTP_204_NO_CONTENT)
def delete_trigger(name: str, trigger: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("pipelines:DeleteTrigger", pipeline_srn(name))
    with context.db.session_scope() as session:
        schedules.delete_trigger(session, name, trigger)
