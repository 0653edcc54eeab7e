"""Console pages of batch transform jobs: the list, and one job with its progress, its
output files and their failed records, and its log."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from shipyard.compute import service as compute
from shipyard.compute.schemas import JOB_STATUSES, TERMINAL_STATUSES
from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core import logstore
from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.core.names import srn
from shipyard.monitoring.logs import service as logs
from shipyard.security.iam import authorize, is_allowed
from shipyard.serving.batch import service
from shipyard.serving.batch.schemas import TransformFileOut

log = logging.getLogger(__name__)
router = APIRouter(route_class=ConsoleRoute)
KIND = "transform-job"
PAGE_SIZE = 50
LOG_LINES = 2000
FAILURES_SHOWN = 20  # of each output file's failed records, the first ones
FAILURES_READ_BYTES = 64 * 1024  # enough for them: a line is a record number and a reason


@dataclass(frozen=True)
class FailedRecords:
    """The first failed records of one output file, read from its ``.out.errors``."""

    output: TransformFileOut
    records: list[tuple[int | str, str]]
    unreadable: str | None = None


@router.get("/transform-jobs", name="console-transform-jobs")
def transform_jobs(
    request: Request,
    viewer: ViewerDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    authorize(viewer.principal, "serving:ListTransformJobs", srn(KIND, "*"))
    status = status or None
    if status is not None and status not in JOB_STATUSES:
        raise ValidationError(f"expected one of {', '.join(JOB_STATUSES)}", "status")
    with request.app.state.context.db.session_scope() as session:
        jobs = service.list_transform_jobs(
            session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, status=status
        )
    return render(
        request,
        "transform_jobs.html",
        section="transform",
        jobs=jobs,
        status=status,
        statuses=JOB_STATUSES,
        page=page,
        has_next=len(jobs) == PAGE_SIZE,
    )


@router.get("/transform-jobs/{name}", name="console-transform-job")
def transform_job(request: Request, name: str, viewer: ViewerDep) -> Response:
    resource = srn(KIND, name)
    authorize(viewer.principal, "serving:DescribeTransformJob", resource)
    # The log is a part of the page the viewer may lack the right to see; the link to the
    # log group's search is another (its page asks for monitoring:FilterLogEvents).
    may_read_logs = is_allowed(viewer.principal, "serving:GetTransformJobLogs", resource)
    group = logstore.job_group(service.JOB_KIND)
    may_search_logs = is_allowed(
        viewer.principal, "monitoring:FilterLogEvents", logs.log_group_srn(group)
    )
    context = request.app.state.context
    lines: list[compute.LogLine] = []
    with context.db.session_scope() as session:
        job = service.describe_transform_job(session, name)
        job_id = service.job_id_of(session, name)
        if may_read_logs:
            lines = compute.read_logs(session, job_id, limit=LOG_LINES + 1)
        has_log = bool(lines) or (
            may_search_logs and bool(compute.read_logs(session, job_id, limit=1))
        )
    query = urlencode({"group": group, "stream": name, "since": "all"})
    return render(
        request,
        "transform_job.html",
        section="transform",
        job=job,
        failures=[
            failed_records(context.store, output) for output in job.outputs if output.errors_uri
        ],
        failures_shown=FAILURES_SHOWN,
        may_read_logs=may_read_logs,
        log_lines=lines[:LOG_LINES],
        log_truncated=len(lines) > LOG_LINES,
        log_limit=LOG_LINES,
        logs_href=f"/console/log-events?{query}" if has_log and may_search_logs else None,
        refresh=job.status not in TERMINAL_STATUSES,
    )


def failed_records(store: BaseArtifactStore, output: TransformFileOut) -> FailedRecords:
    """The first FAILURES_SHOWN lines of the file's ``.out.errors`` (``record``, ``reason``),
    read no further than FAILURES_READ_BYTES; what kept them from being read, if anything."""
    assert output.errors_uri is not None
    try:
        with store.open_read(key_from_uri(output.errors_uri, "errors_uri")) as handle:
            head = handle.read(FAILURES_READ_BYTES)
    except ShipyardError as exc:  # not found: a message that names only the URI
        return FailedRecords(output, [], f"the errors file could not be read: {exc.message}")
    except OSError:  # its text may hold a server path: logged, not shown
        log.exception("reading %s failed", output.errors_uri)
        return FailedRecords(output, [], "the errors file could not be read")
    lines = head.decode("utf-8", errors="replace").splitlines()
    if len(head) == FAILURES_READ_BYTES and lines:
        lines.pop()  # it may be cut short
    records: list[tuple[int | str, str]] = []
    for line in lines[:FAILURES_SHOWN]:
        try:
            failure = json.loads(line)
            records.append((failure["record"], str(failure["reason"])))
        except (ValueError, KeyError, TypeError):
            records.append(("?", line))
    return FailedRecords(output, records)
