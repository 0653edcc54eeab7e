"""The engine through REST: a pipeline trains, tests a condition on the job's metric and
goes one way or the other; caching reuses the training job; stop and retry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

ENDED = ("Succeeded", "Failed", "Stopped")


@pytest.fixture
def data(settings: Any) -> dict[str, str]:
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    root = Path(settings.data_roots[0]) / "cancer"
    root.mkdir(parents=True, exist_ok=True)
    train.to_csv(root / "train.csv", index=False)
    validation.to_csv(root / "validation.csv", index=False)
    return {"train": str(root / "train.csv"), "validation": str(root / "validation.csv")}


def pipeline(data: dict[str, str], *, cache: bool = True) -> dict[str, Any]:
    train = {
        "name": "train",
        "type": "Training",
        "arguments": {
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": {"num_round": {"Parameter": "Rounds"}, "max_depth": 3},
            "channels": {"train": {"Parameter": "TrainData"}, "validation": data["validation"]},
        },
        "cache_config": {"enabled": cache, "expire_after": "P1D"},
    }
    check = {
        "name": "check",
        "type": "Condition",
        "arguments": {
            "conditions": [
                {
                    "type": "GreaterThanOrEqualTo",
                    "left": {
                        "Property": {"step": "train", "path": ["final_metrics", "validation:auc"]}
                    },
                    "right": {"Parameter": "Threshold"},
                }
            ],
            "if_steps": ["model"],
            "else_steps": ["too-weak"],
        },
    }
    model = {
        "name": "model",
        "type": "CreateModel",
        "arguments": {
            "model_name": {
                "Join": {
                    "on": "-",
                    "values": ["cancer", {"ExecutionVariable": "PipelineExecutionId"}],
                }
            },
            "training_job_name": {"Property": {"step": "train", "path": ["training_job_name"]}},
        },
    }
    fail = {
        "name": "too-weak",
        "type": "Fail",
        "arguments": {
            "error_message": {
                "Join": {
                    "on": " ",
                    "values": ["validation AUC is below", {"Parameter": "Threshold"}],
                }
            }
        },
    }
    return {
        "definition": {
            "parameters": [
                {"name": "TrainData", "type": "String", "default_value": data["train"]},
                {"name": "Threshold", "type": "Float", "default_value": 0.5},
                {"name": "Rounds", "type": "Integer", "default_value": 20},
            ],
            "steps": [train, check, model, fail],
        },
        "description": "train, check, register",
    }


def run(api: Any, name: str, **parameters: Any) -> dict[str, Any]:
    started = api.post(f"/api/v1/pipelines/{name}/executions", json={"parameters": parameters})
    assert started.status_code == 201, started.text
    path = f"/api/v1/pipelines/{name}/executions/{started.json()['id']}"
    return api.wait_for_status(path, ENDED, 180)


def steps_of(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_name"]: s for s in execution["steps"]}


def test_the_condition_picks_a_branch_and_caching_reuses_the_training_job(
    api: Any, data: dict[str, str]
) -> None:
    upserted = api.client.put("/api/v1/pipelines/cancer", json=pipeline(data), headers=api.headers)
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["latest_version"] == 1
    assert upserted.json()["dependencies"]["model"] == ["check", "train"]

    first = run(api, "cancer")
    assert first["status"] == "Succeeded", first
    steps = steps_of(first)
    assert steps["train"]["status"] == "Succeeded" and not steps["train"]["cache_hit"]
    assert steps["check"]["properties"] == {"outcome": True}
    assert steps["too-weak"]["status"] == "Skipped"
    model = api.get(f"/api/v1/models/cancer-{first['id']}")
    assert (
        model.status_code == 200
        and model.json()["training_job_name"] == steps["train"]["resource_name"]
    )

    jobs_before = api.get("/api/v1/training-jobs").json()["items"]
    strict = run(api, "cancer", Threshold=0.9999)
    assert strict["status"] == "Failed"
    assert strict["failure_reason"] == "Fail step 'too-weak' failed: validation AUC is below 0.9999"
    strict_steps = steps_of(strict)
    assert (
        strict_steps["train"]["cache_hit"]
        and strict_steps["train"]["cached_from_execution"] == first["id"]
    )
    assert strict_steps["train"]["resource_name"] == steps["train"]["resource_name"]
    assert strict_steps["model"]["status"] == "Skipped"
    assert api.get("/api/v1/training-jobs").json()["items"] == jobs_before  # no new job

    changed = run(api, "cancer", Rounds=10)  # a parameter the training step reads
    assert not steps_of(changed)["train"]["cache_hit"]
    assert len(api.get("/api/v1/training-jobs").json()["items"]) == len(jobs_before) + 1


def test_upserting_the_same_definition_keeps_the_version(api: Any, data: dict[str, str]) -> None:
    body = pipeline(data)
    for _ in range(2):
        response = api.client.put("/api/v1/pipelines/same", json=body, headers=api.headers)
        assert response.json()["latest_version"] == 1
    body["definition"]["parameters"][1]["default_value"] = 0.7
    response = api.client.put("/api/v1/pipelines/same", json=body, headers=api.headers)
    assert response.json()["latest_version"] == 2
    first = api.get("/api/v1/pipelines/same/versions/1").json()
    assert first["definition"]["parameters"][1]["default_value"] == 0.5


def test_a_failed_step_fails_the_execution_and_retry_runs_it_again(
    api: Any, data: dict[str, str], tmp_path: Path
) -> None:
    body = pipeline(data, cache=False)
    api.client.put("/api/v1/pipelines/broken", json=body, headers=api.headers)
    missing = str(Path(data["train"]).with_name("later.csv"))
    failed = run(api, "broken", TrainData=missing)
    assert failed["status"] == "Failed"
    train = steps_of(failed)["train"]
    assert train["status"] == "Failed" and "does not exist" in train["failure_reason"]
    assert failed["failure_reason"].startswith(
        "Step 'train' failed: ValidationError: channels.train"
    )
    assert {s["status"] for s in failed["steps"][1:]} == {"Skipped"}

    Path(missing).write_bytes(Path(data["train"]).read_bytes())  # the data arrived
    retried = api.post(f"/api/v1/pipelines/broken/executions/{failed['id']}/retry")
    assert retried.status_code == 200, retried.text
    done = api.wait_for_status(f"/api/v1/pipelines/broken/executions/{failed['id']}", ENDED, 180)
    assert done["status"] == "Succeeded", done


def wait_for_step(
    api: Any, path: str, step: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = api.get(path).json()
        if steps_of(execution)[step]["status"] == status:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"step {step} never became {status}: {execution}")


def test_stop_ends_the_execution_stopped(api: Any, data: dict[str, str]) -> None:
    upload = api.post(
        "/api/v1/uploads", files={"file": ("sleep.py", b"import time\ntime.sleep(600)\n")}
    )
    body = pipeline(data, cache=False)
    body["definition"]["steps"][0]["arguments"] = {
        "entry_point": "sleep.py",
        "source_uri": upload.json()["uri"],
        "channels": {"train": data["train"]},
    }
    api.client.put("/api/v1/pipelines/long", json=body, headers=api.headers)
    started = api.post("/api/v1/pipelines/long/executions", json={}).json()
    path = f"/api/v1/pipelines/long/executions/{started['id']}"
    executing = wait_for_step(api, path, "train", "Executing")
    job = steps_of(executing)["train"]["resource_name"]
    assert api.post(f"{path}/stop").json()["status"] == "Stopping"
    stopped = api.wait_for_status(path, ENDED, 60)
    assert stopped["status"] == "Stopped" and stopped["failure_reason"] == "Stopped by user"
    assert steps_of(stopped)["train"]["status"] == "Stopped"
    assert {s["status"] for s in stopped["steps"][1:]} == {"Skipped"}
    assert api.get(f"/api/v1/training-jobs/{job}").json()["status"] == "Stopped"
    again = api.post(f"{path}/stop")
    assert again.status_code == 409 and "only a running one" in again.json()["error"]["message"]


def test_a_tuning_step_feeds_a_model_and_a_batch_transform(api: Any, data: dict[str, str]) -> None:
    tune = {
        "name": "tune",
        "type": "Tuning",
        "arguments": {
            "hyperparameter_tuning_job_config": {
                "strategy": "Random",
                "objective": {"metric_name": "validation:auc", "type": "Maximize"},
                "resource_limits": {
                    "max_number_of_training_jobs": 2,
                    "max_parallel_training_jobs": 2,
                },
                "parameter_ranges": {
                    "integer_parameter_ranges": [
                        {"name": "max_depth", "min_value": 2, "max_value": 4}
                    ]
                },
            },
            "training_job_definition": {
                "algorithm": "xgboost",
                "target": "target",
                "static_hyperparameters": {"num_round": 10},
                "channels": {"train": data["train"], "validation": data["validation"]},
            },
        },
    }
    model = {
        "name": "best",
        "type": "CreateModel",
        "arguments": {
            "training_job_name": {"Property": {"step": "tune", "path": ["best_training_job_name"]}}
        },
    }
    transform = {
        "name": "score",
        "type": "Transform",
        "arguments": {
            "model_name": {"Property": {"step": "best", "path": ["model_name"]}},
            "transform_input": {"data_source": data["validation"], "content_type": "text/csv"},
        },
    }
    body = {"definition": {"steps": [tune, model, transform]}}
    assert (
        api.client.put("/api/v1/pipelines/tuned", json=body, headers=api.headers).status_code == 200
    )
    done = run(api, "tuned")
    assert done["status"] == "Succeeded", done
    steps = steps_of(done)
    best = steps["tune"]["properties"]["best_training_job_name"]
    assert best.startswith(steps["tune"]["resource_name"])
    assert steps["tune"]["properties"]["best_model_artifacts"].endswith(f"{best}/model")
    output = steps["score"]["properties"]["output_uri"]
    job = api.get(f"/api/v1/transform-jobs/{steps['score']['resource_name']}").json()
    assert job["status"] == "Completed" and job["transform_output"]["output_uri"] == output
