"""Bad CreateHyperParameterTuningJob requests: each a clear 4xx naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from tuning_testing import Channels, limits, tuning_request

CONFIG = "hyperparameter_tuning_job_config"
RANGES = f"{CONFIG}.parameter_ranges"
GOOD_RANGES = {
    "continuous_parameter_ranges": [{"name": "eta", "min_value": 0.01, "max_value": 0.3}],
    "integer_parameter_ranges": [{"name": "max_depth", "min_value": 2, "max_value": 6}],
}

Change = Callable[[dict[str, Any]], None]


def continuous(request: dict[str, Any]) -> dict[str, Any]:
    return request[CONFIG]["parameter_ranges"]["continuous_parameter_ranges"][0]


def integer(request: dict[str, Any]) -> dict[str, Any]:
    return request[CONFIG]["parameter_ranges"]["integer_parameter_ranges"][0]


def setter(path: str, value: Any) -> Change:
    def change(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = request
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return change


def categorical(values: list[Any]) -> Change:
    def change(request: dict[str, Any]) -> None:
        request[CONFIG]["parameter_ranges"]["categorical_parameter_ranges"] = [
            {"name": "colsample_bytree", "values": values}
        ]

    return change


CASES: list[tuple[str, Change, str, str]] = [
    ("min above max", lambda r: continuous(r).update(min_value=0.5),
     f"{RANGES}.continuous_parameter_ranges.0.min_value", "less than max_value"),
    ("integer min above max", lambda r: integer(r).update(min_value=9),
     f"{RANGES}.integer_parameter_ranges.0.min_value", "less than max_value"),
    ("metric not emitted", setter(f"{CONFIG}.objective.metric_name", "validation:bleu"),
     f"{CONFIG}.objective.metric_name", "validation:auc"),
    ("metric of an absent channel", lambda r: r["training_job_definition"]["channels"].pop(
        "validation"), f"{CONFIG}.objective.metric_name", "not a metric xgboost reports"),
    ("parallel above max jobs", setter(f"{CONFIG}.resource_limits.max_parallel_training_jobs", 9),
     f"{CONFIG}.resource_limits.max_parallel_training_jobs", "more than the 4"),
    ("unknown strategy", setter(f"{CONFIG}.strategy", "Genetic"), f"{CONFIG}.strategy",
     "Bayesian"),
    ("categorical without values", categorical([]),
     f"{RANGES}.categorical_parameter_ranges.0.values", "at least one value"),
    ("categorical repeats", categorical([0.5, 0.5]),
     f"{RANGES}.categorical_parameter_ranges.0.values", "distinct"),
    ("log of a non-positive range", lambda r: continuous(r).update(
        min_value=0, scaling_type="Logarithmic"),
     f"{RANGES}.continuous_parameter_ranges.0.min_value", "positive"),
    ("reverse log beyond 1", lambda r: continuous(r).update(
        max_value=1.5, scaling_type="ReverseLogarithmic"),
     f"{RANGES}.continuous_parameter_ranges.0.max_value", "< 1"),
    ("reverse log of integers", lambda r: integer(r).update(scaling_type="ReverseLogarithmic"),
     f"{RANGES}.integer_parameter_ranges.0.scaling_type", "continuous ranges only"),
    ("unknown scaling", lambda r: integer(r).update(scaling_type="Cubic"),
     f"{RANGES}.integer_parameter_ranges.0.scaling_type", "Logarithmic"),
    ("range the algorithm refuses", lambda r: continuous(r).update(max_value=3.0),
     f"{RANGES}.continuous_parameter_ranges.0", "eta: must be > 0 and <= 1"),
    ("unknown hyperparameter", lambda r: integer(r).update(name="depth"),
     f"{RANGES}.integer_parameter_ranges.0", "unknown hyperparameter 'depth'"),
    ("tuned and static", setter("training_job_definition.static_hyperparameters.eta", 0.1),
     f"{RANGES}.continuous_parameter_ranges.0.name", "also a static hyperparameter"),
    ("bad static", setter("training_job_definition.static_hyperparameters.num_round", -1),
     "training_job_definition.static_hyperparameters.num_round", ">= 1"),
    ("same range twice", lambda r: r[CONFIG]["parameter_ranges"]["integer_parameter_ranges"].append(
        {"name": "eta", "min_value": 1, "max_value": 2}),
     f"{RANGES}.integer_parameter_ranges.1.name", "more than one range"),
    ("no range", setter(f"{CONFIG}.parameter_ranges", {}), RANGES, "at least one"),
    ("no max jobs", setter(f"{CONFIG}.resource_limits.max_number_of_training_jobs", None),
     f"{CONFIG}.resource_limits.max_number_of_training_jobs", "required"),
    ("grid of reals", setter(f"{CONFIG}.strategy", "Grid"),
     f"{RANGES}.continuous_parameter_ranges", "integer and categorical"),
    ("early stopping on a final metric", lambda r: r[CONFIG].update(
        training_job_early_stopping_type="Auto",
        objective={"metric_name": "validation:accuracy", "type": "Maximize"}),
     f"{CONFIG}.training_job_early_stopping_type", "only at the end"),
    ("hyperband with early stopping", lambda r: r[CONFIG].update(
        strategy="Hyperband", training_job_early_stopping_type="Auto"),
     f"{CONFIG}.training_job_early_stopping_type", "Off"),
    ("hyperband tuning its resource", lambda r: (r[CONFIG].update(
        strategy="Hyperband", parameter_ranges={"integer_parameter_ranges": [
            {"name": "num_round", "min_value": 10, "max_value": 100}]}),
        r["training_job_definition"].update(static_hyperparameters={})),
     f"{RANGES}.integer_parameter_ranges.0.name", "Hyperband's resource"),
    ("hyperband without iterations", lambda r: (r[CONFIG].update(
        strategy="Hyperband", parameter_ranges={"integer_parameter_ranges": [
            {"name": "num_trees", "min_value": 10, "max_value": 100}]}),
        r["training_job_definition"].update(algorithm="random-forest",
                                            static_hyperparameters={})),
     f"{CONFIG}.strategy", "no hyperparameter that sets its iterations"),
    ("hyperband with a bottom above the top", lambda r: r[CONFIG].update(
        strategy="Hyperband",
        strategy_config={"hyperband_strategy_config": {"min_resource": 50}}),
     f"{CONFIG}.strategy_config.hyperband_strategy_config.min_resource",
     "less than max_resource (40)"),
    ("a missing channel file", setter("training_job_definition.channels.train", "/nowhere.csv"),
     "training_job_definition.channels.train", "outside the allowed data roots"),
    ("a missing target", setter("training_job_definition.target", "fraud"),
     "training_job_definition.target", "'fraud' not found"),
    ("name too long for trials", setter("name", "t" * 60), "name", "at most 58"),
    ("a bad name", setter("name", "no spaces please"), "name", "not a valid name"),
    ("unknown parent", setter("warm_start_config", {
        "parent_hyperparameter_tuning_jobs": ["nobody"],
        "warm_start_type": "TransferLearning"}),
     "warm_start_config.parent_hyperparameter_tuning_jobs.0", "not found"),
    ("unknown warm start type", setter("warm_start_config", {
        "parent_hyperparameter_tuning_jobs": ["nobody"], "warm_start_type": "Cloning"}),
     "warm_start_config.warm_start_type", "TransferLearning"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "field", "needle"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_request_is_a_400_naming_the_field(
    api: Any, channels: Channels, case: str, change: Change, field: str, needle: str
) -> None:
    request = copy.deepcopy(tuning_request("bad", channels, ranges=GOOD_RANGES, **limits(4, 2)))
    change(request)

    response = api.post("/api/v1/tuning-jobs", json=request)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "ValidationError"
    assert error["message"].startswith(f"{field}: ") or f" {field}: " in error["message"], error
    assert needle in error["message"], error
    assert api.get("/api/v1/tuning-jobs").json()["items"] == []  # nothing was created


def test_a_script_objective_must_be_declared(api: Any, channels: Channels, tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    source = api.post("/api/v1/uploads", files={"file": ("train.py", script.read_bytes())})
    request = tuning_request("script", channels, ranges=GOOD_RANGES, **limits(4, 2))
    request["training_job_definition"] = {
        "entry_point": "train.py",
        "source_uri": source.json()["uri"],
        "channels": channels.as_request(),
        "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
    }
    response = api.post("/api/v1/tuning-jobs", json=request)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith(f"{CONFIG}.objective.metric_name: 'validation:auc' is not among")
    assert "loss" in message


def test_a_second_job_of_the_same_name_is_a_409(api: Any, channels: Channels) -> None:
    request = tuning_request("twice", channels, ranges=GOOD_RANGES, **limits(1, 1))
    assert api.post("/api/v1/tuning-jobs", json=request).status_code == 201
    again = api.post("/api/v1/tuning-jobs", json=request)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "AlreadyExists"


def test_an_unknown_tuning_job_is_a_404(api: Any) -> None:
    for path in ("/api/v1/tuning-jobs/ghost", "/api/v1/tuning-jobs/ghost/training-jobs"):
        assert api.get(path).status_code == 404
    assert api.post("/api/v1/tuning-jobs/ghost/stop").status_code == 404
    bad_status = api.get("/api/v1/tuning-jobs?status=Sleeping")
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["message"].startswith("status: ")
