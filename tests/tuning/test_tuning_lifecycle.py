"""A tuning job's life beyond the happy path: restarts, scripts that stop early, warm
starts, and trials stopped one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from compute_testing import wait_for
from fastapi.testclient import TestClient
from tuning_testing import (
    Channels,
    limits,
    slow_script_request,
    trials_of,
    tuning_request,
    wait_for_training_job,
    wait_for_tuning,
)

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app

RANGES = {
    "continuous_parameter_ranges": [
        {"name": "eta", "min_value": 0.01, "max_value": 0.5, "scaling_type": "Logarithmic"}
    ],
    "integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 6}],
}

# A script whose validation loss falls at the rate `lr`: a small rate is a bad trial. When
# its tuning job stops it early it saves the model it has, as a script may.
SCRIPT = """\
import json, math, os, sys
from shipyard.training import EarlyStopped, log_metric

lr = float(sys.argv[sys.argv.index("--lr") + 1])
model_dir = os.environ["SHIPYARD_MODEL_DIR"]
step = 0
try:
    for step in range(40):
        log_metric("validation:loss", math.exp(-lr * step), step=step)
    print("trained every epoch", flush=True)
except EarlyStopped as stop:
    print(f"stopped early at step {step}", flush=True)
    raise
finally:
    with open(os.path.join(model_dir, "model.json"), "w") as handle:
        json.dump({"lr": lr, "epochs": step + 1}, handle)
