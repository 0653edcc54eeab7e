"""The tuner through the SDK and the ``shipyard tuning`` commands, against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tuning_testing import classification_problem

import shipyard
from shipyard.core.errors import ValidationError

ENTRY_POINT = [sys.executable, "-m", "shipyard.cli.main"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def session(live_server: Any) -> Iterator[shipyard.Session]:
    with shipyard.Session(url=live_server.url, token=live_server.token) as session:
        yield session


@pytest.fixture
def split(live_server: Any) -> tuple[Path, Path]:
    directory = live_server.home.parent / unique("tuning-data")
    directory.mkdir()
    train, validation = directory / "train.csv", directory / "validation.csv"
    classification_problem(800, seed=0).to_csv(train, index=False)
    classification_problem(400, seed=1).to_csv(validation, index=False)
    return train, validation


def test_the_tuner_fits_finds_the_best_and_deploys_it(
    session: shipyard.Session, split: tuple[Path, Path]
) -> None:
    train, validation = split
    estimator = shipyard.Estimator(
        algorithm="xgboost", target="label", hyperparameters={"num_round": 30}, session=session
    )
    tuner = shipyard.HyperparameterTuner(
        estimator,
        objective_metric_name="validation:auc",
        hyperparameter_ranges={
            "eta": shipyard.ContinuousParameter(0.05, 0.5, scaling_type="Logarithmic"),
            "max_depth": shipyard.IntegerParameter(2, 6),
            "colsample_bytree": shipyard.CategoricalParameter([0.5, 1.0]),
        },
        max_jobs=5,
        max_parallel_jobs=2,
        base_tuning_job_name=unique("sdk"),
    )
    job = tuner.fit({"train": train, "validation": str(validation)})

    description = tuner.describe()
    assert description["status"] == "Completed"
    frame = tuner.analytics()
    assert len(frame) == 5
    assert {"eta", "max_depth", "colsample_bytree", "FinalObjectiveValue"} <= set(frame.columns)
    assert (
        frame["FinalObjectiveValue"].max()
        == description["best_training_job"]["final_objective_value"]
    )
    best = tuner.best_estimator()
    assert best.latest_training_job is not None
    assert best.latest_training_job.name == tuner.best_training_job()
    assert best.hyperparameters["num_round"] == 30
    predictor = best.deploy(unique("tuned"))
    rows = classification_problem(5, seed=9).drop(columns="label")
    assert len(predictor.predict(rows)["predictions"]) == 5
    predictor.delete_endpoint()
    assert job.training_jobs()[0]["number"] == 0


def test_the_tuner_refuses_what_is_not_a_range(session: shipyard.Session) -> None:
    estimator = shipyard.Estimator(algorithm="xgboost", target="label", session=session)
    with pytest.raises(ValidationError, match="hyperparameter_ranges.eta"):
        shipyard.HyperparameterTuner(estimator, "validation:auc", {"eta": (0.1, 0.3)})  # type: ignore[dict-item]
    tuner = shipyard.HyperparameterTuner(
        estimator, "validation:auc", {"eta": shipyard.ContinuousParameter(0.1, 0.3)}
    )
    with pytest.raises(ValidationError, match="call fit"):
        tuner.best_training_job()


def cli(*args: str, env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [*ENTRY_POINT, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == expect, (args, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    return completed


def test_the_cli_creates_lists_describes_and_stops(
    live_server: Any, split: tuple[Path, Path]
) -> None:
    train, validation = split
    name = unique("cli")
    created = cli(
        "tuning", "create", "--name", name, "--algorithm", "xgboost", "--target", "label",
        "--channel", f"train={train}", "--channel", f"validation={validation}",
        "--hp", "num_round=20", "--continuous", "eta=0.05:0.5:Logarithmic",
        "--integer", "max_depth=2:5", "--categorical", "colsample_bytree=0.5,1.0",
        "--objective", "validation:auc", "--max-jobs", "3", "--max-parallel-jobs", "2",
        "--json", env=live_server.env,
    )  # fmt: skip
    description = json.loads(created.stdout)
    assert description["status"] == "Completed"
    assert description["training_job_status_counters"]["completed"] == 3

    listed = json.loads(cli("tuning", "list", "--json", env=live_server.env).stdout)
    assert name in [item["name"] for item in listed]
    table = cli("tuning", "describe", name, env=live_server.env).stdout
    assert "best_training_job" in table and f"{name}-000" in table and "Trials" in table

    ended = cli("tuning", "stop", name, env=live_server.env, expect=1)
    line = ended.stderr.strip()
    assert line.startswith("error (InvalidState): ") and "\n" not in line

    bad = cli(
        "tuning", "create", "--algorithm", "xgboost", "--target", "label",
        "--channel", f"train={train}", "--integer", "max_depth=5:2",
        "--objective", "train:auc", "--max-jobs", "2", env=live_server.env, expect=1,
    )  # fmt: skip
    assert "integer_parameter_ranges.0.min_value" in bad.stderr
    malformed = cli("tuning", "create", "--integer", "max_depth=2-5", "--objective", "x",
                    env=live_server.env, expect=1)  # fmt: skip
    assert "--integer" in malformed.stderr


def test_the_cli_takes_a_whole_request_from_a_file(
    live_server: Any, split: tuple[Path, Path], tmp_path: Path
) -> None:
    train, validation = split
    name = unique("file")
    request = {
        "name": "replaced-by-the-option",
        "hyperparameter_tuning_job_config": {
            "strategy": "Grid",
            "objective": {"metric_name": "validation:auc", "type": "Maximize"},
            "parameter_ranges": {
                "integer_parameter_ranges": [{"name": "max_depth", "min_value": 2, "max_value": 3}]
            },
            "resource_limits": {"max_parallel_training_jobs": 2},
        },
        "training_job_definition": {
            "algorithm": "xgboost",
            "target": "label",
            "channels": {"train": str(train), "validation": str(validation)},
            "static_hyperparameters": {"num_round": 10},
        },
    }
    path = tmp_path / "tuning.json"
    path.write_text(json.dumps(request))
    done = json.loads(
        cli(
            "tuning", "create", "--config", str(path), "--name", name, "--json", env=live_server.env
        ).stdout  # fmt: skip
    )
    assert (done["name"], done["status"]) == (name, "Completed")
    assert done["training_job_status_counters"]["completed"] == 2
