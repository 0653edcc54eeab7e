"""The topics tests' settings (``tests/monitoring/conftest.py``'s quiet ones, which also
hold the backends and the SMTP server) and a delivery retry without backoff."""

from __future__ import annotations

import pytest

from shipyard.core.config import Settings
from shipyard.monitoring.topics import delivery


@pytest.fixture
def settings(quiet_settings: Settings) -> Settings:
    """No scheduler: the tests call ``deliver_due`` themselves, so each attempt is theirs."""
    return quiet_settings


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are due at once."""
    monkeypatch.setattr(delivery, "retry_delay", lambda attempts: 0.0)
