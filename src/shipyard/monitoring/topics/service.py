"""Topics and deliveries (to be written)."""

from __future__ import annotations

from shipyard.core.config import Settings
from shipyard.core.db import Database


def deliver_due(db: Database, settings: Settings) -> int:
    """Attempt every delivery that is due (a scheduler duty); how many were attempted."""
    return 0
