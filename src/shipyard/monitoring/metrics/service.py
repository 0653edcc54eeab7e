"""The metrics store (to be written)."""

from __future__ import annotations

from shipyard.core.db import Database


def maintain(db: Database) -> None:
    """Roll raw datapoints up and drop what is past retention (a scheduler duty)."""
