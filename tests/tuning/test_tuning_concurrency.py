"""Several schedulers advancing the same tuning jobs at once, on SQLite and PostgreSQL:
each trial starts once, and the parallel limit holds."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select
from tuning_testing import Channels, limits, tuning_request

from shipyard.compute.models import Job
from shipyard.core.artifacts import open_store
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.tuning import service
from shipyard.tuning.models import TuningTrial
from shipyard.tuning.schemas import TuningJobIn

RANGES = {"integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 9}]}


def test_racing_reconcilers_start_each_trial_once(
    database: Database, settings: Settings, channels: Channels, tmp_path: Path
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    names = [f"race-{i}" for i in range(3)]
    with database.session_scope() as session:
        for name in names:
            request = TuningJobIn.model_validate(
                tuning_request(name, channels, ranges=RANGES, **limits(9, 3))
            )
            service.create_tuning_job(session, settings, store, request, "admin")
    started: list[int] = []
    barrier = threading.Barrier(4)

    def reconcile_all() -> None:
        barrier.wait()
        for _ in range(3):
            started.append(service.reconcile_all(database, settings, store))

    threads = [threading.Thread(target=reconcile_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    with database.session_scope() as session:
        trials = session.scalars(select(TuningTrial)).all()
        jobs = session.scalars(select(Job).where(Job.kind == "training")).all()
    assert sum(started) == len(trials) == len(jobs) == 9  # three at a time, for each job
    for name in names:
        numbers = sorted(t.number for t in trials if t.tuning_job == name)
        assert numbers == [0, 1, 2]
