"""Processing jobs: validate a request completely, queue it, describe it, stop it, and
register its outputs as datasets once it completed.

An output's location and content hash come from the job's own ``processing-output``
records, so a description has them the moment the job is Completed; registering the
tables among them as datasets (and their lineage) is :func:`reconcile_all`'s, which the
platform's scheduler runs every second and whenever a job ends.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.job_tables import JobTable, job_state
from shipyard.compute.models import Job
from shipyard.compute.schemas import JobSpec, Resources, StoppingCondition
from shipyard.core.artifacts import BaseArtifactStore, uri_for
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists
from shipyard.core.names import srn
from shipyard.data import service as data
from shipyard.lineage import service as lineage
from shipyard.processing.models import ProcessingJob
from shipyard.processing.schemas import (
    ProcessingInputOut,
    ProcessingJobIn,
    ProcessingJobOut,
    ProcessingOutputOut,
)
from shipyard.processing.sources import Source, file_size, open_file, resolve_source
from shipyard.processing.validation import check_processing_job

__all__ = [
    "Source",
    "create_processing_job",
    "describe_processing_job",
    "file_size",
    "is_finished",
    "job_id_of",
    "list_processing_jobs",
    "open_file",
    "reconcile_all",
    "resolve_source",
    "stop_processing_job",
]

log = logging.getLogger(__name__)
JOB_KIND = "processing"
RUNTIME = "shipyard.processing.runtime"
OUTPUT_RECORD = "processing-output"
JOBS = JobTable(ProcessingJob, "processing job")


def create_processing_job(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    request: ProcessingJobIn,
    owner: str,
) -> ProcessingJobOut:
    """Queue a processing job, with the lineage of its inputs, in the caller's transaction."""
    checked = check_processing_job(session, settings, store, request)
    name = checked.name
    output_prefix = f"processing-jobs/{name}/output"
    spec = JobSpec(
        entrypoint=RUNTIME,
        payload={
            "name": name,
            "sql": checked.sql,
            "entry_point": request.entry_point,
            "source_uri": request.source_uri,
            "arguments": request.arguments,
            "environment": request.environment,
            "inputs": [
                {k: i[k] for k in ("input_name", "kind", "uri", "files", "format")}
                for i in checked.inputs
            ],
            "outputs": [
                {**o, "prefix": f"{output_prefix}/{o['output_name']}"} for o in checked.outputs
            ],
            "store": store.describe(),
            "cpu_count": request.resources.cpu_count,
            "instance_count": request.resources.instance_count,
            "memory_limit_mb": request.resources.memory_limit_mb,
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
    row = ProcessingJob(
        name=name,
        job_id=job.id,
        sql=checked.sql,
        entry_point=request.entry_point,
        source_uri=request.source_uri,
        arguments=list(request.arguments),
        environment=dict(request.environment),
        inputs=checked.inputs,
        outputs=checked.outputs,
        resources=request.resources.model_dump(),
        stopping_condition=request.stopping_condition.model_dump(),
        tags=dict(request.tags),
        output_uri=uri_for(output_prefix),
        reconciled=False,
        registered_outputs={},
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    target = lineage.Entity("processing-job", name)
    for item in checked.inputs:
        node = lineage.dataset(item["sha256"], item["uri"], item["dataset_name"])
        lineage.record(session, node, target, "ContributedTo")
    return to_out(row, job, {})


def describe_processing_job(session: Session, name: str) -> ProcessingJobOut:
    row, job = JOBS.find(session, name)
    return to_out(row, job, output_records(session, row.job_id))


def list_processing_jobs(
    session: Session, *, limit: int, offset: int, status: str | None = None
) -> list[ProcessingJobOut]:
    page = JOBS.page(session, limit=limit, offset=offset, status=status)
    return [to_out(row, job, output_records(session, row.job_id)) for row, job in page]


def stop_processing_job(session: Session, name: str) -> ProcessingJobOut:
    row, job = JOBS.find(session, name)
    return to_out(row, compute.request_stop(session, job), output_records(session, row.job_id))


def job_id_of(session: Session, name: str) -> str:
    return JOBS.row(session, name).job_id


def is_finished(session: Session, name: str) -> bool:
    return JOBS.is_finished(session, name)


def output_records(session: Session, job_id: str) -> dict[str, dict[str, Any]]:
    """What the job reported of each output it wrote, by output name."""
    return {
        str(event.data.get("output_name")): event.data
        for event in compute.read_events(session, job_id, OUTPUT_RECORD)
    }


# ---- registering outputs -------------------------------------------------------------
def reconcile_all(db: Database, store: BaseArtifactStore) -> bool:
    """Register the outputs of processing jobs that completed; True when any changed.

    Each ended job is taken once (:meth:`JobTable.reconcile_ended`), in the same
    transaction as its registrations.
    """
    return JOBS.reconcile_ended(
        db, _reconcile, log=log, failure="registering the outputs of processing job %s failed"
    )


def _reconcile(session: Session, row: ProcessingJob, job: Job | None) -> None:
    if job is None or job.status != "Completed":
        return
    records = output_records(session, row.job_id)
    producer = lineage.Entity("processing-job", row.name)
    registered: dict[str, Any] = {}
    for declared in row.outputs:
        output_name = declared["output_name"]
        record = records.get(output_name)
        if record is None:
            registered[output_name] = {"error": "the job reported no such output"}
            continue
        registered[output_name] = _register(session, row, declared, record, producer)
    row.registered_outputs = registered


def _register(
    session: Session,
    row: ProcessingJob,
    declared: dict[str, Any],
    record: dict[str, Any],
    producer: lineage.Entity,
) -> dict[str, Any]:
    """Register one output if it is a single table; record what it produced either way."""
    table = record.get("table")
    if table is None:
        node = lineage.dataset(record["sha256"], record["uri"])
        lineage.record(session, producer, node, "Produced")
        reason = record.get("not_a_table") or "it does not hold a single csv or parquet table"
        return {"error": f"not registered as a dataset: {reason}"}
    outcome: dict[str, Any]
    try:
        with session.begin_nested():
            dataset = data.register_dataset(
                session,
                name=declared["dataset_name"],
                uri=table["uri"],
                format=table["format"],
                sha256=table["sha256"],
                size_bytes=table["size_bytes"],
                columns=table["columns"],
                owner=row.owner,
            )
        outcome = {"dataset_name": dataset.name}
    except AlreadyExists as exc:
        outcome = {"error": exc.message}
    except IntegrityError:  # registered at this moment by someone else
        outcome = {"error": f"dataset '{declared['dataset_name']}' was just created elsewhere"}
    node = lineage.dataset(table["sha256"], table["uri"], outcome.get("dataset_name"))
    lineage.record(session, producer, node, "Produced")
    return outcome


# ---- descriptions --------------------------------------------------------------------
def to_out(row: ProcessingJob, job: Job, records: dict[str, dict[str, Any]]) -> ProcessingJobOut:
    return ProcessingJobOut(
        **job_state(job),
        name=row.name,
        srn=srn("processing-job", row.name),
        sql=row.sql,
        entry_point=row.entry_point,
        source_uri=row.source_uri,
        arguments=row.arguments,
        environment=row.environment,
        processing_inputs=[ProcessingInputOut.model_validate(i) for i in row.inputs],
        processing_outputs=[
            _output_out(row, declared, records.get(declared["output_name"]))
            for declared in row.outputs
        ],
        resources=Resources.model_validate(row.resources),
        stopping_condition=StoppingCondition.model_validate(row.stopping_condition),
        tags=row.tags,
        output_uri=row.output_uri,
        owner=row.owner,
    )


def _output_out(
    row: ProcessingJob, declared: dict[str, Any], record: dict[str, Any] | None
) -> ProcessingOutputOut:
    output_name = declared["output_name"]
    out = ProcessingOutputOut(output_name=output_name, uri=f"{row.output_uri}/{output_name}")
    if record is None:
        return out
    table = record.get("table") or {}
    registration = row.registered_outputs.get(output_name) or {}
    return out.model_copy(
        update={
            "sha256": record.get("sha256"),
            "size_bytes": record.get("size_bytes"),
            "files": record.get("files"),
            "table_uri": table.get("uri"),
            "table_sha256": table.get("sha256"),
            "format": table.get("format"),
            "columns": table.get("columns"),
            "rows": table.get("rows"),
            "dataset_name": registration.get("dataset_name"),
            "registration_error": registration.get("error"),
        }
    )
