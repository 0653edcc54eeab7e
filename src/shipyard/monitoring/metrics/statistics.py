"""Reading the store: statistics and percentiles per period, from the finest data that
covers the query (raw for the last three hours, else 1-minute or 1-hour roll-ups plus the
raw rows not yet rolled up)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    Select,
    Text,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.errors import ValidationError
from shipyard.monitoring.metrics import histograms
from shipyard.monitoring.metrics.models import MetricDatapoint, MetricRollup
from shipyard.monitoring.metrics.periods import Column, Periods
from shipyard.monitoring.metrics.rollups import RAW_RETENTION, RETENTION, watermark_subquery
from shipyard.monitoring.metrics.schemas import (
    MetricDataQuery,
    MetricDataResult,
    StatisticDatapoint,
    new_statistic_datapoint,
)
from shipyard.monitoring.metrics.series import series_id_subquery

BASIC_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d{1,10})?)$")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
MAX_PERIOD = 86_400 * 7
MAX_DATAPOINTS = 100_800


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    # exact: a millisecond count over 1,000 is within half a microsecond, which rounds back
    return datetime.fromtimestamp(value / 1000, UTC)


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
    start (aligned to the period). Percentiles need data put as values (not statistic sets).

    One statement reads the range (roll-ups and the raw rows not yet in them, behind the
    watermark it reads too), so it sees one snapshot on every backend."""
    validate_period(period)
    wanted = validate_statistics(statistics)
    start, end = to_ms(start_time), to_ms(end_time)
    if end <= start:
        raise ValidationError("must be after start_time", "end_time")
    if (end - start) // (period * 1000) > MAX_DATAPOINTS:
        raise ValidationError(
            f"the range holds more than {MAX_DATAPOINTS} periods; use a longer period", "period"
        )
    span = _Range(
        series_id_subquery(namespace, metric_name, dimensions), start, end, period * 1000, unit
    )
    resolution = _resolution(span, period, to_ms(now or utcnow()))
    connection = session.connection()
    if any(s not in BASIC_STATISTICS for s in wanted):
        periods = _rows_per_period(connection, span, resolution)
    else:
        periods = _sql_per_period(connection, span, resolution)
    return _datapoints(periods, periods.columns(wanted, exact=resolution is None), unit)


@dataclass(frozen=True)
class _Range:
    """What a query reads: a series' rows in [start, end) of one unit (None: any)."""

    series_id: ScalarSelect[int]
    start: int
    end: int
    period_ms: int  # datapoints are labelled by aligned periods
    unit: str | None

    def where(self, table: Any) -> list[ColumnElement[bool]]:
        conditions = [
            table.series_id == self.series_id,
            table.timestamp >= self.start,
            table.timestamp < self.end,
        ]
        if self.unit is not None:
            conditions.append(table.unit == self.unit)
        return conditions


def _resolution(span: _Range, period: int, now_ms: int) -> int | None:
    """None for raw; else the roll-up resolution (seconds) that answers the query."""
    raw_floor = now_ms - int(RAW_RETENTION.total_seconds() * 1000)
    if span.start >= raw_floor or period % 60:
        return None
    minute_floor = now_ms - int(RETENTION[60].total_seconds() * 1000)
    if period % 3600 == 0 and span.start < minute_floor:
        return 3600
    return 60


ROLLED, RAW = 1, 0


def _sources(resolution: int | None) -> list[tuple[Any, list[ColumnElement[bool]], int]]:
    """(table, its own conditions, ROLLED or RAW) of each source of a query."""
    if resolution is None:
        return [(MetricDatapoint, [], RAW)]
    return [
        (MetricRollup, [MetricRollup.resolution == resolution], ROLLED),
        (MetricDatapoint, [MetricDatapoint.received_at >= watermark_subquery()], RAW),
    ]


def _read(connection: Connection, selects: list[Select[Any]]) -> list[Sequence[Any]]:
    statement = selects[0] if len(selects) == 1 else union_all(*selects)
    return list(connection.execute(statement).all())


