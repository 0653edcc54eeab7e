"""A safe rollout on a real ``shipyard up``, moved along by its own duties: a canary to a
model that fails every request trips the 5XX alarm (the alarms duty), the rollouts duty
rolls the update back, and a client that kept sending requests throughout got every one
answered by the old fleet.

The failing model: the server runs with a ``sitecustomize`` (on ``PYTHONPATH``) that makes
a built-in model raise at predict time when it was trained with ``num_round`` 3 — the
green config's model — a model that loads and fails on every input, as one with a bug."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.e2e

PERIOD = 10
FAULTY_NUM_ROUND = 3
SITECUSTOMIZE = f"""
import os

if os.environ.get("SHIPYARD_TEST_FAULTY_NUM_ROUND") == "{FAULTY_NUM_ROUND}":
    from shipyard.training.algorithms import model_io

    _predict = model_io.LoadedModel.predict

    def _faulty(self, features):
        if self.manifest.hyperparameters.get("num_round") == {FAULTY_NUM_ROUND}:
            raise RuntimeError("an injected model failure")
        return _predict(self, features)

    model_io.LoadedModel.predict = _faulty
"""


def call(http: Any, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response = http.request(method, path, **kwargs)
    assert response.status_code == expect, response.text
    return response.json() if response.content else None


def trained_model(server: Any, http: Any, data: Path, num_round: int) -> str:
    name = f"rollout-{num_round}-{uuid.uuid4().hex[:6]}"
    job = {
        "name": name,
        "algorithm": "xgboost",
        "target": "target",
        "hyperparameters": {"num_round": num_round, "max_depth": 2},
        "channels": {"train": str(data)},
    }
    call(http, "POST", "/api/v1/training-jobs", 201, json=job)
    done = server.wait_for_status(f"/api/v1/training-jobs/{name}", ("Completed", "Failed"))
    assert done["status"] == "Completed", done["failure_reason"]
    call(http, "POST", "/api/v1/models", 201, json={"name": name, "training_job_name": name})
    return name


def config_of(http: Any, model: str) -> str:
    body = {"name": model, "production_variants": [{"model_name": model}]}
    call(http, "POST", "/api/v1/endpoint-configs", 201, json=body)
    return model


def test_a_canary_that_fails_is_rolled_back_by_the_duties(
    start_live_server, monkeypatch, tmp_path
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    monkeypatch.setenv("SHIPYARD_TEST_FAULTY_NUM_ROUND", str(FAULTY_NUM_ROUND))
    server = start_live_server(tmp_path / "home", tmp_path)
    frame = load_breast_cancer(as_frame=True).frame
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)
    rows = frame.drop(columns=["target"]).head(1).values.tolist()

    with server.http() as http:
        blue = config_of(http, trained_model(server, http, data, 5))
        green = config_of(http, trained_model(server, http, data, FAULTY_NUM_ROUND))
        endpoint = f"checkout-{uuid.uuid4().hex[:6]}"
        call(
            http,
            "POST",
            "/api/v1/endpoints",
            201,
            json={"name": endpoint, "endpoint_config_name": blue},
        )
        served = server.wait_for_status(f"/api/v1/endpoints/{endpoint}", ("InService", "Failed"))
        assert served["status"] == "InService", served["failure_reason"]
        expected = call(http, "POST", f"/api/v1/endpoints/{endpoint}/invocations", json=rows)
        alarm = {
            "namespace": "Shipyard/Endpoints",
            "metric_name": "Invocation5XXErrors",
            "dimensions": {"EndpointName": endpoint, "VariantName": "AllTraffic"},
            "statistic": "Sum",
            "period": PERIOD,
            "evaluation_periods": 1,
            "datapoints_to_alarm": 1,
            "threshold": 1,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "treat_missing_data": "notBreaching",
        }
        call(http, "PUT", f"/api/v1/alarms/{endpoint}-5xx", json=alarm)
        answers: list[tuple[int, Any]] = []
        stop = threading.Event()

        def keep_sending() -> None:
            with server.http() as client:
                while not stop.is_set():
                    answer = client.post(f"/api/v1/endpoints/{endpoint}/invocations", json=rows)
                    answers.append((answer.status_code, answer.json()))
                    time.sleep(0.01)

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        try:
            update = {
                "endpoint_config_name": green,
                "deployment_config": {
                    "blue_green_update_policy": {
                        "traffic_routing_configuration": {
                            "type": "CANARY",
                            "canary_size": {"value": 50},
                            "wait_interval_in_seconds": 900,
                        }
                    },
                    "auto_rollback_configuration": {"alarms": [{"alarm_name": f"{endpoint}-5xx"}]},
                },
            }
            call(http, "PUT", f"/api/v1/endpoints/{endpoint}", json=update)

            def rolled_back() -> dict[str, Any] | None:
                rollout = call(http, "GET", f"/api/v1/endpoints/{endpoint}")["rollout"]
                return rollout if rollout["status"] not in ("Deploying", "Shifting") else None

            rollout = server.wait_for(rolled_back, "the rollout to end", 6 * PERIOD + 60)
            count = len(answers)
            server.wait_for(lambda: len(answers) >= count + 20 or None, "answers after it", 30)
        finally:
            stop.set()
            sender.join(30)
        assert rollout["status"] == "RolledBack", rollout
        assert rollout["reason"].startswith(f"alarm '{endpoint}-5xx' is in ALARM")
        assert {status for status, _ in answers} == {200}
        assert all(answer == expected for _, answer in answers)
        described = call(http, "GET", f"/api/v1/endpoints/{endpoint}")
        assert (described["status"], described["endpoint_config_name"]) == ("InService", blue)
        assert [s["endpoint_config_name"] for s in described["variant_status"]] == [blue]
