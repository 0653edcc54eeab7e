"""The topics tests' DB backends (those of ``tests/core/conftest.py``), settings that let
deliveries reach receivers on 127.0.0.1.

The SMTP server is ``tests/monitoring/conftest.py``'s."""

from __future__ import annotations

from pathlib import Path

import pytest
from compute_testing import core_fixtures

from shipyard.core.config import Settings
from shipyard.monitoring.topics import delivery

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No scheduler: the tests call ``deliver_due`` themselves, so each attempt is theirs."""
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        load_quickstart=False,
        run_worker=False,
        run_scheduler=False,
        webhook_allow_private_addresses=True,
    )


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are due at once."""
    monkeypatch.setattr(delivery, "retry_delay", lambda attempts: 0.0)
