"""Fixtures of the processing tests: generated orders and customers tables, a helper that
speaks to the in-process server's processing routes, and the DB backends of tests/core."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from compute_testing import core_fixtures
from training_testing import ENDED

from shipyard.core.artifacts import BaseArtifactStore

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database

REGIONS = ["east", "north", "south", "west"]


@dataclass(frozen=True)
class Tables:
    orders: Path
    customers: Path


@pytest.fixture
def tables(tmp_path: Path) -> Tables:
    """orders.csv (order_id, customer_id, amount), customers.csv (customer_id, region)."""
    rng = np.random.default_rng(0)
    directory = tmp_path / "tables"
    directory.mkdir()
    pd.DataFrame(
        {"customer_id": np.arange(1, 21), "region": [REGIONS[i % 4] for i in range(20)]}
    ).to_csv(directory / "customers.csv", index=False)
    pd.DataFrame(
        {
            "order_id": np.arange(1, 201),
            "customer_id": rng.integers(1, 21, size=200),
            "amount": np.round(rng.uniform(1, 100, size=200), 2),
        }
    ).to_csv(directory / "orders.csv", index=False)
    return Tables(directory / "orders.csv", directory / "customers.csv")


@dataclass
class Processing:
    """The processing routes of one in-process server, and its artifact store."""

    api: Any

    @property
    def store(self) -> BaseArtifactStore:
        return self.api.client.app.state.context.store

    @property
    def db(self) -> Any:
        return self.api.client.app.state.context.db

    def upload_dataset(self, name: str, path: Path) -> dict[str, Any]:
        with path.open("rb") as handle:
            response = self.api.post(
                "/api/v1/datasets", data={"name": name}, files={"file": (path.name, handle)}
            )
        assert response.status_code == 201, response.text
        return response.json()

    def upload_file(self, filename: str, content: bytes) -> str:
        response = self.api.post("/api/v1/uploads", files={"file": (filename, content)})
        assert response.status_code == 201, response.text
        return response.json()["uri"]

    def create(self, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = self.api.post("/api/v1/processing-jobs", json=body)
        assert response.status_code == status, response.text
        return response.json()

    def describe(self, name: str) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/processing-jobs/{name}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, name: str, timeout: float = 120) -> dict[str, Any]:
        return self.api.wait_for_status(f"/api/v1/processing-jobs/{name}", ENDED, timeout)

    def log_lines(self, name: str) -> list[str]:
        logs = self.api.get(f"/api/v1/processing-jobs/{name}/logs").json()
        return [line["message"] for line in logs["lines"]]

    def wait_for_registration(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """The description once every output is registered, or known not to be."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(name)
            outputs = described["processing_outputs"]
            if all(o["dataset_name"] or o["registration_error"] for o in outputs):
                return described
            assert time.monotonic() < deadline, f"{name}'s outputs were never registered"
            time.sleep(0.1)


@pytest.fixture
def processing(api: Any) -> Processing:
    return Processing(api)
