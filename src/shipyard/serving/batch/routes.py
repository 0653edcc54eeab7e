"""HTTP routes of the batch transform room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.compute import service as compute
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.serving.batch import service
from shipyard.serving.batch.schemas import TransformJobIn, TransformJobOut
from shipyard.training.schemas import LogsOut, MetricPointOut, MetricsOut

router = APIRouter(prefix="/api/v1/transform-jobs", tags=["transform"])
KIND = "transform-job"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TransformJobOut)
def create_transform_job(
    request: TransformJobIn, context: ContextDep, authorize: AuthorizeDep
) -> TransformJobOut:
    principal = authorize("serving:CreateTransformJob", srn(KIND, request.name))
    with context.db.session_scope() as session:
        job = service.create_transform_job(
            session, context.settings, context.store, request, principal.name
        )
    context.wake_workers()
    return job


@router.get("", response_model=ListResponse[TransformJobOut])
def list_transform_jobs(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    status_equals: Annotated[str | None, Query(alias="status")] = None,
) -> ListResponse[TransformJobOut]:
    authorize("serving:ListTransformJobs", srn(KIND, "*"))
    with context.db.session_scope() as session:
        items = service.list_transform_jobs(
            session, limit=page.limit, offset=page.offset, status=status_equals
        )
    return ListResponse[TransformJobOut](items=items, next_token=page.next_token(len(items)))


@router.get("/{name}", response_model=TransformJobOut)
def describe_transform_job(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> TransformJobOut:
    authorize("serving:DescribeTransformJob", srn(KIND, name))
    with context.db.session_scope() as session:
        return service.describe_transform_job(session, name)


@router.post("/{name}/stop", response_model=TransformJobOut)
def stop_transform_job(name: str, context: ContextDep, authorize: AuthorizeDep) -> TransformJobOut:
    authorize("serving:StopTransformJob", srn(KIND, name))
    with context.db.session_scope() as session:
        return service.stop_transform_job(session, name)


@router.get("/{name}/logs", response_model=LogsOut)
def get_transform_job_logs(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    after_seq: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> LogsOut:
    authorize("serving:GetTransformJobLogs", srn(KIND, name))
    with context.db.session_scope() as session:
        job = service.JOBS.job(session, name)
        page = compute.read_log_page(session, job, after_seq=after_seq, limit=limit)
    return LogsOut.model_validate(page, from_attributes=True)


@router.get("/{name}/metrics", response_model=MetricsOut)
def get_transform_job_metrics(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    metric_name: Annotated[str | None, Query(alias="name", max_length=128)] = None,
) -> MetricsOut:
    authorize("serving:GetTransformJobMetrics", srn(KIND, name))
    with context.db.session_scope() as session:
        job_id = service.job_id_of(session, name)
        points = compute.read_metrics(session, job_id, metric_name)
    return MetricsOut(metrics=[MetricPointOut(**p.__dict__) for p in points])
