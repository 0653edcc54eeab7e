"""The job queue: create, claim atomically, heartbeat, record output, finish, stop, reap.

State machine: Pending → InProgress → Completed | Failed | Stopping → Stopped.
A worker claims with a compare-and-set ``UPDATE … WHERE status='Pending'`` (``SKIP LOCKED``
on PostgreSQL); a job whose worker is gone is failed (or requeued, if it has attempts
left) with a reason — it never stays InProgress.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import psutil
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from shipyard.compute.models import Job, JobEvent, JobMetric, Worker
from shipyard.compute.schemas import ACTIVE_STATUSES, TERMINAL_STATUSES, JobSpec
from shipyard.core import logstore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, NotFound


@dataclass(frozen=True)
class LogLine:
    seq: int
    timestamp: datetime
    message: str


@dataclass(frozen=True)
class LogPage:
    """A page of a job's log: ``next_seq`` the ``after_seq`` of the next page; ``complete``
    when the job has ended and no line is left after this page."""

    lines: list[LogLine]
    next_seq: int
    complete: bool


@dataclass(frozen=True)
class MetricPoint:
    name: str
    step: int | None
    value: float
    timestamp: datetime


@dataclass(frozen=True)
class EventRecord:
    """A ``record`` event of a job: a document of ``kind`` for a room to interpret.

    ``id`` (None until stored) grows with each event of a job, in the order it emitted them.
    """

    kind: str
    step: int | None
    data: dict[str, Any]
    timestamp: datetime
    id: int | None = None


def create_job(
    session: Session,
    *,
    kind: str,
    name: str,
    spec: JobSpec,
    owner: str,
    max_runtime_seconds: int,
    max_attempts: int = 1,
) -> Job:
    """Queue a job inside the caller's transaction; AlreadyExists if ``kind/name`` is taken."""
    now = utcnow()
    job = Job(
        id=str(uuid.uuid4()),
        kind=kind,
        name=name,
        status="Pending",
        secondary_status="Pending",
        spec=spec.model_dump(mode="json"),
        owner=owner,
        max_runtime_seconds=max_runtime_seconds,
        max_attempts=max_attempts,
        attempts=0,
        stop_requested=False,
        final_metrics={},
        status_history=[_transition("Pending", now)],
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, kind: str, name: str) -> Job:
    job = session.scalar(select(Job).where(Job.kind == kind, Job.name == name))
    if job is None:
        raise NotFound(f"{kind} job '{name}' not found")
    return job


def get_job_by_id(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_jobs_by_id(session: Session, ids: Sequence[str]) -> dict[str, Job]:
    if not ids:
        return {}
    return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


def request_stop(session: Session, job: Job, reason: str = "Stopped by user") -> Job:
    """Stop a job: a pending one at once, a running one through its worker (Stopping)."""
    if job.status in TERMINAL_STATUSES or job.status == "Stopping":
        raise InvalidState(f"job '{job.name}' is {job.status}; only a running job can be stopped")
    now = utcnow()
    if job.status == "Pending":
        job.status, job.secondary_status, job.ended_at = "Stopped", "Stopped", now
        job.failure_reason = reason
        job.status_history = [*job.status_history, _transition("Stopped", now)]
    else:
        job.status, job.secondary_status, job.stop_requested = "Stopping", "Stopping", True
        job.failure_reason = reason
        job.status_history = [*job.status_history, _transition("Stopping", now)]
    return job


def claim_next_job(db: Database, worker_id: str) -> Job | None:
    """Move the oldest Pending job to InProgress for ``worker_id``; None when there is none."""
    with db.session_scope() as session:
        candidates = session.scalars(
            select(Job.id)
            .where(Job.status == "Pending")
            .order_by(Job.created_at)
            .limit(4)
            .with_for_update(skip_locked=True)
        ).all()
        for job_id in candidates:
            now = utcnow()
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "Pending")
                    .values(
                        status="InProgress",
                        secondary_status="Starting",
                        worker_id=worker_id,
                        started_at=now,
                        heartbeat_at=now,
                        attempts=Job.attempts + 1,
                    )
                ),
            )
            if claimed.rowcount == 1:
                job = session.get(Job, job_id)
                assert job is not None
                job.status_history = [*job.status_history, _transition("InProgress", now)]
                return job
    return None


