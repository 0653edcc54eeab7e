"""Shadow variants through REST: a shadow at 100% gets a copy of every request after its
answer went out, never changing it; the shadow report counts the copies and is exact on
a shadow that disagrees on a known share of inputs (known from that model's own answers
on another endpoint); a shadow that fails is counted, not felt; promoting the shadow
makes it the production variant. Bad input is a 4xx naming the field.

The shadows' worker is drained and its tallies flushed by the test (in-process), so
nothing waits on a clock. Whether production latency stays the same is measured by a
benchmark, not here."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from console_testing import log_in
from serving_testing import WAIT_SECONDS, assert_error, breast_cancer, unique

VARIANT_HEADER = "X-Shipyard-Variant"
SCHED_OTHER, SCHED_IDLE = os.SCHED_OTHER, os.SCHED_IDLE


def train(api: Any, data: Path, hyperparameters: dict[str, Any]) -> str:
    job = unique("shadow-job")
    body = {
        "name": job,
        "algorithm": "xgboost",
        "target": "target",
        "hyperparameters": hyperparameters,
        "channels": {"train": str(data)},
    }
    assert api.post("/api/v1/training-jobs", json=body).status_code == 201
    assert api.wait_for_job(job)["status"] == "Completed"
    model = unique("shadow-model")
    assert (
        api.post("/api/v1/models", json={"name": model, "training_job_name": job}).status_code
        == 201
    )
    return model


def deploy(api: Any, production: str, shadow: str | None = None) -> str:
    config: dict[str, Any] = {
        "name": unique("config"),
        "production_variants": [{"variant_name": "champion", "model_name": production}],
    }
    if shadow is not None:
        config["shadow_production_variants"] = [
            {"variant_name": "challenger", "model_name": shadow, "sampling_percentage": 100}
        ]
    response = api.post("/api/v1/endpoint-configs", json=config)
    assert response.status_code == 201, response.text
    endpoint = unique("endpoint")
    body = {"name": endpoint, "endpoint_config_name": config["name"]}
    assert api.post("/api/v1/endpoints", json=body).status_code == 201
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"
    return endpoint


def answers(api: Any, endpoint: str, rows: list[list[float]]) -> list[tuple[str, Any]]:
    """(variant, prediction) of each row, one request a row."""
    found = []
    for row in rows:
        response = api.client.post(
            f"/api/v1/endpoints/{endpoint}/invocations",
            content=json.dumps([row]),
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        found.append((response.headers[VARIANT_HEADER], response.json()["predictions"][0]))
    return found


def report(api: Any, endpoint: str) -> dict[str, Any]:
    shadows = api.client.app.state.context.extras["shadows"]
    shadows.drain()
    shadows.flush()
    response = api.get(f"/api/v1/endpoints/{endpoint}/shadow-report")
    assert response.status_code == 200, response.text
    (only,) = response.json()["shadows"]
    return only


def policies(api: Any, endpoint: str) -> dict[str, set[int]]:
    """The scheduling policies of each variant's and shadow's instance processes."""
    deployment = api.client.app.state.context.extras["model_host"].deployment(endpoint)
    served = [*deployment.variants, *deployment.shadows]
    return {
        one.name: {os.sched_getscheduler(instance.pid) for instance in one.fleet.instances}
        for one in served
    }


@pytest.fixture
def models(api, tmp_path) -> tuple[str, str, list[list[float]], Path]:
    data, validation = breast_cancer(tmp_path / "data")
    strong = train(api, data, {"num_round": 30, "max_depth": 3})
    weak = train(api, data, {"num_round": 1, "max_depth": 1})
    return strong, weak, validation.drop(columns=["target"]).values.tolist(), data


def test_a_shadow_is_compared_on_every_request_then_promoted(api, models, monkeypatch) -> None:
    strong, weak, rows, _ = models
    weak_alone = [p for _, p in answers(api, deploy(api, weak), rows)]
    strong_alone = [p for _, p in answers(api, deploy(api, strong), rows)]
    disagreements = sum(a != b for a, b in zip(strong_alone, weak_alone, strict=True))
    assert 0 < disagreements < len(rows)  # a known share, neither none nor all

    endpoint = deploy(api, strong, shadow=weak)
    described = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert [s["variant_name"] for s in described["shadow_production_variants"]] == ["challenger"]
    shadowed = answers(api, endpoint, rows)
    assert shadowed == [("champion", p) for p in strong_alone]  # production answers unchanged
    # the shadow predicts only on CPU time production leaves: it cannot slow production down
    assert policies(api, endpoint) == {"champion": {SCHED_OTHER}, "challenger": {SCHED_IDLE}}

    found = report(api, endpoint)
    assert found["shadow_variant"] == "challenger"
    assert found["production_variants"] == ["champion"]
    assert (found["requests"], found["rows_compared"], found["shadow_errors"]) == (
        len(rows),
        len(rows),
        0,
    )
    assert found["agreement_rate"] == pytest.approx(1 - disagreements / len(rows))
    assert found["mean_absolute_difference"] == pytest.approx(disagreements / len(rows))
    for side in ("production_latency_ms", "shadow_latency_ms"):
        latency = found[side]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"], latency

    log_in(api.client, api.token)
    page = api.client.get(f"/console/endpoints/{endpoint}")
    assert page.status_code == 200
    agreement = f"{(1 - disagreements / len(rows)) * 100:.1f}%"
    assert 'id="shadow-challenger"' in page.text and agreement in page.text

    shadows = api.client.app.state.context.extras["shadows"]
    drained: list[bool] = []
    real_drain = shadows.drain

    def drain_counted(timeout: float = 60.0) -> None:
        drained.append(True)
        real_drain(timeout)

    monkeypatch.setattr(shadows, "drain", drain_counted)
    promoted = api.post(
        f"/api/v1/endpoints/{endpoint}/promote-shadow",
        json={"variant_name": "challenger", "endpoint_config_name": unique("promoted")},
    )
    assert promoted.status_code == 200, promoted.text
    assert [v["variant_name"] for v in promoted.json()["production_variants"]] == ["challenger"]
    assert promoted.json()["shadow_production_variants"] == []
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"
    # the old config's shadow hands its tallies over before it stops (once the new config
    # serves: just after the endpoint is InService)
    deadline = time.monotonic() + WAIT_SECONDS
    while not drained:
        assert time.monotonic() < deadline, "the old config's shadow was never drained"
        time.sleep(0.02)
    assert answers(api, endpoint, rows[:20]) == [("challenger", p) for p in weak_alone[:20]]
    assert policies(api, endpoint) == {"challenger": {SCHED_OTHER}}  # production's priority


def test_a_failing_shadow_is_counted_never_felt(api, models, tmp_path) -> None:
    strong, _, rows, data = models
    frame = pd.read_csv(data)
    narrow_data = tmp_path / "narrow.csv"
    frame.drop(columns=[frame.columns[0]]).to_csv(narrow_data, index=False)
    narrow = train(api, narrow_data, {"num_round": 2, "max_depth": 1})  # one feature fewer
    endpoint = deploy(api, strong, shadow=narrow)
    assert all(variant == "champion" for variant, _ in answers(api, endpoint, rows[:10]))
    found = report(api, endpoint)
    assert (found["requests"], found["shadow_errors"], found["rows_compared"]) == (10, 10, 0)
    assert found["agreement_rate"] is None
    # the shadow's own metrics, from its instance's tallies
    assert shadow_metric(api, endpoint, "Invocations", "Sum") == 10
    assert shadow_metric(api, endpoint, "Invocation5XXErrors", "Sum") == 10
    assert shadow_metric(api, endpoint, "ModelLatency", "SampleCount") == 10


def shadow_metric(api: Any, endpoint: str, name: str, statistic: str) -> float:
    api.client.app.state.context.extras["metrics"].flush()
    now = datetime.now(UTC)
    query = {
        "namespace": "Shipyard/Endpoints",
        "metric_name": name,
        "dimensions": {"EndpointName": endpoint, "VariantName": "challenger"},
        "start_time": (now - timedelta(hours=1)).isoformat(),
        "end_time": (now + timedelta(hours=1)).isoformat(),
        "period": 7200,
        "statistics": [statistic],
    }
    answer = api.post("/api/v1/metrics/statistics", json=query)
    assert answer.status_code == 200, answer.text
    [point] = answer.json()["datapoints"]
    return float(point["values"][statistic])


def test_bad_shadow_requests_name_the_field(api, models) -> None:
    strong, weak, _, _ = models
    same_name = api.post(
        "/api/v1/endpoint-configs",
        json={
            "name": unique("config"),
            "production_variants": [{"variant_name": "champion", "model_name": strong}],
            "shadow_production_variants": [{"variant_name": "champion", "model_name": weak}],
        },
    )
    assert_error(same_name, 400, "shadow_production_variants.0.variant_name", "champion")
    zero = api.post(
        "/api/v1/endpoint-configs",
        json={
            "name": unique("config"),
            "production_variants": [{"model_name": strong}],
            "shadow_production_variants": [
                {"variant_name": "s", "model_name": weak, "sampling_percentage": 0}
            ],
        },
    )
    assert_error(zero, 400, "sampling_percentage")
    endpoint = deploy(api, strong)
    unknown = api.post(
        f"/api/v1/endpoints/{endpoint}/promote-shadow",
        json={"variant_name": "challenger", "endpoint_config_name": unique("c")},
    )
    assert_error(unknown, 400, "variant_name", "no shadow variant 'challenger'")
    backwards = api.get(
        f"/api/v1/endpoints/{endpoint}/shadow-report",
        params={"start_time": "2026-12-02T10:00:00Z", "end_time": "2026-12-02T09:00:00Z"},
    )
    assert_error(backwards, 400, "end_time")
    assert_error(api.get("/api/v1/endpoints/no-such-endpoint/shadow-report"), 404, "no-such")
