"""The alarms' acceptance journey on a real ``shipyard up``: an alarm on an endpoint's
``Invocation5XXErrors`` goes to ALARM after a burst of failing requests, stops the
endpoint and posts a signed webhook; after a restart of the server its actions do not run
again; and it goes back to OK once the errors stop.

The failing requests: the server runs with a ``sitecustomize`` (on ``PYTHONPATH``) that
makes every built-in model raise when a row's first feature is ``FAULT`` — a model that
fails at predict time, which the endpoint answers 500 and counts as a 5XX.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_testing import shipyard_cli
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.e2e

PERIOD = 10
FAULT = -123456.0
SITECUSTOMIZE = f"""
import os

if os.environ.get("SHIPYARD_TEST_FAULTY_PREDICT") == "1":
    from shipyard.training.algorithms import model_io

    _predict = model_io.LoadedModel.predict

    def _faulty(self, features):
        frame = model_io.as_frame(features)
        if len(frame.columns) and (frame.iloc[:, 0] == {FAULT!r}).any():
            raise RuntimeError("an injected model failure")
        return _predict(self, features)

    model_io.LoadedModel.predict = _faulty
"""


class Client:
    def __init__(self, server: Any) -> None:
        self.http = server.http()

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


def deploy(server: Any, client: Client, data: Path, name: str) -> list[dict[str, Any]]:
    """Train, register and deploy a breast-cancer classifier; some rows to send it."""
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(data, index=False)
    client.call(
        "POST",
        "/api/v1/training-jobs",
        201,
        json={
            "name": name,
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": {"num_round": 5, "max_depth": 2},
            "channels": {"train": str(data)},
        },
    )
    done = server.wait_for_status(f"/api/v1/training-jobs/{name}", ("Completed", "Failed"))
    assert done["status"] == "Completed", done["failure_reason"]
    client.call("POST", "/api/v1/models", 201, json={"name": name, "training_job_name": name})
    variants = [{"model_name": name}]
    body = {"name": name, "production_variants": variants}
    client.call("POST", "/api/v1/endpoint-configs", 201, json=body)
    body = {"name": name, "endpoint_config_name": name}
    client.call("POST", "/api/v1/endpoints", 201, json=body)
    served = server.wait_for_status(f"/api/v1/endpoints/{name}", ("InService", "Failed"))
    assert served["status"] == "InService", served["failure_reason"]
    return frame.drop(columns=["target"]).head(2).to_dict(orient="records")


def check_endpoint_logs(server: Any, name: str) -> None:
    """The endpoint's log group tells each failed invocation, with its traceback, and its
    loads and stop; ``shipyard logs filter`` finds them by pattern."""
    group = f"/shipyard/endpoints/{name}"

    def logged(pattern: str, count: int) -> list[dict[str, Any]] | None:
        found = shipyard_cli(
            "logs", "filter", group, "--pattern", pattern, "--json", env=server.env
        )
        events = [json.loads(line) for line in found.stdout.splitlines()]
        return events if len(events) >= count else None

    failures = server.wait_for(lambda: logged('"500 ModelError"', 8), "8 logged failures", 30)
    assert {e["log_stream_name"] for e in failures} == {"AllTraffic"}
    assert all("an injected model failure" in e["message"] for e in failures)
    lifecycle = server.wait_for(
        lambda: logged('?"serves, weight" ?"stopped serving here"', 2), "the endpoint's lifecycle"
    )
    assert [e["log_stream_name"] for e in lifecycle] == ["deployments", "deployments"]
    assert "variant 'AllTraffic' serves" in lifecycle[0]["message"]
    assert lifecycle[1]["message"] == "stopped serving here"


def posts_with(receiver: Any, state: str) -> list[dict[str, Any]]:
    found = []
    for request in receiver.received("/hook"):
        document = json.loads(request.body)
        if document["message"]["NewStateValue"] == state:
            found.append({"document": document, "request": request})
    return found


def test_an_error_alarm_stops_the_endpoint_and_notifies_once(
    start_live_server, webhook_receiver, monkeypatch, tmp_path
):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    monkeypatch.setenv("SHIPYARD_TEST_FAULTY_PREDICT", "1")
    monkeypatch.setenv("SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    home = tmp_path / "home"
    name = f"fraud-{uuid.uuid4().hex[:8]}"

    server = start_live_server(home, tmp_path)
    client = Client(server)
    rows = deploy(server, client, tmp_path / "train.csv", name)
    client.call("POST", "/api/v1/topics", 201, json={"name": "oncall"})
    subscription = {"protocol": "webhook", "endpoint": f"{webhook_receiver.url}/hook"}
    client.call("POST", "/api/v1/topics/oncall/subscriptions", 201, json=subscription)
    notify = {"type": "notify", "topic": "oncall"}
    alarm = {
        "namespace": "Shipyard/Endpoints",
        "metric_name": "Invocation5XXErrors",
        "dimensions": {"EndpointName": name, "VariantName": "AllTraffic"},
        "statistic": "Sum",
        "period": PERIOD,
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "threshold": 5,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
        "alarm_actions": [{"type": "serving:StopEndpoint", "endpoint_name": name}, notify],
        "ok_actions": [notify],
    }
    client.call("PUT", f"/api/v1/alarms/{name}-5xx", json=alarm)
    path = f"/api/v1/alarms/{name}-5xx"
    server.wait_for(lambda: client.call("GET", path)["state_value"] == "OK", "a first OK", 60)

    # a burst of failing requests, early in a period so that it fits in one
    while time.time() % PERIOD > PERIOD / 2:
        time.sleep(0.2)
    failing = [{**rows[0], next(iter(rows[0])): FAULT}]
    for _ in range(8):
        client.call("POST", f"/api/v1/endpoints/{name}/invocations", 500, json=failing)

    # ALARM within two periods (and the scheduler's tick)
    server.wait_for(
        lambda: client.call("GET", path)["state_value"] == "ALARM", "ALARM", 2 * PERIOD + 10
    )
    stopped = client.call("GET", f"/api/v1/endpoints/{name}")
    assert stopped["status"] == "OutOfService"
    check_endpoint_logs(server, name)

    def refused() -> bool:
        response = client.http.post(f"/api/v1/endpoints/{name}/invocations", json=rows)
        return response.status_code == 409 and "OutOfService" in response.text

    server.wait_for(refused, "invocations to be refused", 30)
    [alarm_post] = server.wait_for(lambda: posts_with(webhook_receiver, "ALARM"), "ALARM post", 60)
    request = alarm_post["request"]
    secret = (home / "webhook-secret").read_bytes()
    timestamp = request.headers["X-Shipyard-Timestamp"]
    expected = hmac.new(secret, f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Shipyard-Signature"] == f"sha256={expected.hexdigest()}"
    message = alarm_post["document"]["message"]
    assert alarm_post["document"]["subject"] == f"ALARM: {name}-5xx"
    assert message["OldStateValue"] == "OK"
    assert message["Trigger"]["metric_name"] == "Invocation5XXErrors"
    client.http.close()

    # a restart while the alarm is in ALARM: its actions do not run again
    server.stop()
    server = start_live_server(home, tmp_path, token=server.token)
    client = Client(server)
    server.wait_for(
        lambda: client.call("GET", path)["state_value"] == "OK", "OK once errors stopped", 90
    )
    server.wait_for(lambda: len(posts_with(webhook_receiver, "OK")) == 2, "the OK posts", 60)
    assert len(posts_with(webhook_receiver, "ALARM")) == 1
    history = client.call("GET", f"{path}/history?limit=100")["items"]
    updates = [h["data"]["new_state"] for h in history if h["item_type"] == "StateUpdate"]
    assert updates[::-1] == ["OK", "ALARM", "OK"]
    actions = [h["data"] for h in history if h["item_type"] == "Action"][::-1]
    assert [(a["state"], a["action"]["type"], a["outcome"]) for a in actions] == [
        ("OK", "notify", "Succeeded"),  # the first evaluation: INSUFFICIENT_DATA → OK
        ("ALARM", "serving:StopEndpoint", "Succeeded"),
        ("ALARM", "notify", "Succeeded"),
        ("OK", "notify", "Succeeded"),
    ]
    client.http.close()
