"""Safe rollouts through REST and a real model host: a canary to a model that fails trips
the 5XX alarm and rolls back on its own while a client on 127.0.0.1 gets every answer
from the old fleet; a canary to a good model takes its share, bakes, and the old fleet
stops; a rollback by request, and a new fleet that cannot start, leave the old one
serving. The rollout is advanced, and the alarm evaluated, at chosen moments."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from serving_testing import (
    WAIT_SECONDS,
    assert_error,
    breast_cancer,
    deploy,
    faulty_model,
    trained_model,
    unique,
)

from shipyard.core.artifacts import key_from_uri, uri_for
from shipyard.core.clock import utcnow
from shipyard.monitoring.alarms import service as alarms

VARIANT_HEADER = "X-Shipyard-Variant"
PERIOD = 10


class Load:
    """Requests to one endpoint from a thread, one after the other, until stopped: every
    status and body, in order."""

    def __init__(self, base_url: str, api: Any, endpoint: str, body: bytes) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        headers = {**api.headers, "Content-Type": "application/json"}
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=60)
        self._path = f"/api/v1/endpoints/{endpoint}/invocations"
        self._body = body
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(WAIT_SECONDS)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = self._client.post(self._path, content=self._body)
            self.answers.append((answer.status_code, answer.content))

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.answers) < count:
            assert time.monotonic() < deadline, f"{len(self.answers)} answers, not {count}"
            time.sleep(0.01)


def new_config(api: Any, variants: list[dict[str, Any]]) -> str:
    config = unique("config")
    body = {"name": config, "production_variants": variants}
    assert api.post("/api/v1/endpoint-configs", json=body).status_code == 201
    return config


def update(api: Any, endpoint: str, config: str, deployment_config: dict | None) -> Any:
    body = {"endpoint_config_name": config, "deployment_config": deployment_config}
    return api.client.put(f"/api/v1/endpoints/{endpoint}", json=body, headers=api.headers)


def canary(percent: int, wait: int, termination: int = 0, alarms: list[str] = ()) -> dict:
    config: dict[str, Any] = {
        "blue_green_update_policy": {
            "traffic_routing_configuration": {
                "type": "CANARY",
                "canary_size": {"type": "CAPACITY_PERCENT", "value": percent},
                "wait_interval_in_seconds": wait,
            },
            "termination_wait_in_seconds": termination,
        }
    }
    if alarms:
        config["auto_rollback_configuration"] = {"alarms": [{"alarm_name": a} for a in alarms]}
    return config


def latest_rollout(api: Any, endpoint: str) -> dict[str, Any]:
    return api.get(f"/api/v1/endpoints/{endpoint}/rollouts").json()["items"][0]


def wait_for_rollout(api: Any, endpoint: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while (rollout := latest_rollout(api, endpoint))["status"] != status:
        assert time.monotonic() < deadline, rollout
        time.sleep(0.05)
    return rollout


def host_of(api: Any) -> Any:
    return api.client.app.state.context.extras["model_host"]


def rows_of(validation: Any, count: int = 1) -> bytes:
    return json.dumps(validation.drop(columns=["target"]).values[:count].tolist()).encode()


def put_error_alarm(api: Any, endpoint: str) -> str:
    name = f"{endpoint}-5xx"
    alarm = {
        "namespace": "Shipyard/Endpoints",
        "metric_name": "Invocation5XXErrors",
        "dimensions": {"EndpointName": endpoint, "VariantName": "AllTraffic"},
        "statistic": "Sum",
        "period": PERIOD,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 1,
        "threshold": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
    }
    put = api.client.put(f"/api/v1/alarms/{name}", json=alarm, headers=api.headers)
    assert put.status_code == 200, put.text
    return name


def test_a_rollout_to_a_failing_model_rolls_back_and_no_request_fails(
    api, served, tmp_path
) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model}])
    blue = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]
    body = rows_of(validation)
    expected = api.invoke(endpoint, body, "application/json").content
    green = new_config(api, [{"model_name": faulty_model(api, train, model)}])
    alarm = put_error_alarm(api, endpoint)

    updated = update(api, endpoint, green, canary(25, wait=600, termination=60, alarms=[alarm]))
    assert updated.status_code == 200, updated.text
    assert updated.json()["status"] == "Updating"
    rollout = wait_for_rollout(api, endpoint, "Shifting")
    assert (rollout["traffic_percent"], rollout["steps"]) == (25.0, [25.0, 100.0])
    configs = {
        s["endpoint_config_name"]
        for s in api.get(f"/api/v1/endpoints/{endpoint}").json()["variant_status"]
    }
    assert configs == {blue, green}

    context = api.client.app.state.context
    with Load(served, api, endpoint, body) as load:
        load.wait_for(200)  # a quarter of them failed on the new fleet, and were answered
        context.extras["metrics"].flush()
        evaluated = utcnow() + timedelta(seconds=PERIOD)
        alarms.evaluate_all(context.db, context.settings, context.store, evaluated)
        state = api.get(f"/api/v1/alarms/{alarm}").json()
        assert state["state_value"] == "ALARM", state["state_reason"]
        host_of(api).advance_rollouts(evaluated)
        load.wait_for(len(load.answers) + 50)  # and after the rollback
    assert {status for status, _ in load.answers} == {200}
    assert {answer for _, answer in load.answers} == {expected}

    rollout = latest_rollout(api, endpoint)
    assert rollout["status"] == "RolledBack"
    assert rollout["reason"].startswith(f"alarm '{alarm}' is in ALARM: Threshold Crossed")
    described = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert (described["status"], described["endpoint_config_name"]) == ("InService", blue)
    assert described["failure_reason"].startswith(f"the update to '{green}' was rolled back")
    assert described["rollout"]["rollout_id"] == rollout["rollout_id"]
    assert {s["endpoint_config_name"] for s in described["variant_status"]} == {blue}
    served_now = host_of(api).deployment(endpoint)
    assert served_now.rollout is None and served_now.config_name == blue


def test_a_canary_takes_its_share_bakes_and_the_old_fleet_stops(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"variant_name": "Blue", "model_name": model}])
    blue = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]
    green = new_config(
        api, [{"variant_name": "Green", "model_name": model, "initial_instance_count": 2}]
    )
    assert update(api, endpoint, green, canary(25, wait=300, termination=120)).status_code == 200
    wait_for_rollout(api, endpoint, "Shifting")
    started = utcnow()
    host = host_of(api)
    old_fleet = host.deployment(endpoint).variants[0].fleet

    body = rows_of(validation)
    answered = Counter()
    for _ in range(800):
        response = api.invoke(endpoint, body, "application/json")
        assert response.status_code == 200, response.text
        answered[response.headers[VARIANT_HEADER]] += 1
    assert abs(answered["Green"] / 800 - 0.25) <= 0.07, answered

    host.advance_rollouts(started + timedelta(seconds=300))
    assert latest_rollout(api, endpoint)["status"] == "Baking"
    answers = {
        api.invoke(endpoint, body, "application/json").headers[VARIANT_HEADER] for _ in range(20)
    }
    assert answers == {"Green"}
    host.advance_rollouts(started + timedelta(seconds=600))  # baked; the old fleet waits
    assert old_fleet.current == 1
    host.advance_rollouts(started + timedelta(seconds=720))
    rollout = latest_rollout(api, endpoint)
    assert rollout["status"] == "Completed", rollout
    assert old_fleet.current == 0
    described = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert (described["status"], described["endpoint_config_name"]) == ("InService", green)
    assert described["failure_reason"] is None
    assert [s["variant_name"] for s in described["variant_status"]] == ["Green"]
    messages = [event["message"] for event in rollout["events"]]
    assert messages[2:] == [
        "25% of the traffic goes to the new fleet, held 300 s",
        "100% of the traffic goes to the new fleet, held 300 s",
        f"baked: the old fleet '{blue}' stops in 120 s",
        f"completed: '{green}' serves alone",
    ]


def tampered_model(api: Any, model: str) -> str:
    """A copy of ``model`` whose files changed after it was made: it cannot load."""
    store = api.client.app.state.context.store
    source = key_from_uri(api.get(f"/api/v1/models/{model}").json()["model_data_uri"])
    tampered = unique("tampered")
    with tempfile.TemporaryDirectory() as scratch:
        store.get_directory(source, Path(scratch))
        store.put_directory(f"models/{tampered}", Path(scratch))
    body = {"name": tampered, "model_data_uri": uri_for(f"models/{tampered}")}
    assert api.post("/api/v1/models", json=body).status_code == 201
    store.put_bytes(f"models/{tampered}/planted.txt", b"not what was hashed")
    return tampered


def test_a_rollback_by_request_and_a_fleet_that_cannot_start(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    endpoint = deploy(api, [{"model_name": model}])
    blue = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]
    green = new_config(api, [{"model_name": model}])
    assert update(api, endpoint, green, canary(10, wait=600)).status_code == 200
    wait_for_rollout(api, endpoint, "Shifting")
    assert_error(update(api, endpoint, blue, None), 409, "being updated", green)

    rolled = api.post(f"/api/v1/endpoints/{endpoint}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["status"], rolled.json()["endpoint_config_name"]) == ("InService", blue)
    assert latest_rollout(api, endpoint)["reason"] == "rolled back by request"
    host = host_of(api)
    deadline = time.monotonic() + WAIT_SECONDS
    while host.deployment(endpoint).rollout is not None:
        assert time.monotonic() < deadline, "the new fleet still serves"
        time.sleep(0.05)

    failing = new_config(api, [{"model_name": tampered_model(api, model)}])
    assert update(api, endpoint, failing, None).status_code == 200
    rollout = wait_for_rollout(api, endpoint, "Failed")
    assert "ModelIntegrityError" in rollout["reason"]
    described = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert (described["status"], described["endpoint_config_name"]) == ("InService", blue)
    assert described["failure_reason"].startswith(f"the update to '{failing}' failed")
    assert api.invoke(endpoint, rows_of(validation), "application/json").status_code == 200


def test_bad_updates_are_refused_naming_the_field(api, tmp_path) -> None:
    train, _ = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    endpoint = deploy(api, [{"model_name": model}])
    green = new_config(api, [{"model_name": model}])
    routing = "traffic_routing_configuration"
    assert_error(update(api, endpoint, "nope", None), 400, "endpoint_config_name", "nope")
    assert_error(update(api, endpoint, green, canary(80, wait=60)), 400, "canary_size", "50%")
    assert_error(
        update(api, endpoint, green, canary(10, wait=60, alarms=["nope"])),
        400,
        "alarm_name",
        "no alarm 'nope'",
    )
    linear = {"blue_green_update_policy": {routing: {"type": "LINEAR"}}}
    assert_error(update(api, endpoint, green, linear), 400, "linear_step_size")
    too_long = canary(10, wait=3601)
    assert_error(update(api, endpoint, green, too_long), 400, "wait_interval_in_seconds")
    assert_error(update(api, unique("none"), green, None), 404, "not found")
    assert api.get(f"/api/v1/endpoints/{endpoint}/rollouts").json()["items"] == []
