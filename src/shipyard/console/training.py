"""Console pages of training jobs: the list, and one job with its metrics chart and log."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from shipyard.compute import service as compute
from shipyard.compute.schemas import JOB_STATUSES, TERMINAL_STATUSES
from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.errors import ValidationError
from shipyard.core.names import srn
from shipyard.security.iam import authorize, is_allowed
from shipyard.training import service

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
LOG_LINES = 5000
MAX_POINTS_PER_TRACE = 2000


@router.get("/training-jobs", name="console-training-jobs")
def training_jobs(
    request: Request,
    viewer: ViewerDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    authorize(viewer.principal, "training:ListTrainingJobs", srn("training-job", "*"))
    status = status or None
    if status is not None and status not in JOB_STATUSES:
        raise ValidationError(f"expected one of {', '.join(JOB_STATUSES)}", "status")
    with request.app.state.context.db.session_scope() as session:
        jobs = service.list_training_jobs(
            session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, status=status
        )
    return render(
        request,
        "training_jobs.html",
        section="training",
        jobs=jobs,
        status=status,
        statuses=JOB_STATUSES,
        page=page,
        has_next=len(jobs) == PAGE_SIZE,
    )


@router.get("/training-jobs/{name}", name="console-training-job")
def training_job(request: Request, name: str, viewer: ViewerDep) -> Response:
    resource = srn("training-job", name)
    authorize(viewer.principal, "training:DescribeTrainingJob", resource)
    # The chart and the log are parts of the page the viewer may lack the right to see.
    may_read_metrics = is_allowed(viewer.principal, "training:GetTrainingJobMetrics", resource)
    may_read_logs = is_allowed(viewer.principal, "training:GetTrainingJobLogs", resource)
    points: list[compute.MetricPoint] = []
    lines: list[compute.LogLine] = []
    with request.app.state.context.db.session_scope() as session:
        job = service.describe_training_job(session, name)
        job_id = service.job_id_of(session, name)
        if may_read_metrics:
            points = compute.read_metrics(session, job_id)
        if may_read_logs:
            lines = compute.read_logs(session, job_id, limit=LOG_LINES + 1)
    return render(
        request,
        "training_job.html",
        section="training",
        job=job,
        chart=metric_chart(points, job.final_metrics) if may_read_metrics else None,
        may_read_metrics=may_read_metrics,
        may_read_logs=may_read_logs,
        log_lines=lines[:LOG_LINES],
        log_truncated=len(lines) > LOG_LINES,
        log_limit=LOG_LINES,
        refresh=job.status not in TERMINAL_STATUSES,
    )


def metric_chart(
    points: Sequence[compute.MetricPoint], final_metrics: dict[str, float]
) -> dict[str, Any] | None:
    """A Plotly figure: the learning curves, a panel per metric (``auc``) with a line per
    channel (``train:auc``, ``validation:auc``) over the steps; without any steps, the
    final metrics as bars; None when the job has recorded no metric."""
    series: dict[str, tuple[list[int], list[float | None]]] = {}
    for point in points:
        if point.step is not None:
            steps, values = series.setdefault(point.name, ([], []))
            steps.append(point.step)
            values.append(_finite(point.value))
    layout: dict[str, Any] = {
        "margin": {"l": 56, "r": 16, "t": 16, "b": 48},
        "height": 380,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.18},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    if series:
        return {"kind": "line", **_curve_panels(series, layout)}
    if final_metrics:
        names = sorted(final_metrics)
        bars: list[dict[str, Any]] = [
            {
                "type": "bar",
                "name": "final value",
                "x": names,
                "y": [_finite(final_metrics[n]) for n in names],
                "marker": {"color": "#2563eb"},
            }
        ]
        layout["hovermode"] = "closest"
        return {"kind": "bar", "data": bars, "layout": layout}
    return None


CHANNEL_COLOURS = {"train": "#2563eb", "validation": "#ea580c", "cv": "#16a34a"}
PANEL_HEIGHT = 240


def _curve_panels(
    series: dict[str, tuple[list[int], list[float | None]]], layout: dict[str, Any]
) -> dict[str, Any]:
    """One panel (y axis) per metric, stacked over a shared step axis."""
    panels = sorted({name.rpartition(":")[2] for name in series})
    gap = 0.08 / len(panels)
    data = []
    for name, (x, y) in sorted(series.items(), key=lambda item: _panel_order(item[0])):
        channel, _, metric = name.rpartition(":")
        index = panels.index(metric)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": _thin(x),
                "y": _thin(y),
                "yaxis": "y" if index == 0 else f"y{index + 1}",
                "line": {"color": CHANNEL_COLOURS.get(channel, "#6b7280")},
            }
        )
    layout["height"] = PANEL_HEIGHT * len(panels) + 100
    layout["legend"] = {"orientation": "h", "y": -80 / layout["height"]}
    layout["xaxis"] = {"title": {"text": "step"}, "zeroline": False, "anchor": "y"}
    for index, metric in enumerate(panels):
        top = 1 - index / len(panels)
        layout["yaxis" if index == 0 else f"yaxis{index + 1}"] = {
            "title": {"text": metric},
            "zeroline": False,
            "domain": [max(top - 1 / len(panels) + gap, 0), top],
            "anchor": "x",
        }
    layout["xaxis"]["anchor"] = f"y{len(panels)}" if len(panels) > 1 else "y"
    return {"data": data, "layout": layout}


def _panel_order(name: str) -> tuple[str, str]:
    channel, _, metric = name.rpartition(":")
    return metric, channel


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity; Plotly draws None as a gap."""
    return value if math.isfinite(value) else None


def _thin(values: list[Any]) -> list[Any]:
    """At most MAX_POINTS_PER_TRACE evenly spaced points, always keeping the last one."""
    if len(values) <= MAX_POINTS_PER_TRACE:
        return values
    stride = math.ceil(len(values) / MAX_POINTS_PER_TRACE)
    thinned = values[::stride]
    if (len(values) - 1) % stride:
        thinned.append(values[-1])
    return thinned
