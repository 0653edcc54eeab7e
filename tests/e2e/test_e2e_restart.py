"""Whole journeys on a dedicated ``shipyard up``: an endpoint survives a restart."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

pytestmark = pytest.mark.e2e


class Client:
    """httpx against one server, raising on an unexpected status."""

    def __init__(self, server: Any) -> None:
        self.http = server.http()

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def test_endpoint_survives_a_restart(start_live_server, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    train.to_csv(tmp_path / "train.csv", index=False)
    features = validation.drop(columns=["target"]).head(10)
    request = {"instances": features.values.tolist()}
    home = tmp_path / "home"
    job, model, endpoint = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("job", "model", "ep"))

    first = start_live_server(home, tmp_path)
    try:
        client = Client(first)
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
        done = first.wait_for_status(f"/api/v1/training-jobs/{job}", ("Completed", "Failed"))
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
        served = first.wait_for_status(f"/api/v1/endpoints/{endpoint}", ("InService", "Failed"))
        assert served["status"] == "InService", served["failure_reason"]
        before = client.call("POST", f"/api/v1/endpoints/{endpoint}/invocations", json=request)
        client.close()
    finally:
        first.stop()

    second = start_live_server(home, tmp_path, token=first.token)
    try:
        client = Client(second)
        restored = second.wait_for_status(f"/api/v1/endpoints/{endpoint}", ("InService", "Failed"))
        assert restored["status"] == "InService", restored["failure_reason"]
        after = client.call("POST", f"/api/v1/endpoints/{endpoint}/invocations", json=request)
        assert after == before
        assert client.call("GET", f"/api/v1/training-jobs/{job}")["status"] == "Completed"
        client.close()
    finally:
        second.stop()
    assert "Shipyard is starting" in second.text()
    assert second.printed_key() is None  # the admin key is shown on the first start only
