"""Roll-ups and retention: raw → 1-minute and 1-hour rows, each with a mergeable histogram.

Raw datapoints are rolled up in the order they were *received* (``received_at``), behind
one watermark row: a run locks it, merges the rows received in the next window into the
roll-ups they fall in (whatever their timestamps, so late data counts) and moves it on, in
one transaction. A second process finds the row locked (PostgreSQL, SKIP LOCKED) or waits
for the write lock (SQLite) and then sees the new watermark, so nothing is merged twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.monitoring.metrics import histograms
from shipyard.monitoring.metrics.models import (
    MetricDatapoint,
    MetricRollup,
    MetricRollupWatermark,
)

log = logging.getLogger(__name__)

RAW_RETENTION = timedelta(hours=3)
RETENTION = {60: timedelta(days=15), 3600: timedelta(days=455)}
RESOLUTIONS = tuple(RETENTION)
SETTLE_MS = 30_000  # a write still in flight is at most this old when it commits
WINDOW_MS = 5 * 60_000
MAX_WINDOWS_PER_RUN = 48
WATERMARK = "raw"
KEY_CHUNK = 400


@dataclass
class Aggregate:
    sample_count: float = 0.0
    sum: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    histogram: histograms.Histogram = field(default_factory=dict)

    def add_row(self, count: float, total: float, low: float, high: float) -> None:
        self.sample_count += count
        self.sum += total
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)


def add_datapoint(aggregate: Aggregate, row: Any) -> None:
    """One raw row into an aggregate: its statistics, and its values into the histogram."""
    aggregate.add_row(row.sample_count, row.sum, row.minimum, row.maximum)
    if row.distribution is not None:
        for value, count in row.distribution:
            histograms.add(aggregate.histogram, value, count)
    elif row.sample_count == 1:  # a single value; a statistic set has no distribution
        histograms.add(aggregate.histogram, row.sum)


def watermark(session: Session) -> int:
    """Raw rows received before this (epoch ms) are in the roll-ups; 0 before the first run."""
    value = session.scalar(
        select(MetricRollupWatermark.received_before).where(MetricRollupWatermark.name == WATERMARK)
    )
    return value or 0


def watermark_subquery() -> ColumnElement[int]:
    """``watermark`` inside another statement, so that it reads the same snapshot."""
    received_before = (
        select(MetricRollupWatermark.received_before)
        .where(MetricRollupWatermark.name == WATERMARK)
        .scalar_subquery()
    )
    return func.coalesce(received_before, 0)


def roll_up(db: Database, *, now: datetime | None = None) -> int:
    """Merge every settled raw row into the roll-ups; returns how many rows it merged."""
    cutoff = _ms(now or utcnow()) - SETTLE_MS
    merged = 0
    for _ in range(MAX_WINDOWS_PER_RUN):
        with db.session_scope() as session:
            row = _lock_watermark(session)
            if row is None:  # another process is at it
                return merged
            start = session.scalar(
                select(func.min(MetricDatapoint.received_at)).where(
                    MetricDatapoint.received_at >= row.received_before,
                    MetricDatapoint.received_at < cutoff,
                )
            )
            if start is None:
                return merged
            end = min(cutoff, start + WINDOW_MS)
            count, last = _merge_window(session, start, end)
            merged += count
            # just past the last row merged: never past a row not seen (it may still come)
            row.received_before = last + 1
            row.updated_at = utcnow()
    return merged


def _lock_watermark(session: Session) -> MetricRollupWatermark | None:
    query = (
        select(MetricRollupWatermark)
        .where(MetricRollupWatermark.name == WATERMARK)
        .with_for_update(skip_locked=True)
    )
    row = session.scalar(query)
    if row is not None:
        return row
    exists = session.scalar(select(func.count()).where(MetricRollupWatermark.name == WATERMARK))
    if exists:  # locked by another process
        return None
    try:
        with session.begin_nested():
            session.execute(
                insert(MetricRollupWatermark),
                [{"name": WATERMARK, "received_before": 0, "updated_at": utcnow()}],
            )
    except IntegrityError:  # created by another process meanwhile
        log.debug("the roll-up watermark was created concurrently")
    return session.scalar(query)


def _merge_window(session: Session, start: int, end: int) -> tuple[int, int]:
    rows = session.execute(
        select(
            MetricDatapoint.received_at,
            MetricDatapoint.series_id,
            MetricDatapoint.unit,
            MetricDatapoint.timestamp,
            MetricDatapoint.sample_count,
            MetricDatapoint.sum,
            MetricDatapoint.minimum,
            MetricDatapoint.maximum,
            MetricDatapoint.distribution,
        ).where(MetricDatapoint.received_at >= start, MetricDatapoint.received_at < end)
    ).all()
    fresh: dict[tuple[int, int, int, str], Aggregate] = {}
    for row in rows:
        for resolution in RESOLUTIONS:
            bucket = row.timestamp - row.timestamp % (resolution * 1000)
            key = (row.series_id, resolution, bucket, row.unit)
            aggregate = fresh.get(key)
            if aggregate is None:
                aggregate = fresh[key] = Aggregate()
            add_datapoint(aggregate, row)
    keys = list(fresh)
    for chunk_start in range(0, len(keys), KEY_CHUNK):
        _upsert(session, {k: fresh[k] for k in keys[chunk_start : chunk_start + KEY_CHUNK]})
    return len(rows), max(row.received_at for row in rows)


def _upsert(session: Session, fresh: dict[tuple[int, int, int, str], Aggregate]) -> None:
    columns = (
        MetricRollup.series_id,
        MetricRollup.resolution,
        MetricRollup.timestamp,
        MetricRollup.unit,
    )
    keys = list(fresh)
    existing = session.execute(select(MetricRollup).where(tuple_(*columns).in_(keys))).scalars()
    for old in existing:
        aggregate = fresh[(old.series_id, old.resolution, old.timestamp, old.unit)]
        aggregate.add_row(old.sample_count, old.sum, old.minimum, old.maximum)
        histograms.merge(aggregate.histogram, old.histogram)
    session.execute(delete(MetricRollup).where(tuple_(*columns).in_(keys)))
    session.execute(insert(MetricRollup), list(_rollup_rows(fresh.items())))


def _rollup_rows(
    items: Iterable[tuple[tuple[int, int, int, str], Aggregate]],
) -> Iterable[dict[str, Any]]:
    for (series_id, resolution, timestamp, unit), aggregate in items:
        yield {
            "series_id": series_id,
            "resolution": resolution,
            "timestamp": timestamp,
            "unit": unit,
            "sample_count": aggregate.sample_count,
            "sum": aggregate.sum,
            "minimum": aggregate.minimum,
            "maximum": aggregate.maximum,
            "histogram": aggregate.histogram,
        }


def apply_retention(db: Database, *, now: datetime | None = None) -> None:
    """Drop raw rows past the raw retention once rolled up, and roll-ups past theirs."""
    now_ms = _ms(now or utcnow())
    with db.session_scope() as session:
        rolled = watermark(session)
        session.execute(
            delete(MetricDatapoint).where(
                MetricDatapoint.received_at < rolled,
                MetricDatapoint.timestamp < now_ms - _ms_of(RAW_RETENTION),
            )
        )
        for resolution, keep in RETENTION.items():
            session.execute(
                delete(MetricRollup).where(
                    and_(
                        MetricRollup.resolution == resolution,
                        MetricRollup.timestamp < now_ms - _ms_of(keep),
                    )
                )
            )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
