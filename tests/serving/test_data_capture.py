"""Data capture through REST: an endpoint that captures every request keeps each one's
input and output (JSON and CSV) with its variant, latency and an event id, as JSON lines
partitioned by hour; capturing only inputs leaves outputs out; a store that fails to
write never fails a request, and the records are written once it is back; bad configs and
ranges are 400s naming the field.

The writer is flushed by the test (in-process), so nothing waits on a clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
from serving_testing import assert_error, breast_cancer, unique


@pytest.fixture
def model(api, tmp_path) -> tuple[str, list[list[float]]]:
    data, validation = breast_cancer(tmp_path / "data")
    job = unique("capture-job")
    body = {
        "name": job,
        "algorithm": "xgboost",
        "target": "target",
        "hyperparameters": {"num_round": 5, "max_depth": 2},
        "channels": {"train": str(data)},
    }
    assert api.post("/api/v1/training-jobs", json=body).status_code == 201
    assert api.wait_for_job(job)["status"] == "Completed"
    name = unique("capture-model")
    assert (
        api.post("/api/v1/models", json={"name": name, "training_job_name": job}).status_code == 201
    )
    return name, validation.drop(columns=["target"]).values.tolist()


def deploy(api: Any, model: str, capture: dict[str, Any]) -> str:
    config = {
        "name": unique("config"),
        "production_variants": [{"model_name": model}],
        "data_capture_config": capture,
    }
    response = api.post("/api/v1/endpoint-configs", json=config)
    assert response.status_code == 201, response.text
    assert response.json()["data_capture_config"]["initial_sampling_percentage"] == 100
    endpoint = unique("endpoint")
    body = {"name": endpoint, "endpoint_config_name": config["name"]}
    assert api.post("/api/v1/endpoints", json=body).status_code == 201
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"
    return endpoint


def invoke(api: Any, endpoint: str, content: str, content_type: str) -> str:
    response = api.client.post(
        f"/api/v1/endpoints/{endpoint}/invocations",
        content=content,
        headers={**api.headers, "Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    return response.text


def captured(api: Any, endpoint: str) -> list[dict[str, Any]]:
    api.client.app.state.context.extras["captures"].flush()
    response = api.get(f"/api/v1/endpoints/{endpoint}/data-capture")
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_every_request_and_response_is_captured_by_hour(api, model) -> None:
    name, rows = model
    endpoint = deploy(api, name, {"initial_sampling_percentage": 100})
    sent = []
    for row in rows[:5]:
        body = json.dumps([row])
        sent.append((body, "JSON", invoke(api, endpoint, body, "application/json")))
    csv_body = ",".join(str(v) for v in rows[5]) + "\n"
    sent.append((csv_body, "CSV", invoke(api, endpoint, csv_body, "text/csv")))

    records = captured(api, endpoint)
    assert [
        (r["input"]["data"], r["input"]["encoding"], r["output"]["data"]) for r in records
    ] == sent
    assert {r["variant_name"] for r in records} == {"AllTraffic"}
    assert len({r["event_id"] for r in records}) == len(sent)
    assert all(r["model_latency_ms"] > 0 for r in records)
    store = api.client.app.state.context.store
    keys = store.list(f"captures/{endpoint}")
    hour = records[0]["inference_time"][:13].replace("-", "/").replace("T", "/")
    assert keys and all(k.startswith(f"captures/{endpoint}/AllTraffic/{hour}/") for k in keys)
    assert all(k.endswith(".jsonl") for k in keys)


def test_inputs_only_and_a_failing_store_never_fail_a_request(api, model, monkeypatch) -> None:
    name, rows = model
    endpoint = deploy(api, name, {"initial_sampling_percentage": 100, "capture_options": ["Input"]})
    store = api.client.app.state.context.store
    real_put = store.put_bytes

    def broken(key: str, data: bytes) -> None:
        raise OSError("the disk is full")

    monkeypatch.setattr(store, "put_bytes", broken)
    invoke(api, endpoint, json.dumps([rows[0]]), "application/json")
    api.client.app.state.context.extras["captures"].flush()  # fails, keeps the record
    monkeypatch.setattr(store, "put_bytes", real_put)
    (record,) = captured(api, endpoint)
    assert record["input"]["data"] == json.dumps([rows[0]])
    assert record["output"] is None


def test_bad_capture_configs_and_ranges_name_the_field(api, model) -> None:
    name, _ = model
    for capture, field in (
        ({"initial_sampling_percentage": 0}, "initial_sampling_percentage"),
        ({"capture_options": []}, "capture_options"),
        ({"capture_options": ["Everything"]}, "capture_options"),
    ):
        config = {
            "name": unique("config"),
            "production_variants": [{"model_name": name}],
            "data_capture_config": capture,
        }
        assert_error(api.post("/api/v1/endpoint-configs", json=config), 400, field)
    endpoint = deploy(api, name, {"initial_sampling_percentage": 100})
    backwards = api.get(
        f"/api/v1/endpoints/{endpoint}/data-capture",
        params={"start_time": "2026-12-02T10:00:00Z", "end_time": "2026-12-02T09:00:00Z"},
    )
    assert_error(backwards, 400, "end_time")
    assert_error(api.get("/api/v1/endpoints/no-such-endpoint/data-capture"), 404, "no-such")
