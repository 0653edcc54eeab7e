"""Helpers of the job rooms' tests (training, processing, transform): an in-process server
of their own (without a worker, a job stays Pending), job names, the check that a request
was refused with Shipyard's error naming the field, and an xgboost job on breast cancer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app

ENDED = ("Completed", "Failed", "Stopped")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Server:
    """An in-process server, its admin key, its data root and its context."""

    client: TestClient
    token: str
    root: Path
    context: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)

    def wait_for(self, path: str, statuses: tuple[str, ...] = ENDED, timeout: float = 120) -> Any:
        """GET ``path`` until its ``status`` is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.get(path).json()
            if described["status"] in statuses:
                return described
            assert time.monotonic() < deadline, f"{path} stayed {described['status']}"
            time.sleep(0.05)


S = TypeVar("S", bound=Server)


@contextmanager
def running_server(
    root: Path, *, worker: bool = False, server: type[S] = Server, **settings: Any
) -> Iterator[S]:
    """A ``server`` over a home in ``root`` (its data root too); with ``worker``, its jobs
    run (a worker and the scheduler), else they stay Pending. ``settings`` add to the rest."""
    configured = Settings(
        home=root / "home",
        data_roots=[root],
        run_worker=worker,
        run_scheduler=worker,
        load_quickstart=False,
        **settings,
    )
    context = build_context(configured)
    token = bootstrap_admin(context.db)
    assert token is not None
    with TestClient(create_app(configured, context)) as client:
        yield server(client, token, root, context)
    context.db.dispose()


def assert_error(response: httpx.Response, status: int, *needles: str) -> str:
    """The response is ``status`` with Shipyard's error body, naming each of ``needles``."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    message = body["error"]["message"]
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def assert_refused(server: Server, collection: str, body: dict[str, Any], *needles: str) -> str:
    """POSTing ``body`` to ``/api/v1/<collection>`` is a 400 naming each of ``needles``, and
    nothing of that name was created."""
    message = assert_error(server.post(f"/api/v1/{collection}", json=body), 400, *needles)
    assert server.get(f"/api/v1/{collection}/{body['name']}").status_code in (400, 404)
    return message


def breast_cancer_split(directory: Path) -> pd.DataFrame:
    """scikit-learn's breast cancer split 70/30 (fixed seed): the 70 written as
    ``directory/train.csv``, the 30 returned."""
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    train.to_csv(directory / "train.csv", index=False)
    return validation


def xgboost_job(name: str, train: Path, num_round: int) -> dict[str, Any]:
    """A CreateTrainingJob request: xgboost (depth 3) on the table ``train`` of
    :func:`breast_cancer_split`."""
    return {
        "name": name,
        "algorithm": "xgboost",
        "target": "target",
        "hyperparameters": {"num_round": num_round, "max_depth": 3},
        "channels": {"train": str(train)},
    }
