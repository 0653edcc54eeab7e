"""The pipeline engine (to be written)."""

from __future__ import annotations

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.db import Database


def advance_all(db: Database, settings: Settings, store: BaseArtifactStore) -> bool:
    """Move every running execution on as far as it can go; True when jobs were queued."""
    return False
