"""The console's metrics explorer: pick a metric that has data, a statistic, a period and a
range, and see it over time."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.clock import utcnow
from shipyard.core.errors import ValidationError
from shipyard.core.names import srn
from shipyard.monitoring.metrics import service
from shipyard.monitoring.metrics.schemas import MetricOut
from shipyard.security.iam import authorize

router = APIRouter(route_class=ConsoleRoute)
STATISTICS = ("Average", "Sum", "SampleCount", "Minimum", "Maximum", "p50", "p90", "p99")
PERIODS = {"1 second": 1, "10 seconds": 10, "1 minute": 60, "5 minutes": 300, "1 hour": 3600}
RANGES = {"1h": timedelta(hours=1), "3h": timedelta(hours=3), "12h": timedelta(hours=12),
          "1d": timedelta(days=1), "1w": timedelta(weeks=1)}  # fmt: skip
MAX_LISTED = 1000
MAX_POINTS = 5000


def series_value(metric: MetricOut) -> str:
    return json.dumps([metric.namespace, metric.metric_name, metric.dimensions], sort_keys=True)


def series_label(metric: MetricOut) -> str:
    dimensions = ", ".join(f"{k}={v}" for k, v in sorted(metric.dimensions.items()))
    return f"{metric.namespace} · {metric.metric_name}" + (f" ({dimensions})" if dimensions else "")


@router.get("/metrics", name="console-metrics")
def metrics_explorer(
    request: Request,
    viewer: ViewerDep,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
    series: Annotated[str | None, Query(max_length=40_000)] = None,
    statistic: Annotated[str, Query(max_length=16)] = "Average",
    period: Annotated[int, Query()] = 60,
    range_: Annotated[str, Query(alias="range", max_length=8)] = "3h",
) -> Response:
    authorize(viewer.principal, "monitoring:ListMetrics", srn("metric-namespace", namespace or "*"))
    if range_ not in RANGES:
        raise ValidationError(f"expected one of {', '.join(RANGES)}", "range")
    if statistic not in STATISTICS:
        raise ValidationError(f"expected one of {', '.join(STATISTICS)}", "statistic")
    if period not in PERIODS.values():
        raise ValidationError("expected one of the listed periods", "period")
    chosen = _parse_series(series) if series else None
    chart = None
    with request.app.state.context.db.session_scope() as session:
        metrics = service.list_metrics(session, namespace or None, limit=MAX_LISTED)
        namespaces = sorted({m.namespace for m in service.list_metrics(session, limit=MAX_LISTED)})
        if chosen is not None:
            authorize(
                viewer.principal,
                "monitoring:GetMetricStatistics",
                srn("metric-namespace", chosen.namespace),
            )
            end = utcnow()
            start = end - RANGES[range_]
            if RANGES[range_] / timedelta(seconds=period) > MAX_POINTS:
                raise ValidationError(
                    "too many points for this range; use a longer period", "period"
                )
            points = service.get_metric_statistics(
                session,
                namespace=chosen.namespace,
                metric_name=chosen.metric_name,
                dimensions=chosen.dimensions,
                start_time=start,
                end_time=end,
                period=period,
                statistics=[statistic],
            )
            chart = _chart(chosen, statistic, points)
    return render(
        request,
        "metrics.html",
        section="metrics",
        namespaces=namespaces,
        namespace=namespace or "",
        options=[(series_value(m), series_label(m)) for m in metrics],
        selected=series_value(chosen) if chosen else None,
        statistics=STATISTICS,
        statistic=statistic,
        periods=PERIODS,
        period=period,
        ranges=list(RANGES),
        range=range_,
        chart=chart,
    )


def _parse_series(text: str) -> MetricOut:
    try:
        namespace, metric_name, dimensions = json.loads(text)
        return MetricOut(namespace=namespace, metric_name=metric_name, dimensions=dimensions)
    except (ValueError, TypeError) as exc:
        raise ValidationError("not a metric of the list", "series") from exc


def _chart(metric: MetricOut, statistic: str, points: list[Any]) -> dict[str, Any]:
    kept = [p for p in points if statistic in p.values]
    return {
        "kind": "line",
        "empty": not kept,
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{metric.metric_name} {statistic}",
                "x": [p.timestamp.isoformat() for p in kept],
                "y": [p.values[statistic] for p in kept],
            }
        ],
        "layout": {
            "margin": {"l": 64, "r": 16, "t": 16, "b": 48},
            "height": 380,
            "hovermode": "x unified",
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "#ffffff",
            "font": {"family": "system-ui, sans-serif", "size": 12},
            "xaxis": {"type": "date"},
            "yaxis": {"title": {"text": f"{statistic} ({kept[0].unit if kept else ''})"}},
        },
    }
