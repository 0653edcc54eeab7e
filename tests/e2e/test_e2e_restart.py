"""Whole journeys on a dedicated ``shipyard up``: an endpoint survives a restart."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

pytestmark = pytest.mark.e2e

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="module")
def fixtures(pytestconfig: pytest.Config) -> ModuleType:
    """tests/conftest.py, as pytest loaded it (``import conftest`` may find another one)."""
    for plugin in pytestconfig.pluginmanager.get_plugins():
        module_file = getattr(plugin, "__file__", None)
        if module_file and Path(module_file).resolve() == ROOT_CONFTEST:
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def wait_for(fetch: Any, done: tuple[str, ...], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        document = fetch()
        if document["status"] in done:
            return document
        assert time.monotonic() < deadline, f"still {document['status']} after {timeout} s"
        time.sleep(0.2)


class Client:
    """httpx against one server, raising on an unexpected status."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def test_endpoint_survives_a_restart(fixtures, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    train.to_csv(tmp_path / "train.csv", index=False)
    features = validation.drop(columns=["target"]).head(10)
    request = {"instances": features.values.tolist()}
    home = tmp_path / "home"
    job, model, endpoint = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("job", "model", "ep"))

    first = fixtures.start_live_server(home, tmp_path)
    try:
        client = Client(first.url, first.token)
        client.call(
            "POST",
            "/api/v1/training-jobs",
            201,
            json={
                "name": job,
                "algorithm": "xgboost",
                "target": "target",
                "hyperparameters": {"num_round": 20, "max_depth": 3},
                "channels": {"train": str(tmp_path / "train.csv")},
            },
        )
        done = wait_for(
            lambda: client.call("GET", f"/api/v1/training-jobs/{job}"), ("Completed", "Failed")
        )
        assert done["status"] == "Completed", done["failure_reason"]
        client.call("POST", "/api/v1/models", 201, json={"name": model, "training_job_name": job})
        variants = [{"model_name": model}]
        client.call(
            "POST",
            "/api/v1/endpoint-configs",
            201,
            json={"name": endpoint, "production_variants": variants},
        )
        client.call(
            "POST",
            "/api/v1/endpoints",
            201,
            json={"name": endpoint, "endpoint_config_name": endpoint},
        )
        served = wait_for(
            lambda: client.call("GET", f"/api/v1/endpoints/{endpoint}"), ("InService", "Failed")
        )
        assert served["status"] == "InService", served["failure_reason"]
        before = client.call("POST", f"/api/v1/endpoints/{endpoint}/invocations", json=request)
        client.close()
    finally:
        fixtures.stop_live_server(first)

    second = fixtures.start_live_server(home, tmp_path, token=first.token)
    try:
        client = Client(second.url, second.token)
        restored = wait_for(
            lambda: client.call("GET", f"/api/v1/endpoints/{endpoint}"), ("InService", "Failed")
        )
        assert restored["status"] == "InService", restored["failure_reason"]
        after = client.call("POST", f"/api/v1/endpoints/{endpoint}/invocations", json=request)
        assert after == before
        assert client.call("GET", f"/api/v1/training-jobs/{job}")["status"] == "Completed"
        client.close()
    finally:
        second.process.terminate()
        output = second.process.communicate(timeout=30)[0]
        fixtures.stop_live_server(second)
    assert "Shipyard is starting" in output
    assert not fixtures.KEY_PATTERN.search(output)  # the admin key is shown on the first start only
