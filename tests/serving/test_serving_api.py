"""The serving room through REST: model → endpoint config → endpoint → invocations → delete.

One xgboost model on breast cancer (scikit-learn's bundled copy, 70/30 split) is trained
per test that needs it; the bad-input checks that need no model use a server without a
worker, where a training job stays Pending.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_testing import assert_error, breast_cancer, unique

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app
from shipyard.serving import service as serving
from shipyard.serving.schemas import EndpointIn

VARIANT_HEADER = "X-Shipyard-Variant"


def train_and_deploy(api: Any, tmp_path: Path) -> tuple[str, str, pd.DataFrame]:
    """A Completed xgboost job, a model and an InService endpoint: (model, endpoint, data)."""
    train_path, validation = breast_cancer(tmp_path / "data")
    job = unique("serve-xgb")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": job,
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": {"num_round": 30, "max_depth": 3},
            "channels": {"train": str(train_path)},
        },
    )
    assert created.status_code == 201, created.text
    assert api.wait_for_job(job)["status"] == "Completed"

    model = unique("bc-model")
    response = api.post("/api/v1/models", json={"name": model, "training_job_name": job})
    assert response.status_code == 201, response.text
    described = response.json()
    assert described["algorithm"] == "xgboost"
    assert described["problem_type"] == "binary_classification"
    assert described["classes"] == [0, 1]
    assert described["feature_names"] == [c for c in validation.columns if c != "target"]
    assert described["model_data_uri"] == f"shipyard://training-jobs/{job}/model"

    config = unique("bc-config")
    response = api.post(
        "/api/v1/endpoint-configs",
        json={"name": config, "production_variants": [{"model_name": model}]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["production_variants"][0]["variant_name"] == "AllTraffic"

    endpoint = unique("bc-endpoint")
    response = api.post(
        "/api/v1/endpoints", json={"name": endpoint, "endpoint_config_name": config}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "Creating"
    settled = api.wait_for_endpoint(endpoint)
    assert settled["status"] == "InService", settled["failure_reason"]
    return model, endpoint, validation


def invoke(
    api: Any, endpoint: str, content: bytes, content_type: str, **headers: str
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/endpoints/{endpoint}/invocations",
        content=content,
        headers={**api.headers, "Content-Type": content_type, **headers},
    )


def test_deploy_invoke_in_every_format_then_delete(api, tmp_path):
    model, endpoint, validation = train_and_deploy(api, tmp_path)
    features = validation.drop(columns=["target"]).head(40)
    labels = validation["target"].head(40).tolist()

    as_records = invoke(
        api, endpoint, features.to_json(orient="records").encode(), "application/json"
    )
    as_instances = invoke(
        api,
        endpoint,
        json.dumps({"instances": features.values.tolist()}).encode(),
        "application/json",
    )
    as_csv = invoke(api, endpoint, features.to_csv(header=False, index=False).encode(), "text/csv")
    answers = []
    for response in (as_records, as_instances, as_csv):
        assert response.status_code == 200, response.text
        assert response.headers[VARIANT_HEADER] == "AllTraffic"
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert len(body["predictions"]) == len(features)
        assert len(body["probabilities"]) == len(features)
        for prediction, probabilities in zip(
            body["predictions"], body["probabilities"], strict=True
        ):
            assert prediction in (0, 1)
            assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
            assert probabilities[prediction] == max(probabilities)
        answers.append(body)
    assert answers[0] == answers[1] == answers[2]
    correct = sum(p == y for p, y in zip(answers[0]["predictions"], labels, strict=True))
    assert correct / len(labels) >= 0.9

    one = invoke(api, endpoint, json.dumps(features.iloc[0].to_dict()).encode(), "application/json")
    assert one.status_code == 200 and len(one.json()["predictions"]) == 1
    with_charset = invoke(api, endpoint, as_csv.request.content, "text/csv; charset=utf-8")
    assert with_charset.json() == answers[0]

    as_csv_out = invoke(api, endpoint, as_csv.request.content, "text/csv", Accept="text/csv")
    assert as_csv_out.status_code == 200
    assert as_csv_out.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv_out.text)))
    assert [int(row[0]) for row in rows] == answers[0]["predictions"]

    targeted = invoke(
        api,
        endpoint,
        as_csv.request.content,
        "text/csv",
        **{"X-Shipyard-Target-Variant": "AllTraffic"},
    )
    assert targeted.status_code == 200
    assert_error(
        invoke(
            api, endpoint, as_csv.request.content, "text/csv", **{"X-Shipyard-Target-Variant": "B"}
        ),
        400,
        "X-Shipyard-Target-Variant",
    )

    bad_bodies: list[tuple[bytes, str, str]] = [
        (json.dumps({"instances": [[1.0, 2.0, 3.0]]}).encode(), "application/json", "instances"),
        (b"1,2,3\n", "text/csv", "instances"),
        (
            json.dumps({"instances": [[1.0] * 30, [1.0] * 29]}).encode(),
            "application/json",
            "instances",
        ),
        (json.dumps({"instances": []}).encode(), "application/json", "instances"),
        (
            json.dumps({"instances": [[1.0] * 30, {"a": 1}]}).encode(),
            "application/json",
            "instances",
        ),
        (json.dumps("hello").encode(), "application/json", "instances"),
        (b'{"instances": [[1, 2', "application/json", "body"),
        (b"\xff\xfe\x00garbage", "application/json", "body"),
        (b"", "text/csv", "body"),
        (b"<xml/>", "application/xml", "Content-Type"),
        (b"1,2,3", "text/plain", "Content-Type"),
    ]
    for content, content_type, needle in bad_bodies:
        response = invoke(api, endpoint, content, content_type)
        assert_error(response, 400, needle)

    listed = api.get("/api/v1/endpoints").json()["items"]
    assert endpoint in [item["name"] for item in listed]
    assert model in [item["name"] for item in api.get("/api/v1/models").json()["items"]]
    assert api.get(f"/api/v1/models/{model}").json()["name"] == model

    config = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]
    assert_error(api.delete(f"/api/v1/models/{model}"), 409, config)  # still served
    assert_error(api.delete(f"/api/v1/endpoint-configs/{config}"), 409, endpoint)
    assert api.delete(f"/api/v1/endpoints/{endpoint}").status_code == 204
    assert_error(api.get(f"/api/v1/endpoints/{endpoint}"), 404, endpoint)
    assert_error(invoke(api, endpoint, as_csv.request.content, "text/csv"), 404, endpoint)
    assert_error(api.delete(f"/api/v1/endpoints/{endpoint}"), 404, endpoint)
    assert endpoint not in [item["name"] for item in api.get("/api/v1/endpoints").json()["items"]]
    assert api.delete(f"/api/v1/endpoint-configs/{config}").status_code == 204
    assert api.delete(f"/api/v1/models/{model}").status_code == 204


def test_bad_values_duplicates_and_a_delete_during_loading(api, tmp_path, monkeypatch):
    model, endpoint, validation = train_and_deploy(api, tmp_path)
    config = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]

    # strings, missing or unknown columns, nesting: a 4xx naming the problem, never a 500
    record = validation.drop(columns=["target"]).iloc[0].to_dict()
    missing_column = {k: v for k, v in record.items() if k != "mean radius"}
    checks = {
        "missing column": [missing_column],
        "unknown column": [{**missing_column, "average radius": 1.0}],
        "text value": [{**record, "mean radius": "large"}],
        "text in a row": {"instances": [["x"] * 30]},
        "nested lists": {"instances": [[[1.0]] * 30]},
    }
    for case, document in checks.items():
        response = invoke(api, endpoint, json.dumps(document).encode(), "application/json")
        assert 400 <= response.status_code < 500, (case, response.text)
        assert "Traceback" not in response.text
        assert set(response.json()["error"]) == {"code", "message"}, (case, response.text)
    with_null = [{**record, "mean radius": None}]
    response = invoke(api, endpoint, json.dumps(with_null).encode(), "application/json")
    assert response.status_code in (200, 400), response.text  # xgboost may accept a missing value

    # names are unique per kind
    job = api.get(f"/api/v1/models/{model}").json()["training_job_name"]
    again = api.post("/api/v1/models", json={"name": model, "training_job_name": job})
    assert_error(again, 409, model)
    again = api.post(
        "/api/v1/endpoint-configs",
        json={"name": config, "production_variants": [{"model_name": model}]},
    )
    assert_error(again, 409, config)
    again = api.post("/api/v1/endpoints", json={"name": endpoint, "endpoint_config_name": config})
    assert_error(again, 409, endpoint)

    # a load that finishes after its endpoint was deleted must not resurrect it
    context = api.client.app.state.context
    host = context.extras["model_host"]
    late = unique("late")
    with context.db.session_scope() as session:  # the row only; deployed by hand below
        serving.create_endpoint(
            session, EndpointIn(name=late, endpoint_config_name=config), "admin"
        )
    start = host._start

    def start_then_get_deleted(name: str, wanted: Any) -> Any:
        started = start(name, wanted)
        assert api.delete(f"/api/v1/endpoints/{late}").status_code == 204
        return started

    monkeypatch.setattr(host, "_start", start_then_get_deleted)
    host.deploy(late)
    assert_error(api.get(f"/api/v1/endpoints/{late}"), 404, late)
    assert_error(invoke(api, late, b"1,2\n", "text/csv"), 404, late)
    monkeypatch.undo()

    # a delete the server did not live to finish can be finished
    stuck = unique("stuck")
    with context.db.session_scope() as session:
        serving.create_endpoint(session, EndpointIn(name=stuck, endpoint_config_name=config), "me")
        serving.mark_deleting(session, stuck)
    assert api.get(f"/api/v1/endpoints/{stuck}").json()["status"] == "Deleting"
    assert api.delete(f"/api/v1/endpoints/{stuck}").status_code == 204
    assert_error(api.get(f"/api/v1/endpoints/{stuck}"), 404, stuck)

    # deleting in order: endpoint, config, model
    assert api.delete(f"/api/v1/endpoints/{endpoint}").status_code == 204
    assert api.delete(f"/api/v1/endpoint-configs/{config}").status_code == 204
    assert_error(api.get(f"/api/v1/endpoint-configs/{config}"), 404, config)
    assert api.delete(f"/api/v1/models/{model}").status_code == 204
    assert_error(api.get(f"/api/v1/models/{model}"), 404, model)


# ---- bad requests that need no model -----------------------------------------------------
@pytest.fixture(scope="module")
def idle(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    """A server without a worker, so a training job stays Pending; its client and headers."""
    root = tmp_path_factory.mktemp("idle-serving")
    settings = Settings(
        home=root / "home",
        data_roots=[root],
        run_worker=False,
        run_scheduler=False,
        load_quickstart=False,
    )
    context = build_context(settings)
    token = bootstrap_admin(context.db)
    breast_cancer(root / "data")
    with TestClient(create_app(settings, context)) as client:
        yield client, {"Authorization": f"Bearer {token}"}, root
    context.db.dispose()


def test_bad_serving_requests_are_4xx_naming_the_field(idle):
    client, headers, root = idle
    pending = unique("pending-job")
    created = client.post(
        "/api/v1/training-jobs",
        headers=headers,
        json={
            "name": pending,
            "algorithm": "xgboost",
            "target": "target",
            "channels": {"train": str(root / "data" / "train.csv")},
        },
    )
    assert created.status_code == 201, created.text

    cases: list[tuple[str, str, dict[str, Any], int, tuple[str, ...]]] = [
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "training_job_name": pending},
            400,
            ("training_job_name", "Pending", "Completed"),
        ),
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "training_job_name": "no-such-job"},
            400,
            ("training_job_name", "no-such-job"),
        ),
        ("POST", "/api/v1/models", {"name": unique("m")}, 400, ("training_job_name",)),
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "training_job_name": pending, "model_data_uri": "shipyard://x"},
            400,
            ("training_job_name",),
        ),
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "model_data_uri": "shipyard://../../etc"},
            400,
            ("model_data_uri",),
        ),
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "model_data_uri": "/etc/passwd"},
            400,
            ("model_data_uri",),
        ),
        (
            "POST",
            "/api/v1/models",
            {"name": unique("m"), "model_data_uri": "shipyard://datasets"},
            400,
            ("model_data_uri",),
        ),
        ("POST", "/api/v1/models", {"name": "../m", "training_job_name": pending}, 400, ("name",)),
        (
            "POST",
            "/api/v1/endpoint-configs",
            {"name": unique("c"), "production_variants": [{"model_name": "no-such-model"}]},
            400,
            ("production_variants.0.model_name", "no-such-model"),
        ),
        (
            "POST",
            "/api/v1/endpoint-configs",
            {"name": unique("c"), "production_variants": []},
            400,
            ("production_variants",),
        ),
        (
            "POST",
            "/api/v1/endpoint-configs",
            {
                "name": unique("c"),
                "production_variants": [{"model_name": "m", "initial_weight": -1}],
            },
            400,
            ("production_variants.0.initial_weight",),
        ),
        (
            "POST",
            "/api/v1/endpoint-configs",
            {
                "name": unique("c"),
                "production_variants": [{"model_name": "m", "variant_name": "a/b"}],
            },
            400,
            ("variant_name",),
        ),
        (
            "POST",
            "/api/v1/endpoints",
            {"name": unique("e"), "endpoint_config_name": "no-such-config"},
            400,
            ("endpoint_config_name", "no-such-config"),
        ),
        (
            "POST",
            "/api/v1/endpoints",
            {"name": "a" * 200, "endpoint_config_name": "c"},
            400,
            ("name",),
        ),
        (
            "POST",
            "/api/v1/endpoints/no-such-endpoint/invocations",
            {"instances": [[1]]},
            404,
            ("no-such-endpoint",),
        ),
        ("GET", "/api/v1/endpoints/no-such-endpoint", {}, 404, ("no-such-endpoint",)),
        ("DELETE", "/api/v1/endpoints/no-such-endpoint", {}, 404, ("no-such-endpoint",)),
        ("GET", "/api/v1/models/no-such-model", {}, 404, ("no-such-model",)),
        ("DELETE", "/api/v1/models/no-such-model", {}, 404, ("no-such-model",)),
        ("GET", "/api/v1/endpoint-configs/no-such-config", {}, 404, ("no-such-config",)),
        ("DELETE", "/api/v1/endpoint-configs/no-such-config", {}, 404, ("no-such-config",)),
        ("GET", "/api/v1/endpoints/" + "x" * 100, {}, 400, ("name",)),
        ("GET", "/api/v1/models?limit=5000", {}, 400, ("limit",)),
    ]
    for method, path, body, status, needles in cases:
        kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
        response = client.request(method, path, headers=headers, **kwargs)
        assert_error(response, status, *needles)
