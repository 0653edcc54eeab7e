"""HTTP routes of the training room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.compute import service as compute
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.training import service
from shipyard.training.schemas import (
    LogsOut,
    MetricPointOut,
    MetricsOut,
    TrainingJobIn,
    TrainingJobOut,
)

router = APIRouter(prefix="/api/v1/training-jobs", tags=["training"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TrainingJobOut)
def create_training_job(
    request: TrainingJobIn, context: ContextDep, authorize: AuthorizeDep
) -> TrainingJobOut:
    principal = authorize("training:CreateTrainingJob", srn("training-job", request.name))
    with context.db.session_scope() as session:
        job = service.create_training_job(
            session, context.settings, context.store, request, principal.name
        )
    context.wake_workers()
    return job


@router.get("", response_model=ListResponse[TrainingJobOut])
def list_training_jobs(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    status_equals: Annotated[str | None, Query(alias="status")] = None,
) -> ListResponse[TrainingJobOut]:
    authorize("training:ListTrainingJobs", srn("training-job", "*"))
    with context.db.session_scope() as session:
        items = service.list_training_jobs(
            session, limit=page.limit, offset=page.offset, status=status_equals
        )
    return ListResponse[TrainingJobOut](items=items, next_token=page.next_token(len(items)))


@router.get("/{name}", response_model=TrainingJobOut)
def describe_training_job(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> TrainingJobOut:
    authorize("training:DescribeTrainingJob", srn("training-job", name))
    with context.db.session_scope() as session:
        return service.describe_training_job(session, name)


@router.post("/{name}/stop", response_model=TrainingJobOut)
def stop_training_job(name: str, context: ContextDep, authorize: AuthorizeDep) -> TrainingJobOut:
    authorize("training:StopTrainingJob", srn("training-job", name))
    with context.db.session_scope() as session:
        return service.stop_training_job(session, name)


@router.get("/{name}/logs", response_model=LogsOut)
def get_training_job_logs(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    after_seq: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> LogsOut:
    authorize("training:GetTrainingJobLogs", srn("training-job", name))
    with context.db.session_scope() as session:
        job = service.JOBS.job(session, name)
        page = compute.read_log_page(session, job, after_seq=after_seq, limit=limit)
    return LogsOut.model_validate(page, from_attributes=True)


@router.get("/{name}/metrics", response_model=MetricsOut)
def get_training_job_metrics(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    metric_name: Annotated[str | None, Query(alias="name", max_length=128)] = None,
) -> MetricsOut:
    authorize("training:GetTrainingJobMetrics", srn("training-job", name))
    with context.db.session_scope() as session:
        job_id = service.job_id_of(session, name)
        points = compute.read_metrics(session, job_id, metric_name)
    return MetricsOut(metrics=[MetricPointOut(**p.__dict__) for p in points])
