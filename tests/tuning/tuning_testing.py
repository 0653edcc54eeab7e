"""Helpers of the tuning tests: a held-out classification problem, tuning requests, waits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ENDED = ("Completed", "Failed", "Stopped")


def classification_problem(rows: int, seed: int) -> pd.DataFrame:
    """A binary problem with a non-linear boundary, noise and a few useless features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    logit = 1.5 * x[:, 0] - 1.2 * x[:, 1] + 1.0 * x[:, 2] * x[:, 3] + 0.8 * np.sin(2 * x[:, 4])
    label = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["label"] = label
    return frame


@dataclass(frozen=True)
class Channels:
    train: Path
    validation: Path

    def as_request(self) -> dict[str, str]:
        return {"train": str(self.train), "validation": str(self.validation)}


def tuning_request(
    name: str,
    channels: Channels,
    *,
    ranges: dict[str, list[dict[str, Any]]],
    static: dict[str, Any] | None = None,
    objective: str = "validation:auc",
    objective_type: str = "Maximize",
    **config: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "hyperparameter_tuning_job_config": {
            "objective": {"metric_name": objective, "type": objective_type},
            "parameter_ranges": ranges,
            **config,
        },
        "training_job_definition": {
            "algorithm": "xgboost",
            "target": "label",
            "channels": channels.as_request(),
            "static_hyperparameters": {"num_round": 40} if static is None else static,
            "resources": {"cpu_count": 1},
        },
    }


def limits(max_jobs: int | None, parallel: int = 1) -> dict[str, Any]:
    return {
        "resource_limits": {
            "max_number_of_training_jobs": max_jobs,
            "max_parallel_training_jobs": parallel,
        }
    }


def wait_for_tuning(api: Any, name: str, timeout: float = 300) -> dict[str, Any]:
    return api.wait_for_status(f"/api/v1/tuning-jobs/{name}", ENDED, timeout)


def trials_of(api: Any, name: str) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/tuning-jobs/{name}/training-jobs")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def wait_for_training_job(api: Any, name: str, *statuses: str, timeout: float = 60) -> None:
    """Until the training job exists (a trial may not be started yet) and is in a status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/training-jobs/{name}")
        if response.status_code == 200 and response.json()["status"] in statuses:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for training job {name} to be {statuses}")


SLOW_SCRIPT = (
    "import time\nfrom shipyard.training import log_metric\n"
    "log_metric('score', 1.0)\nprint('started', flush=True)\ntime.sleep(600)\n"
)


def slow_script_request(
    api: Any, directory: Path, name: str, max_jobs: int, parallel: int
) -> dict[str, Any]:
    """A tuning job of a script that reports its objective and then runs until stopped."""
    script = directory / "slow.py"
    script.write_text(SLOW_SCRIPT)
    source = api.post("/api/v1/uploads", files={"file": ("slow.py", script.read_bytes())})
    assert source.status_code == 201, source.text
    data = directory / "data.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(data, index=False)
    return {
        "name": name,
        "hyperparameter_tuning_job_config": {
            "objective": {"metric_name": "score", "type": "Maximize"},
            "parameter_ranges": {
                "integer_parameter_ranges": [{"name": "x", "min_value": 1, "max_value": 100}]
            },
            **limits(max_jobs, parallel),
        },
        "training_job_definition": {
            "entry_point": "slow.py",
            "source_uri": source.json()["uri"],
            "channels": {"train": str(data)},
            "metric_definitions": [{"name": "score"}],
        },
    }
