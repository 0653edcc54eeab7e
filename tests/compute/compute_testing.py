"""Helpers of the compute tests: poll for a state, queue sample jobs and watch them."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.compute import service
from shipyard.compute.models import Job
from shipyard.compute.schemas import TERMINAL_STATUSES, JobSpec
from shipyard.core.db import Database

JOB_MODULES = Path(__file__).parent / "job_modules"
SAMPLE_JOB = "shipyard_sample_job"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail after a generous deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Jobs:
    """Queue sample jobs in a DB and watch them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.count = 0

    def create(
        self,
        payload: dict[str, Any],
        *,
        max_runtime_seconds: int = 120,
        max_attempts: int = 1,
        entrypoint: str = SAMPLE_JOB,
        raw_spec: dict[str, Any] | None = None,
        **spec: Any,
    ) -> str:
        """Queue a job; ``raw_spec`` replaces its stored spec in the same transaction."""
        self.count += 1
        with self.db.session_scope() as session:
            job = service.create_job(
                session,
                kind="test",
                name=f"job-{self.count}",
                spec=JobSpec(entrypoint=entrypoint, payload=payload, **spec),
                owner="tester",
                max_runtime_seconds=max_runtime_seconds,
                max_attempts=max_attempts,
            )
            if raw_spec is not None:
                job.spec = raw_spec
            return job.id

    def get(self, job_id: str) -> Job:
        with self.db.session_scope() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job

    def wait_for_status(self, job_id: str, *statuses: str, timeout: float = 60.0) -> Job:
        def reached() -> Job | None:
            job = self.get(job_id)
            return job if job.status in statuses else None

        return wait_for(reached, f"job {job_id} to be {' or '.join(statuses)}", timeout)

    def wait_until_done(self, job_id: str, timeout: float = 60.0) -> Job:
        return self.wait_for_status(job_id, *TERMINAL_STATUSES, timeout=timeout)

    def log(self, job_id: str) -> list[str]:
        with self.db.session_scope() as session:
            return [line.message for line in service.read_logs(session, job_id, limit=100_000)]

    def metrics(self, job_id: str, name: str) -> list[service.MetricPoint]:
        with self.db.session_scope() as session:
            return service.read_metrics(session, job_id, name)


def core_fixtures() -> Any:
    """The module of ``tests/core/conftest.py``, whose DB backend fixtures other folders'
    conftests re-export (a conftest only serves its own folder, and the top-level one
    belongs to everyone): loaded once, under a name of its own."""
    name = "shipyard_tests_core_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "core" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
