"""Fixtures of the compute tests: the DB backends, and a real worker on a SQLite DB.

The queue tests run on every DB backend (the fixtures of ``tests/core/conftest.py``); the
worker tests start a real JobWorker whose job processes import ``shipyard_sample_job``
from ``job_modules/``, put on the ``PYTHONPATH`` they inherit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from compute_testing import JOB_MODULES, Jobs, core_fixtures

from shipyard.compute.executors.local import LocalExecutor
from shipyard.compute.worker import JobWorker
from shipyard.core.config import Settings
from shipyard.core.db import Database

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def job_modules(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTHONPATH", str(JOB_MODULES))
    return JOB_MODULES


@pytest.fixture(params=[[], ["json"]], ids=["cold-start", "warm-start"])
def worker_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Every worker test runs with plain job processes and with forkserver-started ones."""
    return Settings(
        home=tmp_path / "home",
        worker_slots=2,
        worker_poll_seconds=0.05,
        heartbeat_seconds=0.1,
        job_preload_modules=request.param,
    )


@pytest.fixture
def sqlite_db(worker_settings: Settings) -> Iterator[Database]:
    db = Database(worker_settings.resolved_database_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def jobs(sqlite_db: Database) -> Jobs:
    return Jobs(sqlite_db)


@pytest.fixture
def worker(
    worker_settings: Settings, sqlite_db: Database, job_modules: Path
) -> Iterator[JobWorker]:
    """A started JobWorker with the LocalExecutor; stopped (its jobs ended) afterwards."""
    job_worker = JobWorker(worker_settings, sqlite_db, LocalExecutor(worker_settings))
    job_worker.start()
    yield job_worker
    job_worker.stop()
