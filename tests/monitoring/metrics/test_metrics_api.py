"""The metrics store through REST, and the platform's own metrics: endpoints, pipelines.

To make an endpoint answer 5XX: serve ``serving_testing.broken_model``, a model whose every
prediction raises inside its library; such an invocation is a JSON 500 ``ModelError`` and
counts in ``Invocation5XXErrors``.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serving_testing import broken_model
from sklearn.datasets import load_breast_cancer

from shipyard.core.clock import utcnow
from shipyard.monitoring.metrics.buffer import MetricBuffer

WEEK = 7 * 86_400


def buffer_of(api: Any) -> MetricBuffer:
    return api.client.app.state.context.extras["metrics"]


def assert_error(response: Any, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    message = response.json()["error"]["message"]
    for needle in needles:
        assert needle in message, message


def stats(
    api: Any, namespace: str, name: str, dimensions: dict[str, str], *statistics: str
) -> list:
    now = utcnow()
    response = api.post(
        "/api/v1/metrics/statistics",
        json={
            "namespace": namespace,
            "metric_name": name,
            "dimensions": dimensions,
            "start_time": (now - timedelta(hours=1)).isoformat(),
            "end_time": (now + timedelta(minutes=1)).isoformat(),
            "period": WEEK,  # one period for all a test puts (bar a week's boundary)
            "statistics": list(statistics),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["datapoints"]


def test_put_query_and_list_through_rest(api: Any) -> None:
    now = utcnow()
    body = {
        "namespace": "App/Orders",
        "metric_data": [
            {
                "metric_name": "Placed",
                "dimensions": {"Shop": "north"},
                "value": float(v),
                "unit": "Count",
            }
            for v in range(1, 11)
        ],
    }
    response = api.post("/api/v1/metrics", json=body)
    assert response.status_code == 200 and response.json() == {"stored": 10}, response.text
    [point] = stats(api, "App/Orders", "Placed", {"Shop": "north"}, "Sum", "p50", "SampleCount")
    assert point["values"] == {"Sum": 55.0, "p50": 5.0, "SampleCount": 10.0}
    listed = api.get("/api/v1/metrics", params={"namespace": "App/Orders"}).json()["items"]
    assert listed == [
        {"namespace": "App/Orders", "metric_name": "Placed", "dimensions": {"Shop": "north"}}
    ]
    assert api.get("/api/v1/metrics", params={"dimension": "Shop=south"}).json()["items"] == []
    data = api.post(
        "/api/v1/metrics/data",
        json={
            "start_time": (now - timedelta(minutes=5)).isoformat(),
            "end_time": (now + timedelta(minutes=5)).isoformat(),
            "metric_data_queries": [
                {
                    "id": "placed",
                    "metric_stat": {
                        "metric": {
                            "namespace": "App/Orders",
                            "metric_name": "Placed",
                            "dimensions": {"Shop": "north"},
                        },
                        "period": 600,
                        "stat": "Maximum",
                    },
                }
            ],
        },
    )
    assert data.status_code == 200, data.text
    [result] = data.json()["metric_data_results"]
    assert result["id"] == "placed" and result["values"] == [10.0]


def test_bad_input_is_a_400_naming_the_field(api: Any) -> None:
    now = utcnow()
    datum = {"metric_name": "m", "value": 1}
    cases = [
        ({"namespace": "Shipyard/Mine", "metric_data": [datum]}, "namespace"),
        ({"namespace": "bad space", "metric_data": [datum]}, "namespace"),
        ({"namespace": "App", "metric_data": [datum] * 1001}, "metric_data"),
        ({"namespace": "App", "metric_data": [{**datum, "unit": "Parsecs"}]}, "unit"),
        (
            {"namespace": "App", "metric_data": [{**datum, "storage_resolution": 5}]},
            "storage_resolution",
        ),
        ({"namespace": "App", "metric_data": [{"metric_name": "m"}]}, "metric_data"),
        (
            {
                "namespace": "App",
                "metric_data": [{**datum, "dimensions": {f"d{i}": "v" for i in range(31)}}],
            },
            "dimensions",
        ),
        (
            {
                "namespace": "App",
                "metric_data": [{**datum, "timestamp": (now - timedelta(days=15)).isoformat()}],
            },
            "metric_data[0].timestamp",
        ),
        (
            {
                "namespace": "App",
                "metric_data": [{**datum, "timestamp": (now + timedelta(hours=3)).isoformat()}],
            },
            "metric_data[0].timestamp",
        ),
    ]
    for body, field in cases:
        assert_error(api.post("/api/v1/metrics", json=body), 400, field)
    query = {
        "namespace": "App",
        "metric_name": "m",
        "start_time": (now - timedelta(hours=1)).isoformat(),
        "end_time": now.isoformat(),
        "period": 60,
        "statistics": ["Average"],
    }
    for change, field in (
        ({"period": 7}, "period"),
        ({"period": 95}, "period"),
        ({"statistics": ["Median"]}, "statistics"),
        ({"statistics": ["p100.5"]}, "statistics"),
        ({"end_time": (now - timedelta(hours=2)).isoformat()}, "end_time"),
        ({"namespace": "a b"}, "namespace"),
    ):
        assert_error(api.post("/api/v1/metrics/statistics", json={**query, **change}), 400, field)


def breast_cancer_training(api: Any, tmp_path: Path) -> tuple[str, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame
    tmp_path.mkdir(parents=True, exist_ok=True)
    frame.to_csv(tmp_path / "train.csv", index=False)
    job = f"metrics-xgb-{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": job,
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": {"num_round": 5, "max_depth": 2},
            "channels": {"train": str(tmp_path / "train.csv")},
        },
    )
    assert created.status_code == 201, created.text
    assert api.wait_for_job(job)["status"] == "Completed"
    return job, frame.drop(columns=["target"])


def test_endpoint_invocation_metrics(api: Any, tmp_path: Path) -> None:
    job, features = breast_cancer_training(api, tmp_path)
    assert api.deploy(job)["status"] == "InService"
    rows = features.head(3).to_dict(orient="records")
    for _ in range(4):
        response = api.invoke(job, json.dumps(rows).encode(), "application/json")
        assert response.status_code == 200, response.text
    assert_error(api.invoke(job, b"{not json", "application/json"), 400)
    broken = broken_model(api, job)
    for path, body in (
        (
            "/api/v1/endpoint-configs",
            {"name": broken, "production_variants": [{"model_name": broken}]},
        ),
        ("/api/v1/endpoints", {"name": broken, "endpoint_config_name": broken}),
    ):
        assert api.post(path, json=body).status_code == 201
    assert api.wait_for_endpoint(broken)["status"] == "InService"
    assert_error(
        api.invoke(
            broken, json.dumps(features.iloc[:2, :-1].values.tolist()).encode(), "application/json"
        ),
        500,
        "ModelError",
    )
    buffer_of(api).flush()

    dimensions = {"EndpointName": job, "VariantName": "AllTraffic"}
    namespace = "Shipyard/Endpoints"
    [invocations] = stats(api, namespace, "Invocations", dimensions, "Sum")
    assert invocations["values"]["Sum"] == 5
    [latency] = stats(api, namespace, "ModelLatency", dimensions, "SampleCount", "Minimum", "p99")
    assert latency["values"]["SampleCount"] == 4  # the bad body never reached the model
    assert latency["values"]["Minimum"] > 0 and latency["unit"] == "Microseconds"
    [overhead] = stats(api, namespace, "OverheadLatency", dimensions, "SampleCount")
    assert overhead["values"]["SampleCount"] == 5
    [client_errors] = stats(api, namespace, "Invocation4XXErrors", dimensions, "Sum", "Average")
    assert client_errors["values"] == {"Sum": 1.0, "Average": pytest.approx(1 / 5)}
    [server_errors] = stats(api, namespace, "Invocation5XXErrors", dimensions, "Sum")
    assert server_errors["values"]["Sum"] == 0.0
    broken_dimensions = {"EndpointName": broken, "VariantName": "AllTraffic"}
    [server_errors] = stats(api, namespace, "Invocation5XXErrors", broken_dimensions, "Sum")
    assert server_errors["values"]["Sum"] == 1.0
    # and the training job's own metrics and its CPU/memory samples
    buffer_of(api).flush()
    names = {
        m["metric_name"]
        for m in api.get("/api/v1/metrics", params={"namespace": "Shipyard/TrainingJobs"}).json()[
            "items"
        ]
        if m["dimensions"] == {"TrainingJobName": job}
    }
    assert "MemoryUtilization" in names and len(names) >= 2, names


def test_pipeline_execution_metrics(api: Any) -> None:
    steps = [{"name": "stop", "type": "Fail", "arguments": {"error_message": "no"}}]
    put = api.client.put(
        "/api/v1/pipelines/doomed", json={"definition": {"steps": steps}}, headers=api.headers
    )
    assert put.status_code in (200, 201), put.text
    started = api.post("/api/v1/pipelines/doomed/executions", json={})
    assert started.status_code == 201, started.text
    path = f"/api/v1/pipelines/doomed/executions/{started.json()['id']}"
    assert api.wait_for_status(path, ("Failed", "Succeeded", "Stopped"), 60)["status"] == "Failed"
    dimensions = {"PipelineName": "doomed"}
    [failed] = stats(api, "Shipyard/Pipelines", "ExecutionsFailed", dimensions, "Sum")
    [succeeded] = stats(api, "Shipyard/Pipelines", "ExecutionsSucceeded", dimensions, "Sum")
    assert failed["values"]["Sum"] == 1 and succeeded["values"]["Sum"] == 0
