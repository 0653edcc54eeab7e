"""Tables of rollouts: one row per endpoint update, with its plan and what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Rollout(Base):
    """An update of an endpoint from one config (blue) to another (green).

    ``steps`` are the shares of the traffic (percent) green gets one after the other, each
    held for the wait interval; ``step`` is the index of the one in force (-1 while green
    starts, ``len(steps)`` during the termination wait). What the endpoint was before the
    update (``from_*``) is what a rollback puts back."""

    __tablename__ = "endpoint_rollouts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint_name: Mapped[str] = mapped_column(String(64), index=True)
    from_endpoint_config_name: Mapped[str] = mapped_column(String(64))
    to_endpoint_config_name: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str] = mapped_column(String(16))
    from_previous_endpoint_config_name: Mapped[str | None] = mapped_column(String(64))
    deployment_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    steps: Mapped[list[float]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer)
    traffic_percent: Mapped[float] = mapped_column(Float)
    """The share of the traffic green gets now."""
    status: Mapped[str] = mapped_column(String(16))
    """Deploying, Shifting, Baking; then Completed, RolledBack, Failed or Stopped."""
    reason: Mapped[str | None] = mapped_column(Text)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """``{"at", "traffic_percent", "message"}``, oldest first."""
    next_step_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
