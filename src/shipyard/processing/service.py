"""Processing jobs (to be written)."""

from __future__ import annotations

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.db import Database


def reconcile_all(db: Database, store: BaseArtifactStore) -> bool:
    """Register the outputs of processing jobs that completed; True when any changed."""
    return False
