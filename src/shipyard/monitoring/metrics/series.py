"""Series: one (namespace, metric name, dimensions), named by a canonical dimensions key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache

from sqlalchemy import Connection, ScalarSelect, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.monitoring.metrics.models import MetricSeries

SeriesKey = tuple[str, str]  # (metric name, dimensions key) within one namespace


def dimensions_key(dimensions: Mapping[str, str]) -> str:
    """sha256 of the dimensions' canonical JSON: the same set in any order, the same key."""
    return _key(tuple(sorted(dimensions.items())))


@lru_cache(maxsize=4096)
def _key(items: tuple[tuple[str, str], ...]) -> str:
    canonical = json.dumps(dict(items), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def series_id_subquery(
    namespace: str, metric_name: str, dimensions: Mapping[str, str]
) -> ScalarSelect[int]:
    """The series' id inside a query (NULL, so no rows, for a series never put)."""
    return (
        select(MetricSeries.id)
        .where(
            MetricSeries.namespace == namespace,
            MetricSeries.metric_name == metric_name,
            MetricSeries.dimensions_key == dimensions_key(dimensions),
        )
        .scalar_subquery()
    )


def ensure_series(
    session: Session,
    namespace: str,
    wanted: Mapping[SeriesKey, Mapping[str, str]],
) -> dict[SeriesKey, int]:
    """The id of each (metric name, dimensions key) of ``wanted`` (with its dimensions) in
    ``namespace``, creating missing series.

    One SELECT for the batch; a series another process created meanwhile is read back.
    """
    ids = _existing(session.connection(), namespace, wanted)
    missing = [key for key in wanted if key not in ids]
    now = utcnow()
    for name, key in missing:
        row = {
            "namespace": namespace,
            "metric_name": name,
            "dimensions_key": key,
            "dimensions": dict(wanted[(name, key)]),
            "created_at": now,
        }
        try:
            with session.begin_nested():
                session.execute(insert(MetricSeries), [row])
        except IntegrityError:  # another writer made it first: read it below
            pass
    if missing:
        ids.update(_existing(session.connection(), namespace, dict.fromkeys(missing)))
    return ids


def _existing(
    connection: Connection, namespace: str, wanted: Mapping[SeriesKey, object]
) -> dict[SeriesKey, int]:
    if not wanted:
        return {}
    keys = list({key for _, key in wanted})
    rows = connection.execute(
        select(MetricSeries.id, MetricSeries.metric_name, MetricSeries.dimensions_key).where(
            MetricSeries.namespace == namespace, MetricSeries.dimensions_key.in_(keys)
        )
    )
    return {(name, key): id_ for id_, name, key in rows if (name, key) in wanted}
