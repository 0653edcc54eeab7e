"""Tables of autoscaling: each variant's policy and the activities it caused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class ScalingPolicy(Base):
    """A target-tracking policy: keep ``metric`` near ``target_value`` by changing the
    variant's instance count within [min_capacity, max_capacity]."""

    __tablename__ = "scaling_policies"

    endpoint_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    variant_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32))
    target_value: Mapped[float] = mapped_column(Float)
    min_capacity: Mapped[int] = mapped_column(Integer)
    max_capacity: Mapped[int] = mapped_column(Integer)
    scale_out_cooldown_seconds: Mapped[int] = mapped_column(Integer)
    scale_in_cooldown_seconds: Mapped[int] = mapped_column(Integer)
    evaluation_seconds: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScalingActivity(Base):
    __tablename__ = "scaling_activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_name: Mapped[str] = mapped_column(String(64), index=True)
    variant_name: Mapped[str] = mapped_column(String(64))
    from_capacity: Mapped[int] = mapped_column(Integer)
    to_capacity: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    """InProgress, Successful or Failed."""
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
