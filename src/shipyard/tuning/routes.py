"""HTTP routes of the tuning room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.tuning import service
from shipyard.tuning.schemas import TrialsOut, TuningJobIn, TuningJobOut

router = APIRouter(prefix="/api/v1/tuning-jobs", tags=["tuning"])
RECONCILE_TASK = "tuning"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TuningJobOut)
def create_tuning_job(
    request: TuningJobIn, context: ContextDep, authorize: AuthorizeDep
) -> TuningJobOut:
    principal = authorize("tuning:CreateHyperParameterTuningJob", srn("tuning-job", request.name))
    # Its trials are training jobs the caller starts: they need that right too.
    authorize("training:CreateTrainingJob", srn("training-job", f"{request.name}-*"))
    with context.db.session_scope() as session:
        job = service.create_tuning_job(
            session, context.settings, context.store, request, principal.name
        )
    context.run_soon(RECONCILE_TASK)
    return job


@router.get("", response_model=ListResponse[TuningJobOut])
def list_tuning_jobs(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    status_equals: Annotated[str | None, Query(alias="status", max_length=16)] = None,
) -> ListResponse[TuningJobOut]:
    authorize("tuning:ListHyperParameterTuningJobs", srn("tuning-job", "*"))
    with context.db.session_scope() as session:
        items = service.list_tuning_jobs(
            session, limit=page.limit, offset=page.offset, status=status_equals
        )
    return ListResponse[TuningJobOut](items=items, next_token=page.next_token(len(items)))


@router.get("/{name}", response_model=TuningJobOut)
def describe_tuning_job(name: str, context: ContextDep, authorize: AuthorizeDep) -> TuningJobOut:
    authorize("tuning:DescribeHyperParameterTuningJob", srn("tuning-job", name))
    with context.db.session_scope() as session:
        return service.describe_tuning_job(session, name)


@router.get("/{name}/training-jobs", response_model=TrialsOut)
def list_training_jobs_for_tuning_job(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> TrialsOut:
    authorize("tuning:ListTrainingJobsForHyperParameterTuningJob", srn("tuning-job", name))
    with context.db.session_scope() as session:
        return TrialsOut(items=service.list_trials(session, name))


@router.post("/{name}/stop", response_model=TuningJobOut)
def stop_tuning_job(name: str, context: ContextDep, authorize: AuthorizeDep) -> TuningJobOut:
    authorize("tuning:StopHyperParameterTuningJob", srn("tuning-job", name))
    with context.db.session_scope() as session:
        job = service.stop_tuning_job(session, name)
    context.run_soon(RECONCILE_TASK)
    return job
