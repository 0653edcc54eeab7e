"""The durable job queue, on SQLite and PostgreSQL: claim, stop, finish, reap."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update

from shipyard.compute import service
from shipyard.compute.models import Job, Worker
from shipyard.compute.schemas import JobSpec
from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists, InvalidState

HOST = socket.gethostname()


def _create(db: Database, name: str, *, max_attempts: int = 1) -> str:
    with db.session_scope() as session:
        job = service.create_job(
            session,
            kind="test",
            name=name,
            spec=JobSpec(entrypoint="some.module", payload={"n": name}),
            owner="tester",
            max_runtime_seconds=60,
            max_attempts=max_attempts,
        )
        return job.id


def _get(db: Database, job_id: str) -> Job:
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _claimed_by(db: Database, worker_id: str, pid: int, *, max_attempts: int = 1) -> str:
    """A job InProgress on a registered worker ``worker_id`` whose process is ``pid``."""
    service.register_worker(db, worker_id, HOST, pid)
    job_id = _create(db, f"job-of-{worker_id}", max_attempts=max_attempts)
    claimed = service.claim_next_job(db, worker_id)
    assert claimed is not None and claimed.id == job_id
    return job_id


def test_create_then_claim(database: Database) -> None:
    job_id = _create(database, "one")
    job = _get(database, job_id)
    assert (job.status, job.attempts, job.worker_id) == ("Pending", 0, None)

    claimed = service.claim_next_job(database, "w-1")
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts) == (job_id, "InProgress", 1)
    assert claimed.worker_id == "w-1"
    assert [h["status"] for h in claimed.status_history] == ["Pending", "InProgress"]
    assert service.claim_next_job(database, "w-2") is None


def test_the_same_kind_and_name_twice_is_refused(database: Database) -> None:
    _create(database, "twin")
    with pytest.raises(AlreadyExists):
        _create(database, "twin")


def test_claims_take_the_oldest_job_first(database: Database) -> None:
    ids = [_create(database, f"job-{i}") for i in range(3)]
    claimed = [service.claim_next_job(database, "w-1") for _ in ids]
    assert [job.id for job in claimed if job is not None] == ids


def test_racing_claimers_never_claim_a_job_twice(database: Database) -> None:
    job_ids = {_create(database, f"job-{i}") for i in range(40)}
    claims: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claimer(worker_id: str) -> None:
        try:
            start.wait()
            while (job := service.claim_next_job(database, worker_id)) is not None:
                claims.append(job.id)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert Counter(claims) == Counter(job_ids)  # every job claimed, and exactly once
    assert {_get(database, job_id).attempts for job_id in job_ids} == {1}


def test_stopping_a_pending_job_stops_it_at_once(database: Database) -> None:
    job_id = _create(database, "pending")
    with database.session_scope() as session:
        service.request_stop(session, service.get_job(session, "test", "pending"))
    job = _get(database, job_id)
    assert (job.status, job.stop_requested) == ("Stopped", False)
    assert job.ended_at is not None
    assert service.claim_next_job(database, "w-1") is None


def test_stopping_a_running_job_asks_its_worker(database: Database) -> None:
    job_id = _create(database, "running")
    service.claim_next_job(database, "w-1")
    with database.session_scope() as session:
        service.request_stop(session, service.get_job(session, "test", "running"))
    job = _get(database, job_id)
    assert (job.status, job.stop_requested) == ("Stopping", True)
    assert service.stop_requested_ids(database, "w-1") == {job_id}
    assert service.stop_requested_ids(database, "w-2") == set()
    with pytest.raises(InvalidState), database.session_scope() as session:
        service.request_stop(session, service.get_job(session, "test", "running"))


def test_finish_records_logs_and_each_metrics_last_value(database: Database) -> None:
    job_id = _create(database, "metrics")
    service.claim_next_job(database, "w-1")
    now = utcnow()
    service.append_output(
        database,
        job_id,
        [(0, now, "first"), (1, now, "second")],
        [("loss", 0, 1.0, now), ("accuracy", 0, 0.5, now), ("loss", 1, 0.5, now)],
    )
    service.append_output(database, job_id, [(2, now, "third")], [("loss", 2, 0.25, now)])
    finished = service.finish_job(
        database, job_id, status="Completed", failure_reason=None, exit_code=0, worker_id="w-1"
    )
    assert finished is not None
    job = _get(database, job_id)
    assert (job.status, job.exit_code) == ("Completed", 0)
    assert job.final_metrics == {"loss": 0.25, "accuracy": 0.5}
    with database.session_scope() as session:
        assert [line.message for line in service.read_logs(session, job_id)] == [
            "first",
            "second",
            "third",
        ]
        assert [line.seq for line in service.read_logs(session, job_id, after_seq=0)] == [1, 2]
        assert [(p.step, p.value) for p in service.read_metrics(session, job_id, "loss")] == [
            (0, 1.0),
            (1, 0.5),
            (2, 0.25),
        ]


def test_finish_leaves_an_attempt_that_is_no_longer_the_jobs_alone(database: Database) -> None:
    job_id = _create(database, "moved-on")
    service.claim_next_job(database, "w-1")
    with database.session_scope() as session:  # as if reaped and claimed by another worker
        session.execute(update(Job).where(Job.id == job_id).values(worker_id="w-2"))
    assert (
        service.finish_job(
            database, job_id, status="Failed", failure_reason="late", exit_code=1, worker_id="w-1"
        )
        is None
    )
    assert _get(database, job_id).status == "InProgress"
    service.finish_job(database, job_id, status="Completed", failure_reason=None, exit_code=0)
    assert (
        service.finish_job(database, job_id, status="Failed", failure_reason="again", exit_code=1)
        is None
    )
    assert _get(database, job_id).status == "Completed"


def test_reaping_fails_the_job_of_a_worker_whose_process_is_gone(database: Database) -> None:
    job_id = _claimed_by(database, "w-dead", _dead_pid())

    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == [job_id]
    job = _get(database, job_id)
    assert job.status == "Failed"
    assert job.failure_reason is not None and job.failure_reason.startswith("WorkerLost")
    with database.session_scope() as session:
        assert session.get(Worker, "w-dead") is None
    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == []


def test_reaping_requeues_a_job_with_attempts_left(database: Database) -> None:
    job_id = _claimed_by(database, "w-dead", _dead_pid(), max_attempts=2)

    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == [job_id]
    job = _get(database, job_id)
    assert (job.status, job.worker_id, job.attempts) == ("Pending", None, 1)
    assert job.failure_reason is not None and job.failure_reason.startswith("WorkerLost")

    again = service.claim_next_job(database, "w-new")
    assert again is not None and (again.id, again.attempts) == (job_id, 2)


def test_reaping_leaves_the_jobs_of_live_workers_alone(database: Database) -> None:
    job_id = _claimed_by(database, "w-live", os.getpid())

    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == []
    assert _get(database, job_id).status == "InProgress"


def test_reaping_fails_the_job_of_a_worker_with_a_stale_heartbeat(database: Database) -> None:
    job_id = _claimed_by(database, "w-stale", os.getpid())
    with database.session_scope() as session:
        session.execute(
            update(Worker)
            .where(Worker.id == "w-stale")
            .values(heartbeat_at=utcnow() - timedelta(hours=1))
        )

    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == [job_id]
    job = _get(database, job_id)
    assert job.status == "Failed"
    assert job.failure_reason is not None and job.failure_reason.startswith("WorkerLost")


def test_reaping_a_stopping_job_ends_it_stopped(database: Database) -> None:
    job_id = _claimed_by(database, "w-dead", _dead_pid(), max_attempts=3)
    with database.session_scope() as session:
        service.request_stop(session, service.get_job(session, "test", "job-of-w-dead"))

    assert service.reap_lost_jobs(database, HOST, timeout_seconds=60) == [job_id]
    assert _get(database, job_id).status == "Stopped"
