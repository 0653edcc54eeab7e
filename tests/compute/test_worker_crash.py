"""``kill -9`` of a ``shipyard worker`` mid-job: the job process dies with it, and the job
ends Failed (WorkerLost) or, with attempts left, runs again — it never stays InProgress."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from compute_testing import JOB_MODULES, Jobs, wait_for

from shipyard.compute import service
from shipyard.core.config import Settings
from shipyard.core.db import Database


class WorkerProcesses:
    """``shipyard worker`` processes on one home; whatever is left is killed at the end."""

    def __init__(self, home: Path, preload: str) -> None:
        self.home = home
        self.preload = preload
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env |= {
            "SHIPYARD_HOME": str(self.home),
            "SHIPYARD_CONFIG_FILE": str(self.home / "absent.toml"),
            "SHIPYARD_WORKER_POLL_SECONDS": "0.05",
            "SHIPYARD_HEARTBEAT_SECONDS": "0.1",
            "PYTHONPATH": str(JOB_MODULES),
            "SHIPYARD_JOB_PRELOAD_MODULES": self.preload,
        }
        log = (self.home / f"worker-{len(self.processes)}.log").open("wb")
        with log:
            process = subprocess.Popen(
                [sys.executable, "-m", "shipyard.cli.main", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.processes.append(process)
        return process

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.home.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def db(home: Path) -> Iterator[Database]:
    database = Database(Settings(home=home).resolved_database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture(params=["[]", '["json"]'], ids=["cold-start", "warm-start"])
def workers(home: Path, request: pytest.FixtureRequest) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(home, preload=request.param)
    yield processes
    processes.stop_all()


def _job_process(home: Path, job_id: str) -> psutil.Process | None:
    """The running job process of ``job_id``: its working directory is named after the job.

    A cold-started job runs ``python -m shipyard.compute.child``; a warm one is a fork of
    the forkserver and shows its command line; both run in the job's directory.
    """
    workdir = str(home / "work" / job_id)
    for process in psutil.process_iter():
        try:
            if process.cwd() == workdir:
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return None


def _is_gone(process: psutil.Process) -> bool:
    try:
        # Orphans are reparented; where nobody reaps them, a dead one lingers as a zombie.
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill_worker_mid_job(
    workers: WorkerProcesses, jobs: Jobs, home: Path, job_id: str, marker: Path
) -> None:
    worker = workers.start()
    jobs.wait_for_status(job_id, "InProgress")
    wait_for(marker.exists, "the job to start its first attempt")
    child = _job_process(home, job_id)
    assert child is not None

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    try:
        wait_for(lambda: _is_gone(child), "the job process to die with its worker")
    except AssertionError:
        child.kill()  # do not leave an orphan behind a failed test
        raise
    assert jobs.get(job_id).status == "InProgress"  # nobody has noticed yet


def test_a_job_whose_worker_is_killed_fails_with_worker_lost(
    workers: WorkerProcesses, db: Database, home: Path, tmp_path: Path
) -> None:
    jobs = Jobs(db)
    marker = tmp_path / "marker"
    job_id = jobs.create({"behaviour": "second_time_lucky", "marker": str(marker)})
    _kill_worker_mid_job(workers, jobs, home, job_id, marker)

    assert service.reap_lost_jobs(db, socket.gethostname(), timeout_seconds=60) == [job_id]
    job = jobs.get(job_id)
    assert job.status == "Failed", workers.output()
    assert job.failure_reason is not None and job.failure_reason.startswith("WorkerLost")
    assert job.attempts == 1


def test_a_job_whose_worker_is_killed_runs_again_when_it_has_attempts_left(
    workers: WorkerProcesses, db: Database, home: Path, tmp_path: Path
) -> None:
    jobs = Jobs(db)
    marker = tmp_path / "marker"
    job_id = jobs.create({"behaviour": "second_time_lucky", "marker": str(marker)}, max_attempts=2)
    _kill_worker_mid_job(workers, jobs, home, job_id, marker)

    workers.start()  # reaps the lost job on start, then claims it again
    job = jobs.wait_until_done(job_id)
    assert job.status == "Completed", f"{job.failure_reason}\n{workers.output()}"
    assert job.attempts == 2
    assert [h["status"] for h in job.status_history] == [
        "Pending",
        "InProgress",
        "Pending",
        "InProgress",
        "Completed",
    ]
    assert "second attempt: done" in jobs.log(job_id)