def set_secondary_status(db: Database, job_id: str, secondary_status: str) -> None:
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        if job is not None and job.status == "InProgress":
            job.secondary_status = secondary_status
            job.status_history = [
                *job.status_history,
                _transition("InProgress", utcnow(), secondary_status),
            ]


def append_output(
    db: Database,
    job_id: str,
    lines: Sequence[tuple[int, datetime, str]],
    metrics: Sequence[tuple[str, int | None, float, datetime]],
    events: Sequence[EventRecord] = (),
) -> None:
    """Store a batch of log lines, metric points and record events of a running job."""
    if not lines and not metrics and not events:
        return
    with db.session_scope() as session:
        session.add_all(
            JobEvent(job_id=job_id, kind=e.kind, step=e.step, data=e.data, timestamp=e.timestamp)
            for e in events
        )
        if lines:
            job = session.get(Job, job_id)
            if job is not None:
                output = [(ts, message) for _, ts, message in lines]
                logstore.append(session, job_log_group(job), job.name, output)
        session.add_all(
            JobMetric(job_id=job_id, name=name, step=step, value=value, timestamp=ts)
            for name, step, value, ts in metrics
        )


def finish_job(
    db: Database,
    job_id: str,
    *,
    status: str,
    failure_reason: str | None,
    exit_code: int | None,
    worker_id: str | None = None,
) -> Job | None:
    """Record the end of an attempt; the final metrics are each metric's last value.

    Returns None, changing nothing, when the job is gone or the attempt is no longer the
    job's: it already ended, or it was reaped (and perhaps requeued) while ``worker_id``
    was out of touch.
    """
    with db.session_scope() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status not in ACTIVE_STATUSES:
            return None
        if worker_id is not None and job.worker_id != worker_id:
            return None
        now = utcnow()
        job.status, job.secondary_status = status, status
        job.failure_reason = failure_reason
        job.exit_code = exit_code
        job.ended_at = now
        job.final_metrics = _last_values(session, job_id)
        job.status_history = [*job.status_history, _transition(status, now)]
        return job


def stop_requested_ids(db: Database, worker_id: str) -> set[str]:
    with db.session_scope() as session:
        return set(
            session.scalars(
                select(Job.id).where(Job.worker_id == worker_id, Job.stop_requested.is_(True))
            )
        )


def register_worker(db: Database, worker_id: str, hostname: str, pid: int) -> None:
    now = utcnow()
    with db.session_scope() as session:
        session.add(
            Worker(id=worker_id, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now)
        )


def heartbeat(db: Database, worker_id: str) -> bool:
    """Mark the worker and its jobs alive; False when the worker was reaped meanwhile."""
    now = utcnow()
    with db.session_scope() as session:
        beat = cast(
            CursorResult[Any],
            session.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now)),
        )
        if beat.rowcount == 0:
            return False
        session.execute(
            update(Job)
            .where(Job.worker_id == worker_id, Job.status.in_(ACTIVE_STATUSES))
            .values(heartbeat_at=now)
        )
        return True


def release_job(db: Database, job_id: str, worker_id: str, reason: str) -> None:
    """Give back an attempt the worker could not finish: requeued if attempts remain."""
    with db.session_scope() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is not None and job.status in ACTIVE_STATUSES and job.worker_id == worker_id:
            _fail_or_requeue(job, reason)


def unregister_worker(db: Database, worker_id: str) -> None:
    with db.session_scope() as session:
        session.execute(delete(Worker).where(Worker.id == worker_id))


def job_log_group(job: Job) -> str:
    """The log group of ``job``'s output; its stream is named after the job."""
    return logstore.job_group(job.kind)


def reap_lost_jobs(db: Database, hostname: str, timeout_seconds: float) -> list[str]:
    """Fail (or requeue) the jobs of workers that are gone; returns the affected job ids.

    A worker is gone when it runs on this host and its process no longer exists, or
    when its heartbeat is older than ``timeout_seconds`` wherever it runs.
    """
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    with db.session_scope() as session:
        # Row locks (PostgreSQL): a second reaper, or a worker finishing one of these jobs,
        # waits and then sees the outcome instead of overwriting it with a stale read. Jobs
        # are read before workers: a worker registers before it claims, so every worker
        # id on these jobs is in ``known`` below.
        active = session.scalars(
            select(Job).where(Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id).with_for_update()
        ).all()
        workers = session.scalars(select(Worker)).all()
        lost = {w.id: w for w in workers if _is_lost(w, hostname, cutoff)}
        known = {w.id for w in workers}
        reaped = []
        for job in active:
            if job.worker_id in lost or job.worker_id not in known:
                worker = lost.get(job.worker_id or "")
                _fail_or_requeue(job, _lost_reason(job.worker_id, worker))
                reaped.append(job.id)
        for worker_id in lost:
            session.execute(delete(Worker).where(Worker.id == worker_id))
        return reaped


