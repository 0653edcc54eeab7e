"""Tuning jobs end to end on an in-process server: every trial a real training job."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from tuning_testing import (
    Channels,
    classification_problem,
    limits,
    slow_script_request,
    trials_of,
    tuning_request,
    wait_for_training_job,
    wait_for_tuning,
)

XGBOOST_RANGES = {
    "continuous_parameter_ranges": [
        {"name": "eta", "min_value": 0.01, "max_value": 0.5, "scaling_type": "Logarithmic"},
        {"name": "subsample", "min_value": 0.5, "max_value": 1.0},
    ],
    "integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 8}],
    "categorical_parameter_ranges": [{"name": "colsample_bytree", "values": [0.5, 0.8, 1.0]}],
}
# Half the ranges reach into values that cannot learn: a learning rate that barely moves,
# and leaves that need more weight than the data has.
HALF_BAD_RANGES = {
    "continuous_parameter_ranges": [
        {"name": "eta", "min_value": 1e-4, "max_value": 0.5, "scaling_type": "Logarithmic"},
        {"name": "min_child_weight", "min_value": 0.5, "max_value": 500,
         "scaling_type": "Logarithmic"},
    ],
    "integer_parameter_ranges": [{"name": "max_depth", "min_value": 2, "max_value": 8}],
    "categorical_parameter_ranges": [{"name": "colsample_bytree", "values": [0.5, 1.0]}],
}  # fmt: skip


def create(api: Any, request: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/tuning-jobs", json=request)
    assert response.status_code == 201, response.text
    return response.json()


def max_overlap(trials: list[dict[str, Any]]) -> int:
    """The most trials whose training jobs ran at the same time."""
    events = []
    for trial in trials:
        events.append((datetime.fromisoformat(trial["created_at"]), 1))
        events.append((datetime.fromisoformat(trial["ended_at"]), -1))
    running = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_bayesian_tuning_runs_30_trials_3_at_a_time_and_its_best_model_serves(
    api: Any, channels: Channels
) -> None:
    request = tuning_request("xgb-bayes", channels, ranges=XGBOOST_RANGES, **limits(30, 3))
    created = create(api, request)
    assert created["status"] == "InProgress"

    done = wait_for_tuning(api, "xgb-bayes")

    assert (done["status"], done["completion_reason"]) == (
        "Completed",
        "MaxNumberOfTrainingJobsReached",
    )
    trials = trials_of(api, "xgb-bayes")
    assert [t["number"] for t in trials] == list(range(30))
    assert {t["training_job_status"] for t in trials} == {"Completed"}
    assert all(t["objective_status"] == "Succeeded" for t in trials)
    assert 2 <= max_overlap(trials) <= 3
    for trial in trials:  # each trial is a training job like any other
        job = api.get(f"/api/v1/training-jobs/{trial['training_job_name']}").json()
        assert job["status"] == "Completed"
        assert job["tags"]["shipyard:tuning-job"] == "xgb-bayes"
        assert job["hyperparameters"] | trial["tuned_hyperparameters"] == job["hyperparameters"]
        assert job["final_metrics"]["validation:auc"] == trial["final_objective_value"]
    best = done["best_training_job"]
    assert best["final_objective_value"] == max(t["final_objective_value"] for t in trials)
    assert best["final_objective_value"] > 0.9
    assert done["training_job_status_counters"]["completed"] == 30

    model = api.post(
        "/api/v1/models", json={"name": "best", "training_job_name": best["training_job_name"]}
    )
    assert model.status_code == 201, model.text
    assert api.post("/api/v1/endpoint-configs", json={
        "name": "best", "production_variants": [{"variant_name": "main", "model_name": "best"}],
    }).status_code == 201  # fmt: skip
    assert api.post("/api/v1/endpoints", json={"name": "best", "endpoint_config_name": "best"})
    assert api.wait_for_endpoint("best")["status"] == "InService"
    rows = classification_problem(20, seed=7).drop(columns="label")
    answer = api.post(
        "/api/v1/endpoints/best/invocations", json={"instances": rows.to_dict("records")}
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 20


def half_bad_request(channels: Channels, name: str, early_stopping: str) -> dict[str, Any]:
    """30 trials of the same Random sequence (a Random trial's hyperparameters depend on its
    number and the seed only), one at a time, so each trial's peers are the trials before
    it and both runs see exactly the same configurations."""
    return tuning_request(
        name,
        channels,
        ranges=HALF_BAD_RANGES,
        static={"num_round": 60},
        strategy="Random",
        random_seed=11,
        training_job_early_stopping_type=early_stopping,
        **limits(30, 1),
    )


def test_early_stopping_auto_stops_a_third_of_trials_early_and_keeps_the_best(
    api: Any, channels: Channels
) -> None:
    for name, early_stopping in (("half-bad-off", "Off"), ("half-bad-auto", "Auto")):
        create(api, half_bad_request(channels, name, early_stopping))  # the two run side by side
    off = wait_for_tuning(api, "half-bad-off", timeout=600)
    auto = wait_for_tuning(api, "half-bad-auto", timeout=600)

    assert off["training_job_status_counters"]["early_stopped"] == 0
    counters = auto["training_job_status_counters"]
    assert counters["early_stopped"] >= 10, counters
    assert counters["early_stopped"] + counters["completed"] == 30
    assert (
        auto["best_training_job"]["final_objective_value"]
        >= off["best_training_job"]["final_objective_value"]
    )
    stopped = [t for t in trials_of(api, "half-bad-auto") if t["early_stopped"]]
    for trial in stopped:
        job = api.get(f"/api/v1/training-jobs/{trial['training_job_name']}").json()
        assert job["status"] == "Stopped"
        assert job["failure_reason"].startswith("EarlyStopped: validation:auc was")
        rounds = stepped(job_metrics(api, job["name"]))
        assert 6 <= max(p["step"] for p in rounds) < 59  # after the warm-up, before the end
    same = [t["tuned_hyperparameters"] for t in trials_of(api, "half-bad-off")]
    assert same == [t["tuned_hyperparameters"] for t in trials_of(api, "half-bad-auto")]


def job_metrics(api: Any, name: str) -> list[dict[str, Any]]:
    return api.get(f"/api/v1/training-jobs/{name}/metrics?name=validation:auc").json()["metrics"]


def stepped(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in points if p["step"] is not None]


def test_grid_runs_every_point_once(api: Any, channels: Channels) -> None:
    ranges = {
        "integer_parameter_ranges": [{"name": "max_depth", "min_value": 2, "max_value": 4}],
        "categorical_parameter_ranges": [{"name": "eta", "values": [0.1, 0.3]}],
    }
    request = tuning_request("grid", channels, ranges=ranges, strategy="Grid", **limits(None, 3))
    created = create(api, request)
    assert (
        created["hyperparameter_tuning_job_config"]["resource_limits"][
            "max_number_of_training_jobs"
        ]
        == 6
    )

    assert wait_for_tuning(api, "grid")["status"] == "Completed"
    points = sorted(
        (t["tuned_hyperparameters"]["max_depth"], t["tuned_hyperparameters"]["eta"])
        for t in trials_of(api, "grid")
    )
    assert points == [(d, e) for d in (2, 3, 4) for e in (0.1, 0.3)]


def test_hyperband_tries_many_configurations_briefly_and_few_long(
    api: Any, channels: Channels
) -> None:
    request = tuning_request(
        "hyperband",
        channels,
        ranges=HALF_BAD_RANGES,
        static={},
        strategy="Hyperband",
        strategy_config={"hyperband_strategy_config": {"min_resource": 3, "max_resource": 81}},
        **limits(24, 2),
    )
    created = create(api, request)
    settings = created["hyperparameter_tuning_job_config"]["strategy_config"]
    assert settings["hyperband_strategy_config"]["resource_hyperparameter"] == "num_round"

    done = wait_for_tuning(api, "hyperband")

    assert done["status"] == "Completed"
    trials = trials_of(api, "hyperband")
    assert len(trials) == 24 and all(t["training_job_status"] == "Completed" for t in trials)
    ladder = [3, 9, 27, 81]
    by_rung = Counter(t["rung"] for t in trials)
    assert by_rung[0] > by_rung[1] > 0  # most configurations get the fewest rounds
    for trial in trials:
        rounds = stepped(job_metrics(api, trial["training_job_name"]))
        assert len(rounds) == ladder[trial["rung"]] == trial["tuned_hyperparameters"]["num_round"]
    climbed = {t["configuration"] for t in trials if t["rung"] > 0}
    for configuration in climbed:  # a configuration goes up with the same hyperparameters
        runs = [t for t in trials if t["configuration"] == configuration]
        tuned = [{k: v for k, v in t["tuned_hyperparameters"].items() if k != "num_round"}
                 for t in runs]  # fmt: skip
        assert all(t == tuned[0] for t in tuned)
    configurations = {t["configuration"] for t in trials}
    spent = sum(ladder[t["rung"]] for t in trials)
    assert spent < 0.5 * 81 * len(configurations)  # far less than their whole budgets


def test_stopping_a_tuning_job_stops_its_running_trials(api: Any, tmp_path: Any) -> None:
    create(api, slow_script_request(api, tmp_path, "to-stop", max_jobs=10, parallel=2))
    wait_for_training_job(api, "to-stop-001", "InProgress")

    stopping = api.post("/api/v1/tuning-jobs/to-stop/stop")
    assert stopping.status_code == 200, stopping.text
    assert stopping.json()["status"] == "Stopping"

    done = wait_for_tuning(api, "to-stop", timeout=60)
    assert done["status"] == "Stopped"
    trials = trials_of(api, "to-stop")
    assert len(trials) == 2
    assert {t["training_job_status"] for t in trials} == {"Stopped"}
    again = api.post("/api/v1/tuning-jobs/to-stop/stop")
    assert again.status_code == 409
