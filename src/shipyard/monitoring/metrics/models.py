"""Tables of the metrics store: series, raw datapoints, roll-ups and the roll-up watermark.

A series is one (namespace, metric name, dimensions); datapoints point at it by id, so the
hot tables hold numbers only. Timestamps are epoch milliseconds (integers): the period
arithmetic of a query is then plain integer SQL on every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base

RowId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class MetricSeries(Base):
    __tablename__ = "metric_series"
    __table_args__ = (UniqueConstraint("namespace", "metric_name", "dimensions_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(255))
    metric_name: Mapped[str] = mapped_column(String(255))
    dimensions_key: Mapped[str] = mapped_column(String(64))
    """sha256 of the canonical JSON of the dimensions (sorted by name)."""
    dimensions: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricDatapoint(Base):
    """A datum as it was put: kept for the raw retention, the source of every roll-up."""

    __tablename__ = "metric_datapoints"
    __table_args__ = (
        Index("ix_metric_datapoints_series_id_timestamp", "series_id", "timestamp"),
        Index("ix_metric_datapoints_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id", ondelete="CASCADE"))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    """Epoch milliseconds of the datum."""
    received_at: Mapped[int] = mapped_column(BigInteger)
    """Epoch milliseconds when it was stored: roll-ups advance on this, so late data counts."""
    unit: Mapped[str] = mapped_column(String(32))
    storage_resolution: Mapped[int] = mapped_column(Integer)
    sample_count: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    distribution: Mapped[list[list[float]] | None] = mapped_column(JSON)
    """[[value, count], ...] of a datum put as values and counts; None for a single value
    (it is ``sum``) and for a statistic set (which has no distribution)."""


class MetricRollup(Base):
    """The datapoints of one series, unit and period (60 s or 3,600 s), merged."""

    __tablename__ = "metric_rollups"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("metric_series.id", ondelete="CASCADE"), primary_key=True
    )
    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    sample_count: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    histogram: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Log-scale buckets (see histograms.py) of every sample that had a value."""


class MetricRollupWatermark(Base):
    """How far (in ``received_at``) raw datapoints are rolled up; one row, locked per run."""

    __tablename__ = "metric_rollup_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_before: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
