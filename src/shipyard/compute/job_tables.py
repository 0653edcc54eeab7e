"""What every job room does with its own table, a row per job of its kind (what the room
knows of the job, ``name`` its key) whose ``job_id`` names the job's row in ``jobs`` (its
state): find a row and its job, list them, take each ended job once; and what a
description of such a job takes from the job's state.

Each room keeps one :class:`JobTable` of its model (``JobTable(TrainingJob, "training
job")``) and builds its own descriptions from the ``(row, job)`` pairs it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import Column, CursorResult, inspect, select, update
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.models import Job
from shipyard.compute.schemas import JOB_STATUSES, TERMINAL_STATUSES
from shipyard.core.clock import as_utc
from shipyard.core.db import Database
from shipyard.core.errors import NotFound, ValidationError
from shipyard.core.names import validate_name


class JobRow(Protocol):
    """A row of a room's table of jobs."""

    @property
    def name(self) -> str: ...

    @property
    def job_id(self) -> str: ...


R = TypeVar("R", bound=JobRow)


class JobTable(Generic[R]):
    """The rows of ``table``, a room's model with the columns ``name`` (its primary key),
    ``job_id`` and ``created_at`` (and ``reconciled``, for :meth:`reconcile_ended`); ``noun``
    ("training job") names a job of the room in errors."""

    def __init__(self, table: type[R], noun: str) -> None:
        self.table = table
        self.noun = noun

    def row(self, session: Session, name: str) -> R:
        """The row called ``name``; NotFound when there is none."""
        row = session.get(self.table, validate_name(name))
        if row is None:
            raise NotFound(f"{self.noun} '{name}' not found")
        return row

    def job_of(self, session: Session, row: R) -> Job:
        """The job of ``row``; NotFound when its ``jobs`` row is gone."""
        job = compute.get_job_by_id(session, row.job_id)
        if job is None:
            raise NotFound(f"{self.noun} '{row.name}' has no job record")
        return job

    def find(self, session: Session, name: str) -> tuple[R, Job]:
        """The row called ``name`` and its job; NotFound when either is missing."""
        row = self.row(session, name)
        return row, self.job_of(session, row)

    def job(self, session: Session, name: str) -> Job:
        """The job called ``name``; NotFound when its row or its job is missing."""
        return self.job_of(session, self.row(session, name))

    def is_finished(self, session: Session, name: str) -> bool:
        """Whether the job called ``name`` has ended (Completed, Failed or Stopped)."""
        return self.job(session, name).status in TERMINAL_STATUSES

    def with_jobs(self, session: Session, rows: Sequence[R]) -> list[tuple[R, Job]]:
        """``rows`` in their order, each with its job, in one query for all of them."""
        jobs = compute.get_jobs_by_id(session, [row.job_id for row in rows])
        return [(row, jobs[row.job_id]) for row in rows]

    def page(
        self, session: Session, *, limit: int, offset: int, status: str | None = None
    ) -> list[tuple[R, Job]]:
        """A page of the rows, newest first, each with its job: of every row, or only of
        those whose job is in ``status`` (a ValidationError on ``status`` unless it is one
        of a job's statuses)."""
        if status is not None and status not in JOB_STATUSES:
            raise ValidationError(f"expected one of {', '.join(JOB_STATUSES)}", "status")
        query = select(self.table).order_by(self._column("created_at").desc())
        if status is None:
            return self.with_jobs(session, session.scalars(query.limit(limit).offset(offset)).all())
        every = self.with_jobs(session, session.scalars(query).all())
        return [(row, job) for row, job in every if job.status == status][offset : offset + limit]

    def reconcile_ended(
        self,
        db: Database,
        record: Callable[[Session, R, Job | None], None],
        *,
        log: logging.Logger,
        failure: str,
    ) -> bool:
        """Call ``record(session, row, job)`` once for each row whose job ended and that is
        not ``reconciled`` yet; True when any was taken.

        Each is taken by a compare-and-set of its ``reconciled`` flag, in the same
        transaction as what ``record`` writes, so two processes never both record a job and
        a crash in between leaves it to be taken again. One that fails is logged (``failure``
        a message with ``%s`` for the name) and left to be taken again.
        """
        columns = self._column("name"), self._column("job_id")
        with db.session_scope() as session:
            waiting = session.execute(
                select(*columns).where(self._column("reconciled").is_(False))
            ).all()
            jobs = compute.get_jobs_by_id(session, [job_id for _, job_id in waiting])
        ended = [name for name, job_id in waiting if jobs[job_id].status in TERMINAL_STATUSES]
        changed = False
        for name in ended:
            try:
                with db.session_scope() as session:
                    changed = self._reconcile(session, name, record) or changed
            except Exception:  # one job must not keep the others from being recorded
                log.exception(failure, name)
        return changed

    def _reconcile(
        self, session: Session, name: str, record: Callable[[Session, R, Job | None], None]
    ) -> bool:
        reconciled = self._column("reconciled")
        claimed = cast(
            CursorResult[Any],
            session.execute(
                update(self.table)
                .where(self._column("name") == name, reconciled.is_(False))
                .values(reconciled=True)
            ),
        )
        if claimed.rowcount != 1:
            return False
        row = session.get(self.table, name)
        assert row is not None
        record(session, row, compute.get_job_by_id(session, row.job_id))
        return True

    def _column(self, key: str) -> Column[Any]:
        return inspect(self.table).columns[key]


def job_state(job: Job) -> dict[str, Any]:
    """The fields of a job room's description that come from the job's state."""
    return {
        "status": job.status,
        "secondary_status": job.secondary_status,
        "failure_reason": job.failure_reason,
        "final_metrics": job.final_metrics or {},
        "attempts": job.attempts,
        "created_at": as_utc(job.created_at) or job.created_at,
        "started_at": as_utc(job.started_at),
        "ended_at": as_utc(job.ended_at),
        "status_history": list(job.status_history or []),
    }
