"""Fixtures of the registry tests: a helper bound to the in-process server (``registry``)
that trains, uploads, registers and deploys, and a user whose key lacks
``registry:DeployUnapproved``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from shipyard.security.service import create_api_key, ensure_user

FEATURES_BC = list(load_breast_cancer(as_frame=True).frame.columns[:-1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_error(response: httpx.Response, status: int, *needles: str) -> str:
    """A Shipyard error of ``status`` whose message holds every needle; no traceback."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    for needle in needles:
        assert needle in body["error"]["message"], (needle, body)
    return body["error"]["message"]


@dataclass
class Registry:
    """The registry API of one in-process server, as the tests use it."""

    api: Any  # tests/conftest.py's Api
    tmp_path: Path
    unique = staticmethod(unique)
    error = staticmethod(assert_error)

    def patch(self, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.api.client.patch(path, headers=self.api.headers, json=body, **kwargs)

    def put(self, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.api.client.put(path, headers=self.api.headers, json=body, **kwargs)

    def group(self, prefix: str = "grp", **body: Any) -> str:
        name = unique(prefix)
        response = self.api.post("/api/v1/model-package-groups", json={"name": name, **body})
        assert response.status_code == 201, response.text
        return name

    def register(self, group: str, expect: int = 201, **body: Any) -> httpx.Response:
        response = self.api.post(f"/api/v1/model-package-groups/{group}/packages", json=body)
        assert response.status_code == expect, response.text
        return response

    def package(self, group: str, version: int) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/model-package-groups/{group}/packages/{version}")
        assert response.status_code == 200, response.text
        return response.json()

    def approve(self, group: str, version: int, reason: str = "good") -> dict[str, Any]:
        path = f"/api/v1/model-package-groups/{group}/packages/{version}"
        response = self.patch(path, {"approval_status": "Approved", "reason": reason})
        assert response.status_code == 200, response.text
        return response.json()

    def upload(self, name: str, content: bytes) -> str:
        response = self.api.client.post(
            "/api/v1/uploads", headers=self.api.headers, files={"file": (name, content)}
        )
        assert response.status_code == 201, response.text
        return response.json()["uri"]

    def breast_cancer(self) -> tuple[Path, pd.DataFrame]:
        """train.csv under tmp_path, and the held-out frame (features and ``target``)."""
        frame = load_breast_cancer(as_frame=True).frame
        train, validation = train_test_split(frame, test_size=0.3, random_state=0)
        directory = self.tmp_path / "bc"
        directory.mkdir(exist_ok=True)
        train.to_csv(directory / "train.csv", index=False)
        validation.to_csv(directory / "validation.csv", index=False)
        return directory, validation

    def train(self, algorithm: str = "xgboost", **hyperparameters: Any) -> str:
        """A Completed training job on breast cancer (train and validation channels)."""
        directory, _ = self.breast_cancer()
        job = unique("reg-job")
        response = self.api.post(
            "/api/v1/training-jobs",
            json={
                "name": job,
                "algorithm": algorithm,
                "target": "target",
                "hyperparameters": hyperparameters or {"num_round": 20, "max_depth": 3},
                "channels": {
                    "train": str(directory / "train.csv"),
                    "validation": str(directory / "validation.csv"),
                },
            },
        )
        assert response.status_code == 201, response.text
        assert self.api.wait_for_job(job)["status"] == "Completed"
        return job

    def model_and_config(self, package_name: str) -> tuple[str, str]:
        """A model from the package and a one-variant endpoint config serving it."""
        model = unique("reg-model")
        response = self.api.post(
            "/api/v1/models", json={"name": model, "model_package_name": package_name}
        )
        assert response.status_code == 201, response.text
        config = unique("reg-config")
        response = self.api.post(
            "/api/v1/endpoint-configs",
            json={"name": config, "production_variants": [{"model_name": model}]},
        )
        assert response.status_code == 201, response.text
        return model, config

    def deploy(self, package_name: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Model, config and endpoint for the package; the endpoint once it settled."""
        _, config = self.model_and_config(package_name)
        endpoint = unique("reg-endpoint")
        response = self.api.client.post(
            "/api/v1/endpoints",
            headers=headers or self.api.headers,
            json={"name": endpoint, "endpoint_config_name": config},
        )
        assert response.status_code == 201, response.text
        return self.api.wait_for_endpoint(endpoint)

    def invoke(self, endpoint: str, instances: list[Any]) -> httpx.Response:
        return self.api.client.post(
            f"/api/v1/endpoints/{endpoint}/invocations",
            headers=self.api.headers,
            json={"instances": instances},
        )

    def key_for(self, user: str, statements: list[dict[str, Any]]) -> dict[str, str]:
        """Headers with the key of a new user holding one policy of ``statements``."""
        db = self.api.client.app.state.context.db
        with db.session_scope() as session:
            ensure_user(session, user, [{"name": f"{user}-policy", "statements": statements}])
            token = create_api_key(session, user, "registry tests")
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def registry(api: Any, tmp_path: Path) -> Registry:
    return Registry(api, tmp_path)
