"""Fixtures of the batch transform tests: one in-process server for the session, with a
worker, and an xgboost model trained on scikit-learn's breast cancer (70/30 split) served
as a model; and the same model in a server without a worker, where a job stays Pending."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from training_testing import Server, breast_cancer_split, running_server, unique, xgboost_job

from shipyard.core.artifacts import key_from_uri
from shipyard.training.algorithms import LoadedModel, load_model


@dataclass
class Served(Server):
    """A server and the model it serves, with the held-out rows of its data."""

    model_name: str = ""
    model_data_uri: str = ""
    validation: pd.DataFrame | None = None

    def loaded_model(self) -> LoadedModel:
        local = self.context.store.local_path(key_from_uri(self.model_data_uri))
        return load_model(local)

    def features(self) -> pd.DataFrame:
        assert self.validation is not None
        return self.validation.drop(columns=["target"])

    def run_job(self, transform_input: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """A transform job of the served model, once it ended."""
        name = unique("bt")
        body = {"name": name, "model_name": self.model_name, "transform_input": transform_input}
        response = self.post("/api/v1/transform-jobs", json=body | changes)
        assert response.status_code == 201, response.text
        return self.wait_for(f"/api/v1/transform-jobs/{name}")

    def transform(self, transform_input: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """A Completed transform job of the served model."""
        done = self.run_job(transform_input, **changes)
        assert done["status"] == "Completed", done["failure_reason"]
        return done

    def stored(self, uri: str) -> bytes:
        return self.context.store.get_bytes(key_from_uri(uri))

    def lines(self, uri: str) -> list[str]:
        return self.stored(uri).decode().splitlines()


def train_model(server: Served) -> None:
    """An xgboost model of breast cancer, as the serving tests train it."""
    validation = breast_cancer_split(server.root)
    job = f"bc-xgb-{uuid.uuid4().hex[:8]}"
    created = server.post(
        "/api/v1/training-jobs", json=xgboost_job(job, server.root / "train.csv", num_round=20)
    )
    assert created.status_code == 201, created.text
    trained = server.wait_for(f"/api/v1/training-jobs/{job}")
    assert trained["status"] == "Completed", trained["failure_reason"]
    model = server.post("/api/v1/models", json={"name": job, "training_job_name": job})
    assert model.status_code == 201, model.text
    server.model_name = job
    server.model_data_uri = model.json()["model_data_uri"]
    server.validation = validation.reset_index(drop=True)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    with running_server(root, worker=True, server=Served, heartbeat_seconds=0.5) as server:
        train_model(server)
        yield server


@pytest.fixture(scope="session")
def idle(tmp_path_factory: pytest.TempPathFactory, served: Served) -> Iterator[Served]:
    """No worker: the served model's files copied into its store, as a model of its own."""
    root = tmp_path_factory.mktemp("idle")
    with running_server(root, server=Served, heartbeat_seconds=0.5) as server:
        source = served.context.store.local_path(key_from_uri(served.model_data_uri))
        server.context.store.put_directory("staging/model", source)
        model = server.post(
            "/api/v1/models",
            json={"name": served.model_name, "model_data_uri": "shipyard://staging/model"},
        )
        assert model.status_code == 201, model.text
        server.model_name = served.model_name
        server.model_data_uri = "shipyard://staging/model"
        server.validation = served.validation
        yield server
