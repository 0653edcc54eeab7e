"""The metrics store: PutMetricData, ListMetrics, statistics per period, and its duty.

Other rooms call these functions: ``put_metric_data`` for a caller's own metrics,
``put_platform_metrics`` for the built-in ``Shipyard/...`` ones, ``get_metric_statistics``
and ``get_metric_data`` to read (the alarms do), and ``maintain`` runs as a duty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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
from shipyard.monitoring.metrics.datapoints import MAX_AGE, MAX_AHEAD, store
from shipyard.monitoring.metrics.models import MetricSeries
from shipyard.monitoring.metrics.schemas import (
    MAX_DATA_PER_PUT,
    NAMESPACE_PATTERN,
    RESERVED_NAMESPACE_PREFIX,
    MetricDatum,
    MetricOut,
)
from shipyard.monitoring.metrics.statistics import get_metric_data, get_metric_statistics

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
    """Store a caller's batch (at most 1,000 data) in one statement; returns how many."""
    validate_namespace(namespace)
    return store(session, namespace, data)


def put_platform_metrics(session: Session, namespace: str, data: Sequence[MetricDatum]) -> int:
    """As ``put_metric_data``, for the built-in ``Shipyard/...`` namespaces (any size)."""
    validate_namespace(namespace, platform=True)
    stored = 0
    for start in range(0, len(data), MAX_DATA_PER_PUT):
        stored += store(session, namespace, data[start : start + MAX_DATA_PER_PUT])
    return stored


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
