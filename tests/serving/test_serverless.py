"""Serverless variants: one instance while requests come, none after the idle timeout, a
cold start (reported as ``ModelSetupTime``) on the next request; throttled past their max
concurrency."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

from serving_testing import assert_error, breast_cancer, deploy, fleet_of, trained_model

from shipyard.core.clock import utcnow
from shipyard.core.errors import Throttled


def test_a_serverless_variant_scales_to_zero_and_answers_the_next_request(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    serverless = {"memory_size_in_mb": 2048, "max_concurrency": 2, "idle_timeout_seconds": 30}
    endpoint = deploy(api, [{"model_name": model, "serverless_config": serverless}])
    fleet = fleet_of(api, endpoint)
    body = json.dumps(validation.drop(columns=["target"]).values[:2].tolist()).encode()
    warm = api.invoke(endpoint, body, "application/json")
    assert warm.status_code == 200, warm.text

    fleet.tend(time.monotonic() + 10)  # not idle long enough
    assert fleet.current == 1
    fleet.tend(time.monotonic() + 31)
    assert fleet.current == 0 and fleet.desired == 0
    [status] = api.get(f"/api/v1/endpoints/{endpoint}").json()["variant_status"]
    assert status["current_instance_count"] == 0

    cold = api.invoke(endpoint, body, "application/json")  # starts one, waits for it
    assert cold.status_code == 200, cold.text
    assert cold.json() == warm.json()
    assert fleet.current == 1

    context = api.client.app.state.context
    context.extras["metrics"].flush()
    query = {
        "namespace": "Shipyard/Endpoints",
        "metric_name": "ModelSetupTime",
        "dimensions": {"EndpointName": endpoint, "VariantName": "AllTraffic"},
        "start_time": (utcnow() - timedelta(hours=1)).isoformat(),
        "end_time": (utcnow() + timedelta(hours=1)).isoformat(),
        "period": 7200,
        "statistics": ["SampleCount", "Minimum"],
    }
    answer = api.post("/api/v1/metrics/statistics", json=query)
    assert answer.status_code == 200, answer.text
    [point] = answer.json()["datapoints"]
    assert point["values"]["SampleCount"] == 1 and point["values"]["Minimum"] > 0


def test_requests_past_max_concurrency_are_throttled(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    serverless = {"max_concurrency": 1}
    endpoint = deploy(api, [{"model_name": model, "serverless_config": serverless}])
    fleet = fleet_of(api, endpoint)
    body = json.dumps(validation.drop(columns=["target"]).values[:1].tolist()).encode()

    async def two_at_once() -> list[object]:
        answers = await asyncio.gather(
            fleet.call("application/json", "application/json", body),
            fleet.call("application/json", "application/json", body),
            return_exceptions=True,
        )
        api.client.app.state.context.extras["model_host"].close_connections()  # this loop's
        await asyncio.sleep(0.01)
        return answers

    first, second = asyncio.run(two_at_once())
    assert getattr(first, "status", None) == 200
    assert isinstance(second, Throttled) and "max_concurrency is 1" in second.message


def test_a_serverless_variant_has_no_instance_count(api, tmp_path) -> None:
    variant = {"model_name": "m", "initial_instance_count": 2, "serverless_config": {}}
    answer = api.post(
        "/api/v1/endpoint-configs", json={"name": "sl-bad", "production_variants": [variant]}
    )
    assert_error(answer, 400, "initial_instance_count", "serverless")
    variant = {"model_name": "m", "serverless_config": {"memory_size_in_mb": 1000}}
    answer = api.post(
        "/api/v1/endpoint-configs", json={"name": "sl-bad", "production_variants": [variant]}
    )
    assert_error(answer, 400, "memory_size_in_mb", "1024")
