"""The endpoint page's live charts: its variants' invocations, latency percentiles and
errors from the metrics store, and their instance counts now, as one JSON state that the
page draws on load and redraws from ``/console/endpoints/{name}/live`` every few seconds.

Instance counts are no stored metric (the model host knows them, DescribeEndpoint reports
them), so the state carries the counts of the moment and the page's script plots each
poll's counts: a history since the page was opened, said so under the chart. Recording
them would mean a writer in the serving room; reading them is all a console page may do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.errors import ValidationError
from shipyard.monitoring.metrics import service as metrics
from shipyard.monitoring.metrics.schemas import StatisticDatapoint
from shipyard.serving.schemas import EndpointOut, VariantStatus

# a range, and the period of its points: 90 of 10 s, 60 of a minute, 180, or 288 of 5 min
CHART_RANGES: dict[str, tuple[timedelta, int]] = {
    "15m": (timedelta(minutes=15), 10),
    "1h": (timedelta(hours=1), 60),
    "3h": (timedelta(hours=3), 60),
    "1d": (timedelta(days=1), 300),
}
DEFAULT_RANGE = "15m"
REFRESH_SECONDS = 5
PERCENTILES = ("p50", "p90", "p99")
PERCENTILE_DASHES = {"p50": "solid", "p90": "dash", "p99": "dot"}
LATENCIES = {"model-latency": "ModelLatency", "overhead-latency": "OverheadLatency"}
ERRORS = {"4XX": "Invocation4XXErrors", "5XX": "Invocation5XXErrors"}
COLOURS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#be123c", "#4d7c0f")
MICROSECONDS_PER_MS = 1000.0


def chart_range(name: str) -> tuple[timedelta, int]:
    """The span and period of a range name; a ValidationError on ``range`` otherwise."""
    if name not in CHART_RANGES:
        raise ValidationError(f"expected one of {', '.join(CHART_RANGES)}", "range")
    return CHART_RANGES[name]


def variant_names(endpoint: EndpointOut) -> list[str]:
    """The variants whose metrics are charted: production first, then the shadows (their
    copies are counted under their own name)."""
    names = [v.variant_name for v in endpoint.production_variants]
    names += [v.variant_name for v in endpoint.shadow_production_variants]
    return list(dict.fromkeys(names))


def live_state(
    session: Session,
    endpoint: EndpointOut,
    statuses: Sequence[VariantStatus],
    range_name: str,
    *,
    now: datetime,
    with_metrics: bool,
) -> dict[str, Any]:
    """What the page draws: ``instances`` now, and ``charts`` (Plotly figures by name) of
    the range up to ``now``, or None when the viewer may not read the endpoint metrics."""
    span, period = chart_range(range_name)
    charts = None
    if with_metrics:
        charts = endpoint_charts(
            session, endpoint.name, variant_names(endpoint), now - span, now, period
        )
    return {
        "endpoint": endpoint.name,
        "status": endpoint.status,
        "at": now.isoformat(),
        "range": range_name,
        "period": period,
        "instances": instance_counts(statuses),
        "charts": charts,
    }


def instance_counts(statuses: Sequence[VariantStatus]) -> list[dict[str, Any]]:
    """Each served variant's instances now, labelled by its name (and its config's, where a
    rollout serves a variant of that name in both configs)."""
    rows = [status.model_dump() for status in statuses]
    names = [row["variant_name"] for row in rows]
    for row in rows:
        config = row.get("endpoint_config_name")
        repeated = names.count(row["variant_name"]) > 1
        row["label"] = (
            f"{row['variant_name']} ({config})" if repeated and config else row["variant_name"]
        )
    return rows


def counts_of(
    instances: Sequence[dict[str, Any]], variant: str, config: str
) -> dict[str, Any] | None:
    """The instance counts of ``variant`` of ``config`` (else of any config) in
    :func:`instance_counts`' rows; None when this server serves no such variant."""
    named = [row for row in instances if row["variant_name"] == variant]
    of_config = [row for row in named if row.get("endpoint_config_name") == config]
    found = of_config or named
    return found[0] if found else None


