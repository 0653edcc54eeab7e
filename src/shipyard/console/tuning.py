"""Console pages of tuning jobs: the list, and one tuning job with its trials, the
objective over the trials and a parallel-coordinates chart of hyperparameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.names import srn
from shipyard.security.iam import authorize
from shipyard.tuning import service
from shipyard.tuning.schemas import TUNING_STATUSES, TrialOut, TuningJobOut

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
BEST_COLOUR = "#16a34a"
TRIAL_COLOUR = "#2563eb"
STOPPED_COLOUR = "#f59e0b"


@router.get("/tuning-jobs", name="console-tuning-jobs")
def tuning_jobs(
    request: Request,
    viewer: ViewerDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    authorize(viewer.principal, "tuning:ListHyperParameterTuningJobs", srn("tuning-job", "*"))
    status = status or None
    with request.app.state.context.db.session_scope() as session:
        jobs = service.list_tuning_jobs(
            session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, status=status
        )
    return render(
        request,
        "tuning_jobs.html",
        section="tuning",
        jobs=jobs,
        status=status,
        statuses=TUNING_STATUSES,
        page=page,
        has_next=len(jobs) == PAGE_SIZE,
    )


@router.get("/tuning-jobs/{name}", name="console-tuning-job")
def tuning_job(request: Request, name: str, viewer: ViewerDep) -> Response:
    resource = srn("tuning-job", name)
    authorize(viewer.principal, "tuning:DescribeHyperParameterTuningJob", resource)
    authorize(viewer.principal, "tuning:ListTrainingJobsForHyperParameterTuningJob", resource)
    with request.app.state.context.db.session_scope() as session:
        job = service.describe_tuning_job(session, name)
        trials = service.list_trials(session, name)
    return render(
        request,
        "tuning_job.html",
        section="tuning",
        job=job,
        trials=trials,
        tuned=tuned_names(job),
        objective_chart=objective_chart(job, trials),
        coordinates_chart=coordinates_chart(job, trials),
        refresh=job.status in ("InProgress", "Stopping"),
    )


def tuned_names(job: TuningJobOut) -> list[str]:
    ranges = job.hyperparameter_tuning_job_config.parameter_ranges
    return [
        *(r.name for r in ranges.continuous_parameter_ranges),
        *(r.name for r in ranges.integer_parameter_ranges),
        *(r.name for r in ranges.categorical_parameter_ranges),
    ]


def _layout(x_title: str, y_title: str) -> dict[str, Any]:
    return {
        "margin": {"l": 64, "r": 16, "t": 16, "b": 48},
        "height": 360,
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "zeroline": False},
    }


def objective_chart(job: TuningJobOut, trials: Sequence[TrialOut]) -> dict[str, Any] | None:
    """Each scored trial's objective by trial number, early-stopped ones apart, and the
    best so far as a step line; None before any trial has an objective."""
    scored = [t for t in trials if _finite(t.final_objective_value)]
    if not scored:
        return None
    objective = job.hyperparameter_tuning_job_config.objective
    maximize = objective.type == "Maximize"
    data: list[dict[str, Any]] = []
    for label, colour, group in (
        ("completed", TRIAL_COLOUR, [t for t in scored if not t.early_stopped]),
        ("stopped early", STOPPED_COLOUR, [t for t in scored if t.early_stopped]),
    ):
        if group:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": label,
                    "x": [t.number for t in group],
                    "y": [t.final_objective_value for t in group],
                    "text": [t.training_job_name for t in group],
                    "marker": {"color": colour, "size": 8},
                }
            )
    best: list[float] = []
    for trial in sorted(scored, key=lambda t: t.number):
        value = float(trial.final_objective_value or 0.0)
        best.append(value if not best else (max if maximize else min)(best[-1], value))
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv", "color": BEST_COLOUR},
            "name": "best so far",
            "x": [t.number for t in sorted(scored, key=lambda t: t.number)],
            "y": best,
        }
    )
    return {"data": data, "layout": _layout("trial", objective.metric_name)}


def coordinates_chart(job: TuningJobOut, trials: Sequence[TrialOut]) -> dict[str, Any] | None:
    """Parallel coordinates: an axis per tuned hyperparameter and one for the objective, a
    line per scored trial across them, coloured by its objective (the best in the darkest
    band). Drawn as plain SVG lines: Plotly's own parcoords needs WebGL code that the
    console's Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    scored = [t for t in trials if _finite(t.final_objective_value)]
    if len(scored) < 2:
        return None
    objective = job.hyperparameter_tuning_job_config.objective
    axes = [*(_axis(job, name, scored) for name in tuned_names(job))]
    axes.append(_Axis(objective.metric_name, [t.final_objective_value for t in scored]))
    bands = _bands([float(t.final_objective_value or 0.0) for t in scored], objective.type)
    data = []
    for band, colour in enumerate(PALETTE):
        members = [i for i, b in enumerate(bands) if b == band]
        if not members:
            continue
        x: list[Any] = []
        y: list[Any] = []
        text: list[Any] = []
        for i in members:
            x += [*range(len(axes)), None]
            y += [*(axis.positions[i] for axis in axes), None]
            text += [
                *(f"{scored[i].training_job_name}<br>{a.name}: {a.shown[i]}" for a in axes),
                None,
            ]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _band_name(band),
                "x": x,
                "y": y,
                "text": text,
                "hoverinfo": "text",
                "line": {"color": colour, "width": 1.5},
                "marker": {"color": colour, "size": 5},
            }
        )
    layout = _layout("", "")
    layout["xaxis"] = {
        "tickvals": list(range(len(axes))),
        "ticktext": [axis.name for axis in axes],
        "range": [-0.3, len(axes) - 0.7],
        "showgrid": True,
        "gridcolor": "#94a3b8",
        "zeroline": False,
    }
    layout["yaxis"] = {"visible": False, "range": [-0.12, 1.12]}
    layout["annotations"] = [
        note for index, axis in enumerate(axes) for note in axis.annotations(index)
    ]
    return {"data": data, "layout": layout}


