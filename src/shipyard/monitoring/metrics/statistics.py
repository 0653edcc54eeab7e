"""Reading the store: statistics and percentiles per period, from the finest data that
covers the query (raw for the last three hours, else 1-minute or 1-hour roll-ups plus the
raw rows not yet rolled up)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.errors import ValidationError
from shipyard.monitoring.metrics import histograms
from shipyard.monitoring.metrics.models import MetricDatapoint, MetricRollup
from shipyard.monitoring.metrics.rollups import (
    RAW_RETENTION,
    RETENTION,
    Aggregate,
    add_datapoint,
    watermark,
)
from shipyard.monitoring.metrics.schemas import (
    MetricDataQuery,
    MetricDataResult,
    StatisticDatapoint,
)
from shipyard.monitoring.metrics.series import find_series_id

BASIC_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d{1,10})?)$")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
MAX_PERIOD = 86_400 * 7
MAX_DATAPOINTS = 100_800


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def validate_statistics(statistics: Sequence[str], field: str = "statistics") -> list[str]:
    if not statistics:
        raise ValidationError("give at least one statistic", field)
    for statistic in statistics:
        if statistic in BASIC_STATISTICS:
            continue
        match = PERCENTILE.fullmatch(statistic)
        if match is None or float(match.group(1)) > 100:
            raise ValidationError(
                f"unknown statistic {statistic[:40]!r}; expected one of "
                f"{', '.join(BASIC_STATISTICS)} or a percentile p0..p100 (e.g. p99.9)",
                field,
            )
    return list(statistics)


def validate_period(period: object, field: str = "period") -> int:
    if (
        type(period) is not int
        or period not in HIGH_RESOLUTION_PERIODS
        and not (period % 10 == 0 and 10 <= period <= MAX_PERIOD)
    ):
        raise ValidationError(
            f"{period!r} is not a period; expected 1, 5, 10, 30 or a multiple of 10 seconds "
            f"up to {MAX_PERIOD}",
            field,
        )
    return period


@dataclass(frozen=True)
class _Range:
    start: int
    end: int
    period_ms: int


def get_metric_statistics(
    session: Session,
    *,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    start_time: datetime,
    end_time: datetime,
    period: int,
    statistics: Sequence[str],
    unit: str | None = None,
    now: datetime | None = None,
) -> list[StatisticDatapoint]:
    """One datapoint per period that has data, oldest first; ``timestamp`` is the period's
    start (aligned to the period). Percentiles need data put as values (not statistic sets)."""
    validate_period(period)
    wanted = validate_statistics(statistics)
    start, end = to_ms(start_time), to_ms(end_time)
    if end <= start:
        raise ValidationError("must be after start_time", "end_time")
    if (end - start) // (period * 1000) > MAX_DATAPOINTS:
        raise ValidationError(
            f"the range holds more than {MAX_DATAPOINTS} periods; use a longer period", "period"
        )
    series_id = find_series_id(session, namespace, metric_name, dimensions)
    if series_id is None:
        return []
    span = _Range(start, end, period * 1000)  # datapoints are labelled by aligned periods
    needs_values = any(s not in BASIC_STATISTICS for s in wanted)
    resolution = _resolution(span, period, to_ms(now or utcnow()))
    if needs_values:
        buckets = _rows_per_period(session, series_id, span, unit, resolution)
    else:
        buckets = _sql_per_period(session, series_id, span, unit, resolution)
    return [  # built from checked values: no validation per datapoint
        StatisticDatapoint.model_construct(
            timestamp=from_ms(bucket),
            sample_count=aggregate.sample_count,
            values=_statistics(aggregate, wanted, exact),
            unit=bucket_unit or unit,
        )
        for bucket, (aggregate, exact, bucket_unit) in sorted(buckets.items())
    ]


def _resolution(span: _Range, period: int, now_ms: int) -> int | None:
    """None for raw; else the roll-up resolution (seconds) that answers the query."""
    raw_floor = now_ms - int(RAW_RETENTION.total_seconds() * 1000)
    if span.start >= raw_floor or period % 60:
        return None
    minute_floor = now_ms - int(RETENTION[60].total_seconds() * 1000)
    if period % 3600 == 0 and span.start < minute_floor:
        return 3600
    return 60


Bucket = tuple[Aggregate, list[tuple[float, float]] | None, str | None]


def _sql_per_period(
    session: Session, series_id: int, span: _Range, unit: str | None, resolution: int | None
) -> dict[int, Bucket]:
    """SampleCount, Sum, Minimum, Maximum per period in SQL: no row leaves the database."""
    buckets: dict[int, Bucket] = {}
    sources: list[Any] = []
    if resolution is None:
        sources.append((MetricDatapoint, None))
    else:
        rolled = watermark(session)
        sources.append((MetricRollup, MetricRollup.resolution == resolution))
        sources.append((MetricDatapoint, MetricDatapoint.received_at >= rolled))
    for table, condition in sources:
        bucket = table.timestamp - table.timestamp % span.period_ms
        query = (
            select(
                bucket.label("bucket"),
                func.sum(table.sample_count),
                func.sum(table.sum),
                func.min(table.minimum),
                func.max(table.maximum),
                func.max(table.unit),
            )
            .where(
                table.series_id == series_id,
                table.timestamp >= span.start,
                table.timestamp < span.end,
            )
            .group_by(bucket)
        )
        if condition is not None:
            query = query.where(condition)
        if unit is not None:
            query = query.where(table.unit == unit)
        for start, count, total, low, high, row_unit in session.execute(query):
            entry = buckets.get(int(start))
            if entry is None:
                entry = buckets[int(start)] = (Aggregate(), None, row_unit)
            entry[0].add_row(count, total, low, high)
    return buckets


def _rows_per_period(
    session: Session, series_id: int, span: _Range, unit: str | None, resolution: int | None
) -> dict[int, Bucket]:
    """Every row of the range, merged per period in Python: percentiles need the values.

    From raw rows only, percentiles are exact; once a roll-up is in a period they come
    from the merged histogram (about 1 % relative error)."""
    buckets: dict[int, Bucket] = {}
    raw = select(
        MetricDatapoint.timestamp,
        MetricDatapoint.unit,
        MetricDatapoint.sample_count,
        MetricDatapoint.sum,
        MetricDatapoint.minimum,
        MetricDatapoint.maximum,
        MetricDatapoint.distribution,
    ).where(
        MetricDatapoint.series_id == series_id,
        MetricDatapoint.timestamp >= span.start,
        MetricDatapoint.timestamp < span.end,
    )
    if unit is not None:
        raw = raw.where(MetricDatapoint.unit == unit)
    if resolution is not None:
        rolled = watermark(session)
        raw = raw.where(MetricDatapoint.received_at >= rolled)
        rollups = select(MetricRollup).where(
            MetricRollup.series_id == series_id,
            MetricRollup.resolution == resolution,
            MetricRollup.timestamp >= span.start,
            MetricRollup.timestamp < span.end,
        )
        if unit is not None:
            rollups = rollups.where(MetricRollup.unit == unit)
        for rollup in session.scalars(rollups):
            start = rollup.timestamp - rollup.timestamp % span.period_ms
            entry = buckets.get(start)
            if entry is None:
                entry = buckets[start] = (Aggregate(), None, rollup.unit)
            entry[0].add_row(rollup.sample_count, rollup.sum, rollup.minimum, rollup.maximum)
            histograms.merge(entry[0].histogram, rollup.histogram)
    for row in session.execute(raw):
        start = row.timestamp - row.timestamp % span.period_ms
        entry = buckets.get(start)
        if entry is None:
            entry = buckets[start] = (Aggregate(), [] if resolution is None else None, row.unit)
        add_datapoint(entry[0], row)
        exact = entry[1]
        if exact is not None:
            if row.distribution is not None:
                exact.extend((value, count) for value, count in row.distribution)
            elif row.sample_count == 1:
                exact.append((row.sum, 1.0))
    return buckets


def _statistics(
    aggregate: Aggregate, wanted: Sequence[str], exact: list[tuple[float, float]] | None
) -> dict[str, float]:
    values: dict[str, float] = {}
    for statistic in wanted:
        if statistic == "SampleCount":
            values[statistic] = aggregate.sample_count
        elif statistic == "Sum":
            values[statistic] = aggregate.sum
        elif statistic == "Average":
            values[statistic] = aggregate.sum / aggregate.sample_count
        elif statistic == "Minimum":
            values[statistic] = aggregate.minimum
        elif statistic == "Maximum":
            values[statistic] = aggregate.maximum
        else:
            q = float(statistic[1:])
            if exact:
                found = histograms.exact_percentile(exact, q)
            else:
                found = histograms.percentile(
                    aggregate.histogram, q, aggregate.minimum, aggregate.maximum
                )
            if found is not None:
                values[statistic] = found
    return values


def get_metric_data(
    session: Session,
    queries: Sequence[MetricDataQuery],
    start_time: datetime,
    end_time: datetime,
    *,
    now: datetime | None = None,
) -> list[MetricDataResult]:
    """Several metric statistics at once (at most 100), each as timestamps and values."""
    if not 1 <= len(queries) <= 100:
        raise ValidationError("give 1 to 100 queries", "metric_data_queries")
    if len({q.id for q in queries}) != len(queries):
        raise ValidationError("query ids must be unique", "metric_data_queries")
    results = []
    for index, query in enumerate(queries):
        stat = query.metric_stat
        field = f"metric_data_queries[{index}].metric_stat"
        validate_statistics([stat.stat], f"{field}.stat")
        validate_period(stat.period, f"{field}.period")
        points = get_metric_statistics(
            session,
            namespace=stat.metric.namespace,
            metric_name=stat.metric.metric_name,
            dimensions=stat.metric.dimensions,
            start_time=start_time,
            end_time=end_time,
            period=stat.period,
            statistics=[stat.stat],
            unit=stat.unit,
            now=now,
        )
        if not query.return_data:
            continue
        kept = [p for p in points if stat.stat in p.values]
        results.append(
            MetricDataResult(
                id=query.id,
                label=query.label or f"{stat.metric.metric_name} {stat.stat}",
                timestamps=[p.timestamp for p in kept],
                values=[p.values[stat.stat] for p in kept],
            )
        )
    return results