"""


def create(api: Any, request: dict[str, Any]) -> None:
    response = api.post("/api/v1/tuning-jobs", json=request)
    assert response.status_code == 201, response.text


def test_a_tuning_job_goes_on_after_a_restart(settings: Settings, channels: Channels) -> None:
    request = tuning_request("survivor", channels, ranges=RANGES, **limits(8, 2))
    context = build_context(settings)
    token = bootstrap_admin(context.db)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, context)) as client:
        assert client.post("/api/v1/tuning-jobs", json=request, headers=headers).status_code == 201

        def some_trials_ended() -> bool:
            counters = client.get("/api/v1/tuning-jobs/survivor", headers=headers).json()[
                "training_job_status_counters"
            ]
            return counters["completed"] >= 2

        wait_for(some_trials_ended, "two trials to complete", timeout=120)
    context.db.dispose()  # the server is gone; trials in flight were given back

    settings_again = settings.model_copy()
    context = build_context(settings_again)
    with TestClient(create_app(settings_again, context)) as client:

        class Api:
            def get(self, path: str) -> Any:
                return client.get(path, headers=headers)

            def wait_for_status(self, path: str, statuses: tuple[str, ...], timeout: float) -> Any:
                return wait_for(
                    lambda: (d := self.get(path).json())["status"] in statuses and d,
                    f"{path} to end",
                    timeout,
                )

        done = wait_for_tuning(Api(), "survivor")
        trials = trials_of(Api(), "survivor")
    context.db.dispose()
    assert done["status"] == "Completed"
    assert [t["number"] for t in trials] == list(range(8))  # none twice, none lost
    assert all(t["objective_status"] in ("Succeeded", "Failed") for t in trials)
    assert done["training_job_status_counters"]["completed"] >= 6


def upload(api: Any, path: Path) -> str:
    response = api.post("/api/v1/uploads", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 201, response.text
    return response.json()["uri"]


def test_a_script_trial_stops_early_through_log_metric_and_keeps_its_model(
    api: Any, tmp_path: Path
) -> None:
    script = tmp_path / "curve.py"
    script.write_text(SCRIPT)
    data = tmp_path / "data.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(data, index=False)
    create(
        api,
        {
            "name": "script-es",
            "hyperparameter_tuning_job_config": {
                "strategy": "Random",
                "objective": {"metric_name": "validation:loss", "type": "Minimize"},
                "parameter_ranges": {
                    "continuous_parameter_ranges": [
                        {"name": "lr", "min_value": 0.001, "max_value": 1.0,
                         "scaling_type": "Logarithmic"}
                    ]
                },
                "training_job_early_stopping_type": "Auto",
                **limits(10, 1),
            },
            "training_job_definition": {
                "entry_point": "curve.py",
                "source_uri": upload(api, script),
                "channels": {"train": str(data)},
                "metric_definitions": [{"name": "validation:loss"}],
            },
        },
    )  # fmt: skip

    done = wait_for_tuning(api, "script-es")

    assert done["status"] == "Completed"
    stopped = [t for t in trials_of(api, "script-es") if t["early_stopped"]]
    assert len(stopped) >= 2
    for trial in stopped:
        name = trial["training_job_name"]
        job = api.get(f"/api/v1/training-jobs/{name}").json()
        assert job["status"] == "Stopped"
        assert job["failure_reason"].startswith("EarlyStopped: validation:loss was")
        log = [
            line["message"]
            for line in api.get(f"/api/v1/training-jobs/{name}/logs").json()["lines"]
        ]
        assert any(line.startswith("stopped early at step") for line in log), log
        model = Path(api.settings.home) / "artifacts" / "training-jobs" / name / "model"
        assert (model / "model.json").is_file()  # saved before the script ended
    best = done["best_training_job"]
    assert best["tuned_hyperparameters"]["lr"] > 0.1


def test_a_warm_start_learns_from_its_parent(api: Any, channels: Channels) -> None:
    parent = tuning_request("parent", channels, ranges=RANGES, strategy="Random", **limits(8, 2))
    create(api, parent)
    assert wait_for_tuning(api, "parent")["status"] == "Completed"
    cold = tuning_request("cold", channels, ranges=RANGES, **limits(2, 1))
    warm = tuning_request("warm", channels, ranges=RANGES, **limits(2, 1))
    warm["warm_start_config"] = {
        "parent_hyperparameter_tuning_jobs": ["parent"],
        "warm_start_type": "IdenticalDataAndAlgorithm",
    }
    create(api, cold)
    create(api, warm)

    assert wait_for_tuning(api, "cold")["status"] == "Completed"
    assert wait_for_tuning(api, "warm")["status"] == "Completed"
    described = api.get("/api/v1/tuning-jobs/warm").json()
    assert described["warm_start_config"]["parent_hyperparameter_tuning_jobs"] == ["parent"]
    # With the parent's eight trials behind it, the warm job's first trial is already
    # Bayesian rather than a random start like the cold job's, from the same seed.
    first = [trials_of(api, name)[0]["tuned_hyperparameters"] for name in ("cold", "warm")]
    assert first[0] != first[1]

    other_data = tuning_request("other-data", channels, ranges=RANGES, **limits(2, 1))
    other_data["training_job_definition"]["channels"]["validation"] = str(channels.train)
    other_data["warm_start_config"] = warm["warm_start_config"]
    refused = api.post("/api/v1/tuning-jobs", json=other_data)
    assert refused.status_code == 400
    assert "IdenticalDataAndAlgorithm needs the parent's channels" in refused.text
    other_data["warm_start_config"]["warm_start_type"] = "TransferLearning"
    assert api.post("/api/v1/tuning-jobs", json=other_data).status_code == 201


def test_a_parent_must_have_ended(api: Any, channels: Channels) -> None:
    running = tuning_request("busy", channels, ranges=RANGES, **limits(30, 1))
    create(api, running)
    child = tuning_request("child", channels, ranges=RANGES, **limits(2, 1))
    child["warm_start_config"] = {
        "parent_hyperparameter_tuning_jobs": ["busy"],
        "warm_start_type": "TransferLearning",
    }
    refused = api.post("/api/v1/tuning-jobs", json=child)
    assert refused.status_code == 400
    assert "a parent must have ended" in refused.json()["error"]["message"]
    assert api.post("/api/v1/tuning-jobs/busy/stop").status_code == 200


def test_a_trial_stopped_by_hand_is_recorded_and_the_tuning_job_goes_on(
    api: Any, tmp_path: Path
) -> None:
    create(api, slow_script_request(api, tmp_path, "by-hand", max_jobs=3, parallel=1))
    wait_for_training_job(api, "by-hand-000", "InProgress")
    assert api.post("/api/v1/training-jobs/by-hand-000/stop").status_code == 200
    wait_for_training_job(api, "by-hand-001", "InProgress")
    assert api.post("/api/v1/tuning-jobs/by-hand/stop").status_code == 200

    done = wait_for_tuning(api, "by-hand")

    trials = trials_of(api, "by-hand")
    assert [(t["training_job_status"], t["early_stopped"]) for t in trials] == [
        ("Stopped", False),
        ("Stopped", False),
    ]
    assert done["status"] == "Stopped"
    assert done["training_job_status_counters"]["stopped"] == 2