PALETTE = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # viridis, best first


def _bands(values: list[float], objective_type: str) -> list[int]:
    """The colour band of each value by its rank: 0 for the best fifth of the trials, 4 for
    the worst (ranks rather than values, so one outlier does not crowd the rest together)."""
    order = sorted(range(len(values)), key=values.__getitem__, reverse=objective_type == "Maximize")
    bands = [0] * len(values)
    for rank, index in enumerate(order):
        bands[index] = rank * len(PALETTE) // len(values)
    return bands


def _band_name(band: int) -> str:
    return ("best fifth", "second fifth", "third fifth", "fourth fifth", "worst fifth")[band]


class _Axis:
    """One vertical axis: each trial's position on it (0 to 1) and its value as shown."""

    def __init__(self, name: str, values: list[Any], log: bool = False) -> None:
        self.name = name
        self.shown = [_shown(v) for v in values]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            scaled = [math.log10(v) if log and v > 0 else float(v) for v in values]
            low, high = min(scaled), max(scaled)
            self.positions = [(v - low) / (high - low) if high > low else 0.5 for v in scaled]
            self.low, self.high = _shown(min(values)), _shown(max(values))
        else:
            labels = sorted({str(v) for v in values})
            steps = max(len(labels) - 1, 1)
            self.positions = [labels.index(str(v)) / steps for v in values]
            self.low, self.high = labels[0], labels[-1]

    def annotations(self, index: int) -> list[dict[str, Any]]:
        return [
            {"x": index, "y": 1.1, "text": self.high, "showarrow": False},
            {"x": index, "y": -0.1, "text": self.low, "showarrow": False},
        ]


def _axis(job: TuningJobOut, name: str, trials: Sequence[TrialOut]) -> _Axis:
    ranges = job.hyperparameter_tuning_job_config.parameter_ranges
    scalings = {r.name: r.scaling_type for r in ranges.continuous_parameter_ranges}
    scalings |= {r.name: r.scaling_type for r in ranges.integer_parameter_ranges}
    log = scalings.get(name) == "Logarithmic"
    return _Axis(name, [t.tuned_hyperparameters.get(name) for t in trials], log)


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
