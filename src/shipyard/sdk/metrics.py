"""``Metrics``: put datapoints and read statistics, as CloudWatch's client does.

metrics = Metrics(session)
metrics.put("App/Checkout", "Latency", 41.5, dimensions={"Service": "api"}, unit="Milliseconds")
metrics.statistics("App/Checkout", "Latency", statistics=["Average", "p99"], period=60,
                   dimensions={"Service": "api"}, since=timedelta(hours=1))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.sdk.client import Session

METRICS = "/api/v1/metrics"


class Metrics:
    """The metrics store of a server."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session or Session()

    def put(
        self,
        namespace: str,
        metric_name: str,
        value: float,
        *,
        dimensions: Mapping[str, str] | None = None,
        unit: str = "None",
        timestamp: datetime | None = None,
        storage_resolution: int = 60,
    ) -> int:
        """One datum; see ``put_data`` for a batch (values, counts, statistic sets)."""
        datum: dict[str, Any] = {
            "metric_name": metric_name,
            "dimensions": dict(dimensions or {}),
            "value": value,
            "unit": unit,
            "storage_resolution": storage_resolution,
        }
        if timestamp is not None:
            datum["timestamp"] = timestamp.isoformat()
        return self.put_data(namespace, [datum])

    def put_data(self, namespace: str, metric_data: Sequence[Mapping[str, Any]]) -> int:
        """Up to 1,000 data in one call (PutMetricData); returns how many were stored."""
        body = {"namespace": namespace, "metric_data": [dict(d) for d in metric_data]}
        return int(self.session.post(METRICS, json=body)["stored"])

    def statistics(
        self,
        namespace: str,
        metric_name: str,
        *,
        statistics: Sequence[str] = ("Average",),
        period: int = 60,
        dimensions: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        since: timedelta = timedelta(hours=1),
        unit: str | None = None,
    ) -> list[dict[str, Any]]:
        """GetMetricStatistics: one datapoint per period with data, oldest first."""
        end = end_time or datetime.now(UTC)
        start = start_time or end - since
        body = {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimensions": dict(dimensions or {}),
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
            "period": period,
            "statistics": list(statistics),
            "unit": unit,
        }
        return list(self.session.post(f"{METRICS}/statistics", json=body)["datapoints"])

    def data(
        self,
        queries: Sequence[Mapping[str, Any]],
        *,
        start_time: datetime,
        end_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """GetMetricData: ``queries`` as ``{"id", "metric_stat": {"metric": {...}, "period",
        "stat"}}``; one result (timestamps and values) per query."""
        body = {
            "metric_data_queries": [dict(q) for q in queries],
            "start_time": start_time.isoformat(),
            "end_time": (end_time or datetime.now(UTC)).isoformat(),
        }
        return list(self.session.post(f"{METRICS}/data", json=body)["metric_data_results"])

    def list(
        self,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: Mapping[str, str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """ListMetrics; a dimension with value None matches any value of it."""
        filters = [k if v is None else f"{k}={v}" for k, v in (dimensions or {}).items()]
        return self.session.list_all(
            METRICS, namespace=namespace, metric_name=metric_name, dimension=filters or None
        )
