"""Helpers of the serving tests: unique names, the breast-cancer data on disk, the shape
every error response has, and a model that fails at predict time."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from shipyard.core.artifacts import key_from_uri, uri_for
from shipyard.serving.fleet import VariantFleet
from shipyard.training.algorithms.model_io import MANIFEST_FILE

WAIT_SECONDS = 60


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def breast_cancer(directory: Path) -> tuple[Path, pd.DataFrame]:
    """train.csv in ``directory``, and the validation frame (features and ``target``)."""
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    directory.mkdir(parents=True, exist_ok=True)
    train.to_csv(directory / "train.csv", index=False)
    validation.to_csv(directory / "validation.csv", index=False)
    return directory / "train.csv", validation


def assert_error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    for needle in needles:
        assert needle in body["error"]["message"], (needle, body)
    return body["error"]["message"]


def broken_model(api: Any, model_name: str) -> str:
    """A model made from ``model_name``'s files whose manifest names one feature fewer than
    its booster takes: it loads, and every prediction of those features raises inside the
    library (a 500 ``ModelError``, as a model with a bug gives). Its name."""
    context = api.client.app.state.context
    store = context.store
    source = api.get(f"/api/v1/models/{model_name}").json()["model_data_uri"]
    key = key_from_uri(source)
    broken = unique("broken")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        store.get_directory(key, directory)
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        manifest["feature_names"] = manifest["feature_names"][:-1]
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
        store.put_directory(f"models/{broken}", directory)
    created = api.post(
        "/api/v1/models", json={"name": broken, "model_data_uri": uri_for(f"models/{broken}")}
    )
    assert created.status_code == 201, created.text
    return broken


def faulty_model(api: Any, train: Path, model_name: str) -> str:
    """A model that takes ``model_name``'s inputs and fails on every one of them: its
    manifest is ``model_name``'s, its booster was trained on one feature fewer (a 500
    ``ModelError`` on any row the real model answers, as a model with a bug gives)."""
    narrower = train.with_name(f"narrower-{train.name}")
    frame = pd.read_csv(train)
    frame.drop(columns=[frame.columns[0]]).to_csv(narrower, index=False)
    other = trained_model(api, narrower, "xgboost", {"num_round": 2, "max_depth": 1})
    store = api.client.app.state.context.store
    manifest_of = {}
    for name in (model_name, other):
        key = key_from_uri(api.get(f"/api/v1/models/{name}").json()["model_data_uri"])
        manifest_of[name] = (key, json.loads(store.get_bytes(f"{key}/{MANIFEST_FILE}")))
    faulty = unique("faulty")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        store.get_directory(manifest_of[other][0], directory)
        manifest = manifest_of[other][1]
        manifest["feature_names"] = manifest_of[model_name][1]["feature_names"]
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
        store.put_directory(f"models/{faulty}", directory)
    body = {"name": faulty, "model_data_uri": uri_for(f"models/{faulty}")}
    created = api.post("/api/v1/models", json=body)
    assert created.status_code == 201, created.text
    return faulty


def trained_model(api: Any, train: Path, algorithm: str, hyperparameters: dict) -> str:
    """A model from a Completed training job of ``algorithm`` on ``train``; its name."""
    job = unique(f"variant-{algorithm}")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": job,
            "algorithm": algorithm,
            "target": "target",
            "hyperparameters": hyperparameters,
            "channels": {"train": str(train)},
        },
    )
    assert created.status_code == 201, created.text
    assert api.wait_for_job(job)["status"] == "Completed"
    model = unique("model")
    assert (
        api.post("/api/v1/models", json={"name": model, "training_job_name": job}).status_code
        == 201
    )
    return model


def deploy(api: Any, variants: list[dict[str, Any]]) -> str:
    """An endpoint serving ``variants``, once InService; its name."""
    config = unique("config")
    response = api.post(
        "/api/v1/endpoint-configs", json={"name": config, "production_variants": variants}
    )
    assert response.status_code == 201, response.text
    endpoint = unique("endpoint")
    response = api.post(
        "/api/v1/endpoints", json={"name": endpoint, "endpoint_config_name": config}
    )
    assert response.status_code == 201, response.text
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"
    return endpoint


def fleet_of(api: Any, endpoint: str, variant: str = "AllTraffic") -> VariantFleet:
    """The instances of ``variant`` of ``endpoint``, as the api's host serves them."""
    deployment = api.client.app.state.context.extras["model_host"].deployment(endpoint)
    [served] = [v for v in deployment.variants if v.name == variant]
    return served.fleet


def wait_for_instances(fleet: VariantFleet, count: int, gone: set[int]) -> set[int]:
    """The pids of the fleet once it has ``count`` instances none of which is in ``gone``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        pids = {instance.pid for instance in fleet.instances}
        if len(pids) == count and not pids & gone:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"the fleet did not get back to {count} instances: {fleet.instances}")
