"""Writing a batch of data: checked, turned into rows of numbers, and stored in one
statement (PostgreSQL's binary COPY, or the driver's executemany on SQLite)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.errors import ValidationError
from shipyard.monitoring.metrics.models import MetricDatapoint
from shipyard.monitoring.metrics.schemas import MAX_DATA_PER_PUT, MetricDatum
from shipyard.monitoring.metrics.series import SeriesKey, dimensions_key, ensure_series
from shipyard.monitoring.metrics.statistics import to_ms

MAX_AGE = timedelta(weeks=2)
MAX_AHEAD = timedelta(hours=2)
DATAPOINTS = cast(Table, MetricDatapoint.__table__)


def store(session: Session, namespace: str, data: Sequence[MetricDatum]) -> int:
    """Check and write one batch (at most ``MAX_DATA_PER_PUT``) of a checked namespace."""
    if len(data) > MAX_DATA_PER_PUT:
        raise ValidationError(
            f"at most {MAX_DATA_PER_PUT} data per call, got {len(data)}", "metric_data"
        )
    if not data:
        return 0
    now = utcnow()
    now_ms = to_ms(now)
    oldest, newest = to_ms(now - MAX_AGE), to_ms(now + MAX_AHEAD)
    keys = [(datum.metric_name, dimensions_key(datum.dimensions)) for datum in data]
    wanted: dict[SeriesKey, Mapping[str, str]] = {}
    for key, datum in zip(keys, data, strict=True):
        wanted.setdefault(key, datum.dimensions)
    ids = ensure_series(session, namespace, wanted)
    rows = []
    for index, (key, datum) in enumerate(zip(keys, data, strict=True)):
        timestamp = now_ms if datum.timestamp is None else to_ms(datum.timestamp)
        if not oldest <= timestamp <= newest:
            raise ValidationError(
                "must be at most two weeks old and at most two hours ahead",
                f"metric_data[{index}].timestamp",
            )
        rows.append(
            (
                ids[key],
                timestamp,
                now_ms,
                datum.unit,
                datum.storage_resolution,
                *_sample(index, datum),
            )
        )
    insert_datapoints(session.connection(), rows)
    return len(rows)


def _sample(index: int, datum: MetricDatum) -> tuple[float, float, float, float, str | None]:
    """A datum's sample count, sum, minimum, maximum and distribution (JSON, or None)."""
    value = datum.value
    if value is not None:
        return 1.0, value, value, value, None
    if datum.values is not None:
        counts = datum.counts or [1.0] * len(datum.values)
        pairs = [[v, c] for v, c in zip(datum.values, counts, strict=True) if c > 0]
        if not pairs:
            raise ValidationError(
                "at least one count must be positive", f"metric_data[{index}].counts"
            )
        return (
            sum(c for _, c in pairs),
            sum(v * c for v, c in pairs),
            min(v for v, _ in pairs),
            max(v for v, _ in pairs),
            json.dumps(pairs),
        )
    stats = datum.statistic_values
    assert stats is not None
    return stats.sample_count, stats.sum, stats.minimum, stats.maximum, None


DATAPOINT_COLUMNS = (
    "series_id",
    "timestamp",
    "received_at",
    "unit",
    "storage_resolution",
    "sample_count",
    "sum",
    "minimum",
    "maximum",
    "distribution",
)
# PostgreSQL's binary COPY formats of those columns; json's binary format is its text
POSTGRES_COPY_TYPES = (
    "int4",
    "int8",
    "int8",
    "text",
    "int4",
    "float8",
    "float8",
    "float8",
    "float8",
    "text",
)


def insert_datapoints(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of ``DATAPOINT_COLUMNS`` in one statement: a binary COPY on PostgreSQL, the
    driver's executemany (qmark parameters) on SQLite. The hot write: no per-row work but
    the driver's, where SQLAlchemy's insert would process each row's parameters."""
    columns = ", ".join(DATAPOINT_COLUMNS)
    if connection.dialect.name == "postgresql":
        _copy(connection, f"COPY {DATAPOINTS.name} ({columns}) FROM STDIN (FORMAT BINARY)", rows)
    else:
        marks = ", ".join(["?"] * len(DATAPOINT_COLUMNS))
        statement = f"INSERT INTO {DATAPOINTS.name} ({columns}) VALUES ({marks})"
        connection.exec_driver_sql(statement, rows)


def _copy(connection: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY through psycopg's cursor, in the connection's transaction; a driver error
    comes out as SQLAlchemy's (an IntegrityError stays one), as from any statement."""
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor: Any = connection.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(POSTGRES_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
    except driver_error as exc:
        raise DBAPIError.instance(statement, None, exc, driver_error) from exc
    finally:
        cursor.close()
