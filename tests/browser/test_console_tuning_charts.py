"""The charts of a tuning job page, built from its trials."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from shipyard.console.tuning import coordinates_chart, objective_chart
from shipyard.tuning.schemas import TrainingJobDefinition, TrialOut, TuningJobConfig, TuningJobOut

AT = datetime(2026, 1, 1, tzinfo=UTC)


def job(objective_type: str = "Maximize") -> TuningJobOut:
    config = TuningJobConfig.model_validate(
        {
            "objective": {"metric_name": "validation:auc", "type": objective_type},
            "parameter_ranges": {
                "continuous_parameter_ranges": [
                    {
                        "name": "eta",
                        "min_value": 0.001,
                        "max_value": 1,
                        "scaling_type": "Logarithmic",
                    }
                ],
                "categorical_parameter_ranges": [{"name": "booster", "values": ["a", "b"]}],
            },
        }
    )
    return TuningJobOut(
        name="t", srn="srn:shipyard:tuning-job/t", status="Completed", failure_reason=None,
        completion_reason=None, hyperparameter_tuning_job_config=config,
        training_job_definition=TrainingJobDefinition(channels={"train": "x"}),
        warm_start_config=None, tags={}, training_job_status_counters={},  # type: ignore[arg-type]
        best_training_job=None, owner="admin", created_at=AT, ended_at=None,
    )  # fmt: skip


def trial(number: int, value: float | None, **tuned: Any) -> TrialOut:
    return TrialOut(
        number=number, configuration=number, rung=None, training_job_name=f"t-{number:03d}",
        tuned_hyperparameters=tuned,
        training_job_status="Completed", objective_status="Succeeded" if value else "Failed",
        final_objective_value=value, early_stopped=tuned.pop("early", False),
        failure_reason=None, created_at=AT, ended_at=AT,
    )  # fmt: skip


TRIALS = [
    trial(0, 0.80, eta=0.01, booster="a"),
    trial(1, 0.90, eta=0.1, booster="b"),
    trial(2, 0.85, eta=0.5, booster="a", early=True),
    trial(3, None, eta=0.3, booster="b"),
    trial(4, 0.95, eta=0.2, booster="a"),
]


def test_the_objective_chart_draws_trials_and_the_best_so_far() -> None:
    chart = objective_chart(job(), TRIALS)
    assert chart is not None
    traces = {t["name"]: t for t in chart["data"]}
    assert traces["completed"]["x"] == [0, 1, 4]
    assert traces["stopped early"]["x"] == [2]
    assert traces["best so far"]["y"] == [0.80, 0.90, 0.90, 0.95]
    minimized = objective_chart(job("Minimize"), TRIALS)
    assert minimized is not None
    assert minimized["data"][-1]["y"] == [0.80, 0.80, 0.80, 0.80]
    assert objective_chart(job(), [trial(0, None)]) is None
    json.dumps(chart, allow_nan=False)


def test_parallel_coordinates_place_each_trial_on_every_axis() -> None:
    chart = coordinates_chart(job(), TRIALS)
    assert chart is not None
    assert chart["layout"]["xaxis"]["ticktext"] == ["eta", "booster", "validation:auc"]
    lines = [t for t in chart["data"]]
    assert sum(t["x"].count(None) for t in lines) == 4  # the four scored trials
    best_band = next(t for t in lines if t["name"] == "best fifth")
    log_position = (math.log10(0.2) - math.log10(0.01)) / (math.log10(0.5) - math.log10(0.01))
    assert best_band["y"][:3] == [pytest.approx(log_position), 0.0, 1.0]  # eta, booster a, best
    labels = {a["text"] for a in chart["layout"]["annotations"]}
    assert {"a", "b", "0.95", "0.8"} <= labels
    assert coordinates_chart(job(), TRIALS[:1]) is None