def endpoint_charts(
    session: Session,
    endpoint: str,
    variants: Sequence[str],
    start: datetime,
    end: datetime,
    period: int,
) -> dict[str, dict[str, Any]]:
    """A figure per chart, with a trace per variant (latencies: one per percentile), each
    variant in its own colour."""
    query = _Query(session, endpoint, start, end, period)
    periods = period_starts(start, end, period)
    window = (start, end)
    invocations, errors = [], []
    latencies: dict[str, list[dict[str, Any]]] = {chart: [] for chart in LATENCIES}
    for index, variant in enumerate(variants):
        colour = COLOURS[index % len(COLOURS)]
        invocations.append(_counts(variant, query(variant, "Invocations"), periods, colour))
        for (label, metric), dash in zip(ERRORS.items(), ("solid", "dash"), strict=True):
            points = query(variant, metric)
            errors.append(_counts(f"{variant} {label}", points, periods, colour, dash))
        for chart, metric in LATENCIES.items():
            points = query(variant, metric, PERCENTILES)
            latencies[chart] += [_latency(variant, points, p, colour) for p in PERCENTILES]
    return {
        "invocations": figure(invocations, "invocations per period", window),
        "model-latency": figure(latencies["model-latency"], "model latency (ms)", window),
        "overhead-latency": figure(latencies["overhead-latency"], "overhead latency (ms)", window),
        "errors": figure(errors, "errors per period", window),
    }


def period_starts(start: datetime, end: datetime, period: int) -> list[datetime]:
    """The starts of the periods of [start, end), aligned as the store aligns its points
    (to whole periods since the epoch), so that they match its timestamps exactly."""
    first = int(start.timestamp()) // period * period
    last = end.timestamp()
    return [datetime.fromtimestamp(at, UTC) for at in range(first, math.ceil(last), period)]


def figure(
    traces: list[dict[str, Any]], y_title: str, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    """A metric chart over the whole range, so that the four line up (and a latency
    of a single period is no chart of a millisecond)."""
    shown = layout(y_title)
    shown["xaxis"]["range"] = [at.isoformat() for at in window]
    return {"data": traces, "layout": shown, "empty": not any(t["y"] for t in traces)}


def layout(y_title: str) -> dict[str, Any]:
    """A chart's layout; ``uirevision`` keeps the traces the viewer hid across the
    redraws (a zoom lasts until the next one: the range moves on with each)."""
    return {
        "margin": {"l": 56, "r": 16, "t": 12, "b": 40},
        "height": 300,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.22},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "uirevision": "live",
    }


@dataclass(frozen=True)
class _Query:
    """Reads one metric of one of the endpoint's variants over the charted range."""

    session: Session
    endpoint: str
    start: datetime
    end: datetime
    period: int

    def __call__(
        self, variant: str, metric: str, statistics: Sequence[str] = ("Sum",)
    ) -> list[StatisticDatapoint]:
        return metrics.get_metric_statistics(
            self.session,
            namespace=metrics.ENDPOINTS_NAMESPACE,
            metric_name=metric,
            dimensions={"EndpointName": self.endpoint, "VariantName": variant},
            start_time=self.start,
            end_time=self.end,
            period=self.period,
            statistics=statistics,
        )


def _counts(
    name: str,
    points: list[StatisticDatapoint],
    periods: list[datetime],
    colour: str,
    dash: str = "solid",
) -> dict[str, Any]:
    """A count's Sum in every period, 0 where nothing was counted (not a gap: no request
    is a count of 0)."""
    sums = {p.timestamp: p.values["Sum"] for p in points if "Sum" in p.values}
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [at.isoformat() for at in periods],
        "y": [sums.get(at, 0.0) for at in periods],
        "line": {"color": colour, "dash": dash, "shape": "hv"},
    }


def _latency(
    variant: str, points: list[StatisticDatapoint], percentile: str, colour: str
) -> dict[str, Any]:
    """A percentile of the periods that had requests, in milliseconds (stored in µs)."""
    kept = [p for p in points if percentile in p.values]
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": f"{variant} {percentile}",
        "x": [p.timestamp.isoformat() for p in kept],
        "y": [p.values[percentile] / MICROSECONDS_PER_MS for p in kept],
        "line": {"color": colour, "dash": PERCENTILE_DASHES[percentile]},
        "marker": {"size": 4},
    }


def instances_layout() -> dict[str, Any]:
    """The instance chart's layout (its points come from the polls)."""
    shown = layout("instances")
    shown["yaxis"]["dtick"] = 1
    return shown
