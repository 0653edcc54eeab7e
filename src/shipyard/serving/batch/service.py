"""Batch transform jobs: validate a request completely, queue it, describe it, stop it,
and put its output in lineage once it completed.

The job reports how many records its files hold once it counted them (a
``transform-plan`` record), each output file as soon as it is stored (a
``transform-output`` record, with its failed records), so a description lists the files
done so far, and its running count in the ``records_processed`` and ``records_failed``
metrics; the output prefix's content hash comes with its last record
(``transform-summary``).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.job_tables import JobTable, job_state
from shipyard.compute.models import Job, JobMetric
from shipyard.compute.schemas import JobSpec, Resources, StoppingCondition
from shipyard.core.artifacts import BaseArtifactStore, uri_for
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.names import srn
from shipyard.lineage import service as lineage
from shipyard.serving.batch.models import TransformJob
from shipyard.serving.batch.schemas import (
    DataProcessing,
    TransformFileOut,
    TransformInputOut,
    TransformJobIn,
    TransformJobOut,
    TransformOutputOut,
)
from shipyard.serving.batch.validation import MB, check_transform_job

log = logging.getLogger(__name__)
JOB_KIND = "transform"
RUNTIME = "shipyard.serving.batch.runtime"
PLAN_RECORD = "transform-plan"
FILE_RECORD = "transform-output"
SUMMARY_RECORD = "transform-summary"
PROGRESS_METRICS = ("records_processed", "records_failed")
JOBS = JobTable(TransformJob, "transform job")


def create_transform_job(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    request: TransformJobIn,
    owner: str,
) -> TransformJobOut:
    """Queue a transform job, with the lineage of its model and input, in the caller's
    transaction."""
    checked = check_transform_job(session, settings, store, request)
    name, source = checked.name, checked.source
    output_prefix = f"transform-jobs/{name}/output"
    spec = JobSpec(
        entrypoint=RUNTIME,
        payload={
            "name": name,
            "model": checked.model.to_payload(),
            "feature_names": checked.feature_names,
            "files": checked.files,
            "content_type": request.transform_input.content_type,
            "split_type": request.transform_input.split_type,
            "accept": request.transform_output.accept,
            "data_processing": request.data_processing.model_dump(),
            "single_record": request.batch_strategy == "SingleRecord",
            "max_payload_bytes": request.max_payload_mb * MB,
            "max_concurrent_transforms": request.max_concurrent_transforms,
            "output_prefix": output_prefix,
            "store": store.describe(),
            "cpu_count": request.resources.cpu_count,
        },
        resources=request.resources,
    )
    job = compute.create_job(
        session,
        kind=JOB_KIND,
        name=name,
        spec=spec,
        owner=owner,
        max_runtime_seconds=request.stopping_condition.max_runtime_seconds,
    )
    row = TransformJob(
        name=name,
        job_id=job.id,
        model_name=request.model_name,
        model_data_uri=checked.model.model_data_uri,
        transform_input={
            **request.transform_input.model_dump(),
            "uri": source.uri,
            "kind": source.kind,
            "sha256": source.sha256,
            "dataset_name": source.dataset_name,
            "files": len(source.files),
        },
        transform_output=request.transform_output.model_dump(),
        data_processing=request.data_processing.model_dump(),
        max_concurrent_transforms=request.max_concurrent_transforms,
        max_payload_mb=request.max_payload_mb,
        batch_strategy=request.batch_strategy,
        resources=request.resources.model_dump(),
        stopping_condition=request.stopping_condition.model_dump(),
        tags=dict(request.tags),
        output_uri=uri_for(output_prefix),
        reconciled=False,
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    target = lineage.Entity("transform-job", name)
    model = lineage.Entity("model", request.model_name, {"model_data_uri": row.model_data_uri})
    lineage.record(session, model, target, "ContributedTo")
    data = lineage.dataset(source.sha256, source.uri, source.dataset_name)
    lineage.record(session, data, target, "ContributedTo")
    return to_out(row, job, [])


def describe_transform_job(session: Session, name: str) -> TransformJobOut:
    row, job = JOBS.find(session, name)
    return to_out(row, job, _records(session, row.job_id), _progress(session, job))


def list_transform_jobs(
    session: Session, *, limit: int, offset: int, status: str | None = None
) -> list[TransformJobOut]:
    page = JOBS.page(session, limit=limit, offset=offset, status=status)
    return [
        to_out(row, job, _records(session, row.job_id), _progress(session, job))
        for row, job in page
    ]


def stop_transform_job(session: Session, name: str) -> TransformJobOut:
    row, job = JOBS.find(session, name)
    stopped = compute.request_stop(session, job)
    return to_out(row, stopped, _records(session, row.job_id), _progress(session, stopped))


def job_id_of(session: Session, name: str) -> str:
    return JOBS.row(session, name).job_id


def is_finished(session: Session, name: str) -> bool:
    return JOBS.is_finished(session, name)


def reconcile_all(db: Database, store: BaseArtifactStore) -> bool:
    """Record what the transform jobs that completed produced; True when any changed.

    Each ended job is taken once (:meth:`JobTable.reconcile_ended`), in the same
    transaction as its lineage.
    """
    return JOBS.reconcile_ended(
        db, _reconcile, log=log, failure="recording the output of transform job %s failed"
    )


def _reconcile(session: Session, row: TransformJob, job: Job | None) -> None:
    summary = _summary(_records(session, row.job_id))
    if job is not None and job.status == "Completed" and summary is not None:
        output = lineage.dataset(summary["sha256"], row.output_uri)
        lineage.record(session, lineage.Entity("transform-job", row.name), output, "Produced")


# ---- descriptions --------------------------------------------------------------------
def to_out(
    row: TransformJob,
    job: Job,
    records: list[compute.EventRecord],
    progress: dict[str, float] | None = None,
) -> TransformJobOut:
    files = [TransformFileOut.model_validate(r.data) for r in records if r.kind == FILE_RECORD]
    summary = _summary(records)
    plans = [r.data for r in records if r.kind == PLAN_RECORD]
    progress = progress or {}
    return TransformJobOut(
        **job_state(job),
        name=row.name,
        srn=srn("transform-job", row.name),
        model_name=row.model_name,
        model_data_uri=row.model_data_uri,
        transform_input=TransformInputOut.model_validate(row.transform_input),
        transform_output=TransformOutputOut(
            accept=row.transform_output["accept"],
            output_uri=row.output_uri,
            sha256=summary["sha256"] if summary else None,
        ),
        output_uri=row.output_uri,
        data_processing=DataProcessing.model_validate(row.data_processing or {}),
        outputs=files,
        records_total=plans[-1]["records"] if plans else None,
        records_processed=max(
            sum(f.records for f in files), int(progress.get("records_processed", 0))
        ),
        records_failed=max(
            sum(f.records_failed for f in files), int(progress.get("records_failed", 0))
        ),
        max_concurrent_transforms=row.max_concurrent_transforms,
        max_payload_mb=row.max_payload_mb,
        batch_strategy=row.batch_strategy,
        resources=Resources.model_validate(row.resources),
        stopping_condition=StoppingCondition.model_validate(row.stopping_condition),
        tags=row.tags,
        owner=row.owner,
    )


def _records(session: Session, job_id: str) -> list[compute.EventRecord]:
    kinds = (PLAN_RECORD, FILE_RECORD, SUMMARY_RECORD)
    return [r for r in compute.read_events(session, job_id) if r.kind in kinds]


def _progress(session: Session, job: Job) -> dict[str, float]:
    """The job's last ``records_processed`` and ``records_failed``: its final metrics once
    it ended, else the latest point of each (one row each, however long it ran)."""
    if job.final_metrics:
        return {k: v for k, v in job.final_metrics.items() if k in PROGRESS_METRICS}
    latest = {}
    for name in PROGRESS_METRICS:
        value = session.scalar(
            select(JobMetric.value)
            .where(JobMetric.job_id == job.id, JobMetric.name == name)
            .order_by(JobMetric.id.desc())
            .limit(1)
        )
        if value is not None:
            latest[name] = value
    return latest


def _summary(records: list[compute.EventRecord]) -> dict[str, Any] | None:
    summaries = [r.data for r in records if r.kind == SUMMARY_RECORD]
    return summaries[-1] if summaries else None