def read_logs(
    session: Session, job_id: str, *, after_seq: int = -1, limit: int = 1000
) -> list[LogLine]:
    job = session.get(Job, job_id)
    if job is None:
        return []
    return _log_lines(session, job, after_seq, limit)


def _log_lines(session: Session, job: Job, after_seq: int, limit: int) -> list[LogLine]:
    events = logstore.read_stream(
        session, job_log_group(job), job.name, after_seq=after_seq, limit=limit
    )
    return [LogLine(e.seq, e.timestamp, e.message) for e in events]


def read_log_page(session: Session, job: Job, *, after_seq: int = -1, limit: int = 1000) -> LogPage:
    """The lines of ``job``'s log after ``after_seq``, at most ``limit`` of them.

    Whether the job has ended is ``job``'s status as read before the lines: a log is
    complete only if it had ended by then, so that no line written meanwhile is left out.
    """
    finished = job.status in TERMINAL_STATUSES
    lines = _log_lines(session, job, after_seq, limit)
    next_seq = lines[-1].seq if lines else after_seq
    return LogPage(lines, next_seq, complete=finished and len(lines) < limit)


def read_metrics(session: Session, job_id: str, name: str | None = None) -> list[MetricPoint]:
    query = select(JobMetric).where(JobMetric.job_id == job_id)
    if name is not None:
        query = query.where(JobMetric.name == name)
    rows = session.scalars(query.order_by(JobMetric.id))
    return [MetricPoint(r.name, r.step, r.value, as_utc(r.timestamp) or r.timestamp) for r in rows]


def read_events(
    session: Session, job_id: str, kind: str | None = None, *, after_id: int = 0
) -> list[EventRecord]:
    """The job's record events in the order they were emitted (of one ``kind``, if given;
    only those after the event ``after_id``, if given)."""
    query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after_id)
    if kind is not None:
        query = query.where(JobEvent.kind == kind)
    rows = session.scalars(query.order_by(JobEvent.id))
    return [
        EventRecord(r.kind, r.step, r.data, as_utc(r.timestamp) or r.timestamp, r.id) for r in rows
    ]


def _last_values(session: Session, job_id: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for point in read_metrics(session, job_id):
        values[point.name] = point.value
    return values


def _is_lost(worker: Worker, hostname: str, cutoff: datetime) -> bool:
    heartbeat_at = as_utc(worker.heartbeat_at)
    if heartbeat_at is not None and heartbeat_at < cutoff:
        return True
    return worker.hostname == hostname and not _process_alive(worker.pid, worker.started_at)


def _process_alive(pid: int, started_at: datetime) -> bool:
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    started = as_utc(started_at)
    return started is None or created <= started.timestamp() + 1.0


def _lost_reason(worker_id: str | None, worker: Worker | None) -> str:
    where = f" (pid {worker.pid} on {worker.hostname})" if worker else ""
    return f"WorkerLost: worker {worker_id}{where} exited while the job was running"


def _fail_or_requeue(job: Job, reason: str) -> None:
    now = utcnow()
    if job.status == "InProgress" and job.attempts < job.max_attempts:
        job.status, job.secondary_status, job.worker_id = "Pending", "Pending", None
        job.failure_reason = (
            f"{reason}; retrying (attempt {job.attempts + 1} of {job.max_attempts})"
        )
        job.status_history = [*job.status_history, _transition("Pending", now, "Retrying")]
        return
    final = "Stopped" if job.status == "Stopping" else "Failed"
    job.status, job.secondary_status, job.ended_at = final, final, now
    job.failure_reason = reason
    job.status_history = [*job.status_history, _transition(final, now)]


def _transition(status: str, at: datetime, secondary: str | None = None) -> dict[str, Any]:
    return {"status": status, "secondary_status": secondary or status, "at": at.isoformat()}
