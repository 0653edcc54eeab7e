"""Alarms (to be written)."""

from __future__ import annotations

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.db import Database


def evaluate_all(db: Database, settings: Settings, store: BaseArtifactStore) -> int:
    """Evaluate every alarm that is due and run the actions of its new state; how many
    alarms changed state (a scheduler duty)."""
    return 0
