"""Fixtures of the tuning tests: an in-process server whose worker runs three jobs at once,
a held-out classification problem on disk, and the DB backends of tests/core."""

from __future__ import annotations

from pathlib import Path

import pytest
from compute_testing import core_fixtures
from tuning_testing import Channels, classification_problem

from shipyard.core.config import Settings

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        heartbeat_seconds=0.5,
        worker_slots=3,
        load_quickstart=False,
    )


@pytest.fixture
def channels(tmp_path: Path) -> Channels:
    train, validation = tmp_path / "train.csv", tmp_path / "validation.csv"
    classification_problem(1500, seed=0).to_csv(train, index=False)
    classification_problem(1000, seed=1).to_csv(validation, index=False)
    return Channels(train, validation)
