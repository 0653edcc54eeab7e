"""Autoscaling: under a bounded load from a client on 127.0.0.1 a variant grows from one
instance to more, and back to one after the load stops, with the activities telling why.

The autoscaler is evaluated at chosen moments (``Autoscaler.evaluate(now)``) over the
metrics the load produced, so no step depends on how fast the machine is."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
from serving_testing import assert_error, breast_cancer, deploy, fleet_of, trained_model

from shipyard.core.clock import utcnow
from shipyard.serving.autoscaling.scaler import Autoscaler

REQUESTS = 120
WAIT_SECONDS = 60


def wait_for_count(fleet: Any, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while fleet.current != count:
        assert time.monotonic() < deadline, f"{fleet.current} instances, not {count}"
        time.sleep(0.05)


def test_a_variant_grows_under_load_and_shrinks_after(api, served, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model}])
    policy = {
        "metric": "InvocationsPerInstance",
        "target_value": 30,
        "min_capacity": 1,
        "max_capacity": 3,
        "scale_out_cooldown_seconds": 60,
        "scale_in_cooldown_seconds": 30,
        "evaluation_seconds": 60,
    }
    path = f"/api/v1/endpoints/{endpoint}/variants/AllTraffic/scaling-policy"
    put = api.client.put(path, json=policy, headers=api.headers)
    assert put.status_code == 200, put.text
    assert api.get(path).json()["max_capacity"] == 3

    body = json.dumps(validation.drop(columns=["target"]).values[:1].tolist()).encode()
    headers = {**api.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=served, headers=headers) as client:
        for _ in range(REQUESTS):
            answer = client.post(f"/api/v1/endpoints/{endpoint}/invocations", content=body)
            assert answer.status_code == 200, answer.text
    context = api.client.app.state.context
    context.extras["metrics"].flush()
    scaler = Autoscaler(context.db, context.extras["model_host"])
    fleet = fleet_of(api, endpoint)

    loaded = utcnow()
    assert scaler.evaluate(loaded) == [f"{endpoint}/AllTraffic"]
    wait_for_count(fleet, 3)  # 120 a minute on one instance, target 30: 4, at most 3
    quiet = loaded + timedelta(seconds=61)  # a window with no invocations in it
    assert scaler.evaluate(quiet) == [f"{endpoint}/AllTraffic"]
    wait_for_count(fleet, 1)
    scaler.evaluate(quiet + timedelta(seconds=1))  # sees the instances down

    activities = api.get(f"/api/v1/endpoints/{endpoint}/scaling-activities").json()["items"]
    shrink, grow = activities
    assert (grow["from_capacity"], grow["to_capacity"]) == (1, 3)
    assert grow["cause"].startswith("InvocationsPerInstance 120.0 per instance per minute is above")
    assert (shrink["from_capacity"], shrink["to_capacity"]) == (3, 1)
    assert "is below the target 30" in shrink["cause"]
    assert [a["status"] for a in activities] == ["Successful", "Successful"]
    description = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert description["variant_status"][0]["current_instance_count"] == 1


def test_bad_policies_are_refused_naming_the_field(api, tmp_path) -> None:
    train, _ = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    endpoint = deploy(api, [{"model_name": model}])
    path = f"/api/v1/endpoints/{endpoint}/variants/AllTraffic/scaling-policy"
    for change, field, needle in (
        ({"min_capacity": 3, "max_capacity": 2}, "min_capacity", "over max_capacity (2)"),
        ({"max_capacity": 33}, "max_capacity", "32"),
        ({"target_value": 0}, "target_value", "greater than 0"),
        ({"metric": "CPUUtilization"}, "metric", "InvocationsPerInstance"),
    ):
        body = {"target_value": 10, "max_capacity": 2, **change}
        assert_error(api.client.put(path, json=body, headers=api.headers), 400, field, needle)
    other = f"/api/v1/endpoints/{endpoint}/variants/nope/scaling-policy"
    body = {"target_value": 10, "max_capacity": 2}
    assert_error(api.client.put(other, json=body, headers=api.headers), 400, "variant_name")
    assert_error(api.get(path), 404, "no scaling policy")
