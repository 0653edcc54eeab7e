"""The alarms tests' DB backends (those of ``tests/core/conftest.py``) and helpers that put
datapoints, users and the resources actions act on straight through the rooms' services."""

from __future__ import annotations

from pathlib import Path

import pytest
from compute_testing import core_fixtures

from shipyard.core.config import Settings

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def quiet_settings(tmp_path: Path) -> Settings:
    """No scheduler and no worker: the tests evaluate and act themselves."""
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        load_quickstart=False,
        run_worker=False,
        run_scheduler=False,
        webhook_allow_private_addresses=True,
    )