def _sql_per_period(connection: Connection, span: _Range, resolution: int | None) -> Periods:
    """SampleCount, Sum, Minimum, Maximum per period in SQL: no row leaves the database."""
    selects = []
    for table, conditions, source in _sources(resolution):
        bucket = table.timestamp - table.timestamp % span.period_ms
        selects.append(
            select(
                bucket.label("bucket"),
                func.sum(table.sample_count),
                func.sum(table.sum),
                func.min(table.minimum),
                func.max(table.maximum),
                func.max(table.unit),
                literal_column(str(source)),
            )
            .where(*span.where(table), *conditions)
            .group_by(bucket)
        )
    rows = _read(connection, selects)
    periods = Periods()
    for source in (ROLLED, RAW):  # the roll-ups first, then the raw rows not in them
        part = [row for row in rows if row[6] == source]
        periods.add_rows([int(row[0]) for row in part], part)
    return periods


def _rows_per_period(connection: Connection, span: _Range, resolution: int | None) -> Periods:
    """Every row of the range, merged per period: percentiles need the values.

    From raw rows only, percentiles are exact; once a roll-up is in a period they come
    from the merged histogram (about 1 % relative error)."""
    selects = []
    for table, conditions, source in _sources(resolution):
        samples = MetricRollup.histogram if table is MetricRollup else MetricDatapoint.distribution
        selects.append(
            select(
                table.timestamp,
                table.sample_count,
                table.sum,
                table.minimum,
                table.maximum,
                table.unit,
                cast(samples, Text),  # JSON, decoded in one call per query
                literal_column(str(source)),
            ).where(*span.where(table), *conditions)
        )
    rows = _read(connection, selects)
    periods = Periods()
    _add_rollups(periods, [row for row in rows if row[7] == ROLLED], span.period_ms)
    raw = [row for row in rows if row[7] == RAW]
    _add_raw(periods, raw, span.period_ms, exact=resolution is None)
    return periods


def _add_rollups(periods: Periods, rows: list[Sequence[Any]], period_ms: int) -> None:
    """Roll-up rows into ``periods``, their histograms' buckets as samples."""
    if not rows:
        return
    positions = periods.add_rows([row[0] - row[0] % period_ms for row in rows], rows)
    decoded: list[dict[str, float]] = json.loads(f"[{','.join(row[6] for row in rows)}]")
    sizes = [len(histogram) for histogram in decoded]
    total = sum(sizes)
    keys = chain.from_iterable(decoded)
    periods.add_samples(
        np.repeat(np.asarray(positions, dtype=np.intp), sizes),
        np.fromiter(map(histograms.bucket_value, keys), dtype=np.float64, count=total),
        np.fromiter(chain.from_iterable(map(dict.values, decoded)), dtype=np.float64, count=total),
    )


def _add_raw(periods: Periods, rows: list[Sequence[Any]], period_ms: int, *, exact: bool) -> None:
    """Raw rows into ``periods``, their values as samples: exact, or (to merge with
    histograms) their buckets' representatives."""
    if not rows:
        return
    positions = periods.add_rows([row[0] - row[0] % period_ms for row in rows], rows)
    texts = [row[6] for row in rows if row[6] is not None]
    distributions = iter(json.loads(f"[{','.join(texts)}]"))
    owners: list[int] = []
    values: list[float] = []
    weights: list[float] = []
    for position, row in zip(positions, rows, strict=True):
        distribution = None if row[6] is None else next(distributions)
        if distribution is not None:
            owners.extend(repeat(position, len(distribution)))
            values.extend(value for value, _ in distribution)
            weights.extend(weight for _, weight in distribution)
        elif row[1] == 1:  # a single value; a statistic set has no distribution
            owners.append(position)
            values.append(row[2])
            weights.append(1.0)
    if not exact:
        values = [histograms.bucket_value(histograms.bucket_key(v)) for v in values]
    periods.add_samples(owners, values, weights)


def _datapoints(
    periods: Periods, columns: list[tuple[str, Column]], unit: str | None
) -> list[StatisticDatapoint]:
    """The response, built from checked values: no validation per datapoint."""
    starts, counts, units = periods.starts, periods.counts, periods.units
    return [
        new_statistic_datapoint(
            from_ms(starts[i]),
            counts[i],
            {name: value for name, column in columns if (value := column[i]) is not None},
            units[i] or unit,
        )
        for i in periods.order()
    ]


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
