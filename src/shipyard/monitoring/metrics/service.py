"""The metrics store: PutMetricData, ListMetrics, statistics per period, and its duty.

Other rooms call these functions: ``put_metric_data`` for a caller's own metrics,
``put_platform_metrics`` for the built-in ``Shipyard/...`` ones, ``get_metric_statistics``
and ``get_metric_data`` to read (the alarms do), and ``maintain`` runs as a duty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import ValidationError
from shipyard.monitoring.metrics import rollups
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import (
    ENDPOINTS_NAMESPACE,
    PIPELINES_NAMESPACE,
    TRAINING_JOBS_NAMESPACE,
    record_invocation,
    watch_worker,
)
from shipyard.monitoring.metrics.models import MetricDatapoint, MetricSeries
from shipyard.monitoring.metrics.schemas import (
    MAX_DATA_PER_PUT,
    NAMESPACE_PATTERN,
    RESERVED_NAMESPACE_PREFIX,
    MetricDatum,
    MetricOut,
)
from shipyard.monitoring.metrics.series import dimensions_key, ensure_series
from shipyard.monitoring.metrics.statistics import (
    get_metric_data,
    get_metric_statistics,
    to_ms,
)

__all__ = [
    "ENDPOINTS_NAMESPACE",
    "MAX_AGE",
    "MAX_AHEAD",
    "PIPELINES_NAMESPACE",
    "TRAINING_JOBS_NAMESPACE",
    "MetricBuffer",
    "get_metric_data",
    "get_metric_statistics",
    "list_metrics",
    "maintain",
    "put_metric_data",
    "put_platform_metrics",
    "record_invocation",
    "record_pipeline_execution",
    "validate_namespace",
    "watch_worker",
]

MAX_AGE = timedelta(weeks=2)
DATAPOINTS = cast(Table, MetricDatapoint.__table__)
MAX_AHEAD = timedelta(hours=2)


def validate_namespace(namespace: object, *, platform: bool = False) -> str:
    """1-255 letters, digits and ``.-_/#:``; ``Shipyard/...`` is the platform's own."""
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ValidationError(
            f"{str(namespace)[:80]!r} is not a namespace; expected 1-255 letters, digits "
            "and . - _ / # :",
            "namespace",
        )
    if not platform and namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        raise ValidationError(
            f"namespaces starting with {RESERVED_NAMESPACE_PREFIX!r} are reserved for the "
            "platform's own metrics",
            "namespace",
        )
    return namespace


def put_metric_data(session: Session, namespace: str, data: Sequence[MetricDatum]) -> int:
    """Store a caller's batch (at most 1,000 data) in one bulk insert; returns how many."""
    validate_namespace(namespace)
    return _store(session, namespace, data)


def put_platform_metrics(session: Session, namespace: str, data: Sequence[MetricDatum]) -> int:
    """As ``put_metric_data``, for the built-in ``Shipyard/...`` namespaces (any size)."""
    validate_namespace(namespace, platform=True)
    stored = 0
    for start in range(0, len(data), MAX_DATA_PER_PUT):
        stored += _store(session, namespace, data[start : start + MAX_DATA_PER_PUT])
    return stored


def _store(session: Session, namespace: str, data: Sequence[MetricDatum]) -> int:
    if len(data) > MAX_DATA_PER_PUT:
        raise ValidationError(
            f"at most {MAX_DATA_PER_PUT} data per call, got {len(data)}", "metric_data"
        )
    if not data:
        return 0
    now = utcnow()
    now_ms = to_ms(now)
    oldest, newest = to_ms(now - MAX_AGE), to_ms(now + MAX_AHEAD)
    ids = ensure_series(session, namespace, ((d.metric_name, d.dimensions) for d in data))
    rows: list[dict[str, Any]] = []
    for index, datum in enumerate(data):
        timestamp = now_ms if datum.timestamp is None else to_ms(datum.timestamp)
        if not oldest <= timestamp <= newest:
            raise ValidationError(
                "must be at most two weeks old and at most two hours ahead",
                f"metric_data[{index}].timestamp",
            )
        row: dict[str, Any] = {
            "series_id": ids[(datum.metric_name, dimensions_key(datum.dimensions))],
            "timestamp": timestamp,
            "received_at": now_ms,
            "unit": datum.unit,
            "storage_resolution": datum.storage_resolution,
            "distribution": None,
        }
        if datum.value is not None:
            row.update(sample_count=1.0, sum=datum.value, minimum=datum.value, maximum=datum.value)
        elif datum.values is not None:
            counts = datum.counts or [1.0] * len(datum.values)
            pairs = [[v, c] for v, c in zip(datum.values, counts, strict=True) if c > 0]
            if not pairs:
                raise ValidationError(
                    "at least one count must be positive", f"metric_data[{index}].counts"
                )
            row.update(
                sample_count=sum(c for _, c in pairs),
                sum=sum(v * c for v, c in pairs),
                minimum=min(v for v, _ in pairs),
                maximum=max(v for v, _ in pairs),
                distribution=pairs,
            )
        else:
            stats = datum.statistic_values
            assert stats is not None
            row.update(
                sample_count=stats.sample_count,
                sum=stats.sum,
                minimum=stats.minimum,
                maximum=stats.maximum,
            )
        rows.append(row)
    # Core, not the ORM's bulk path: no per-row bookkeeping on the hot write
    session.connection().execute(insert(DATAPOINTS), rows)
    return len(rows)


def list_metrics(
    session: Session,
    namespace: str | None = None,
    metric_name: str | None = None,
    dimensions: Mapping[str, str | None] | None = None,
    *,
    limit: int = 500,
    offset: int = 0,
) -> list[MetricOut]:
    """The series that match; a dimension given with value None matches any value of it."""
    query = select(MetricSeries).order_by(
        MetricSeries.namespace, MetricSeries.metric_name, MetricSeries.id
    )
    if namespace is not None:
        query = query.where(MetricSeries.namespace == namespace)
    if metric_name is not None:
        query = query.where(MetricSeries.metric_name == metric_name)
    wanted = dict(dimensions or {})
    found: list[MetricOut] = []
    skipped = 0
    for series in session.scalars(query):
        if not all(
            name in series.dimensions and (value is None or series.dimensions[name] == value)
            for name, value in wanted.items()
        ):
            continue
        if skipped < offset:
            skipped += 1
            continue
        found.append(
            MetricOut(
                namespace=series.namespace,
                metric_name=series.metric_name,
                dimensions=dict(series.dimensions),
            )
        )
        if len(found) >= limit:
            break
    return found


def record_pipeline_execution(
    session: Session, pipeline_name: str, status: str, at: datetime | None = None
) -> None:
    """An ended execution: ExecutionsSucceeded / ExecutionsFailed / ExecutionsStopped, 1 for
    the one that happened and 0 for the others, so that an Average is a rate."""
    outcomes = {"Succeeded": 0.0, "Failed": 0.0, "Stopped": 0.0}
    if status not in outcomes:
        return
    outcomes[status] = 1.0
    put_platform_metrics(
        session,
        PIPELINES_NAMESPACE,
        [
            MetricDatum(
                metric_name=f"Executions{outcome}",
                dimensions={"PipelineName": pipeline_name},
                value=value,
                unit="Count",
                timestamp=at,
            )
            for outcome, value in outcomes.items()
        ],
    )


def maintain(db: Database, *, now: datetime | None = None) -> None:
    """Roll raw datapoints up and drop what is past retention (a scheduler duty)."""
    rollups.roll_up(db, now=now)
    rollups.apply_retention(db, now=now)
