"""HTTP routes of the processing room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.compute import service as compute
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.processing import service
from shipyard.processing.schemas import ProcessingJobIn, ProcessingJobOut
from shipyard.training.schemas import LogsOut, MetricPointOut, MetricsOut

router = APIRouter(prefix="/api/v1/processing-jobs", tags=["processing"])
KIND = "processing-job"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProcessingJobOut)
def create_processing_job(
    request: ProcessingJobIn, context: ContextDep, authorize: AuthorizeDep
) -> ProcessingJobOut:
    principal = authorize("processing:CreateProcessingJob", srn(KIND, request.name))
    with context.db.session_scope() as session:
        job = service.create_processing_job(
            session, context.settings, context.store, request, principal.name
        )
    context.wake_workers()
    return job


@router.get("", response_model=ListResponse[ProcessingJobOut])
def list_processing_jobs(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    status_equals: Annotated[str | None, Query(alias="status")] = None,
) -> ListResponse[ProcessingJobOut]:
    authorize("processing:ListProcessingJobs", srn(KIND, "*"))
    with context.db.session_scope() as session:
        items = service.list_processing_jobs(
            session, limit=page.limit, offset=page.offset, status=status_equals
        )
    return ListResponse[ProcessingJobOut](items=items, next_token=page.next_token(len(items)))


@router.get("/{name}", response_model=ProcessingJobOut)
def describe_processing_job(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> ProcessingJobOut:
    authorize("processing:DescribeProcessingJob", srn(KIND, name))
    with context.db.session_scope() as session:
        return service.describe_processing_job(session, name)


@router.post("/{name}/stop", response_model=ProcessingJobOut)
def stop_processing_job(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> ProcessingJobOut:
    authorize("processing:StopProcessingJob", srn(KIND, name))
    with context.db.session_scope() as session:
        return service.stop_processing_job(session, name)


@router.get("/{name}/logs", response_model=LogsOut)
def get_processing_job_logs(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    after_seq: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> LogsOut:
    authorize("processing:GetProcessingJobLogs", srn(KIND, name))
    with context.db.session_scope() as session:
        job = service.JOBS.job(session, name)
        page = compute.read_log_page(session, job, after_seq=after_seq, limit=limit)
    return LogsOut.model_validate(page, from_attributes=True)


@router.get("/{name}/metrics", response_model=MetricsOut)
def get_processing_job_metrics(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    metric_name: Annotated[str | None, Query(alias="name", max_length=128)] = None,
) -> MetricsOut:
    authorize("processing:GetProcessingJobMetrics", srn(KIND, name))
    with context.db.session_scope() as session:
        job_id = service.job_id_of(session, name)
        points = compute.read_metrics(session, job_id, metric_name)
    return MetricsOut(metrics=[MetricPointOut(**p.__dict__) for p in points])
