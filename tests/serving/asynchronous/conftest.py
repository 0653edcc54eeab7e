"""What the async inference tests share: the DB backends of ``tests/core/conftest.py``; an
xgboost model of breast cancer trained once, in this process, and copied into each
server's store; an in-process server whose async worker the test starts (or holds); and
failures injected into the model by a ``sitecustomize`` on ``PYTHONPATH``, so they reach
the instance processes that answer: a row whose first feature is ``FAULT`` makes the model
raise, one whose first feature is ``SLOW`` makes it sleep ``ASYNC_TEST_SLOW_SECONDS`` (and
``STUCK`` half a minute), and ``ASYNC_TEST_HANG=1`` makes every prediction hang (a server
to kill mid-request).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from compute_testing import core_fixtures
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from shipyard.core.config import Settings
from shipyard.monitoring.topics import service as topics
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app
from shipyard.serving.asynchronous.routes import WORKER
from shipyard.serving.asynchronous.worker import AsyncInferenceWorker
from shipyard.training.algorithms import get_algorithm

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database

FAULT = -123456.0
SLOW = -654321.0
STUCK = -111111.0
MARKS = {"fault": FAULT, "slow": SLOW, "stuck": STUCK}
SITECUSTOMIZE = f"""
import os

if os.environ.get("ASYNC_TEST_FAULTS") == "1":
    import time

    from shipyard.training.algorithms import model_io

    _predict = model_io.LoadedModel.predict

    def _faulty(self, features):
        if os.environ.get("ASYNC_TEST_HANG") == "1":
            time.sleep(600)
        frame = model_io.as_frame(features)
        first = frame.iloc[:, 0] if len(frame.columns) else None
        if first is not None and (first == {FAULT!r}).any():
            raise RuntimeError("an injected model failure")
        if first is not None and (first == {SLOW!r}).any():
            time.sleep(float(os.environ.get("ASYNC_TEST_SLOW_SECONDS", "1")))
        if first is not None and (first == {STUCK!r}).any():
            time.sleep(30)
        return _predict(self, features)

    model_io.LoadedModel.predict = _faulty
"""
STAGED_MODEL = "staging/bc-model"


@dataclass(frozen=True)
class Trained:
    model_dir: Path
    features: pd.DataFrame
    """Held-out rows (no target)."""

    def rows(self, count: int, start: int = 0) -> list[dict[str, float]]:
        return self.features.iloc[start : start + count].to_dict(orient="records")

    def body(self, count: int = 3, start: int = 0, mark: str | None = None) -> bytes:
        """A JSON body of ``count`` records; ``mark`` (``fault``, ``slow``, ``stuck``) sets
        the first row's first feature to that injected behaviour."""
        rows = self.rows(count, start)
        if mark is not None:
            rows[0][self.features.columns[0]] = MARKS[mark]
        return json.dumps(rows).encode()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """xgboost on 70% of breast cancer (fixed split), trained here: no job, no worker."""
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    algorithm = get_algorithm("xgboost")
    model_dir = tmp_path_factory.mktemp("bc-model")
    algorithm.fit(
        train,
        None,
        "target",
        algorithm.validate_hyperparameters({"num_round": 10, "max_depth": 3}),
        model_dir,
        lambda *_: None,
        cpu_count=1,
    )
    return Trained(model_dir, validation.drop(columns=["target"]).reset_index(drop=True))


@pytest.fixture(scope="session")
def sitecustomize_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sitecustomize")
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return directory


def fault_environment(sitecustomize_dir: Path, **flags: str) -> dict[str, str]:
    """The variables a server (and so its instances) needs for the injected failures."""
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": f"{sitecustomize_dir}{os.pathsep}{path}" if path else str(sitecustomize_dir),
        "ASYNC_TEST_FAULTS": "1",
        **flags,
    }


@pytest.fixture(scope="session")
def fault_env(sitecustomize_dir: Path) -> Callable[..., dict[str, str]]:
    """``fault_env(**flags)``: the environment a server process needs for the injected
    failures (``ASYNC_TEST_HANG="1"``: every prediction hangs)."""
    return lambda **flags: fault_environment(sitecustomize_dir, **flags)


@pytest.fixture(scope="module")
def faults(sitecustomize_dir: Path) -> Iterator[None]:
    """Instances started from now on (their forkserver inherits this environment) fail on
    ``FAULT`` and sleep on ``SLOW`` and ``STUCK``; for the tests of one module."""
    with pytest.MonkeyPatch.context() as patch:
        environment = fault_environment(sitecustomize_dir, ASYNC_TEST_SLOW_SECONDS="1")
        for name, value in environment.items():
            patch.setenv(name, value)
        yield


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Server:
    """An in-process server, its admin key and its context; its async worker is the
    test's to start (:meth:`start_worker`), so requests wait in the queue until then."""

    client: TestClient
    token: str
    context: Any
    worker: AsyncInferenceWorker | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)

    def start_worker(self, **options: Any) -> AsyncInferenceWorker:
        options.setdefault("poll_seconds", 0.1)
        self.worker = AsyncInferenceWorker(self.context, **options)
        self.context.extras[WORKER] = self.worker
        self.worker.start()
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=5)
            self.worker = None

    # ---- serving --------------------------------------------------------------------
    def model(self, trained: Trained) -> str:
        """A model of the staged files: its name."""
        name = unique("async-ep")
        if not self.context.store.exists(f"{STAGED_MODEL}/shipyard-model.json"):
            self.context.store.put_directory(STAGED_MODEL, trained.model_dir)
        model = self.post(
            "/api/v1/models", json={"name": name, "model_data_uri": f"shipyard://{STAGED_MODEL}"}
        )
        assert model.status_code == 201, model.text
        return name

    def deploy(
        self,
        trained: Trained,
        async_config: dict[str, Any] | None,
        *,
        wait: bool = True,
        instances: int = 1,
    ) -> str:
        """The staged model, an endpoint config with ``async_config`` and an endpoint: its
        name (InService, when ``wait``)."""
        name = self.model(trained)
        variant = {"model_name": name, "initial_instance_count": instances}
        config: dict[str, Any] = {"name": name, "production_variants": [variant]}
        if async_config is not None:
            config["async_inference_config"] = async_config
        created = self.post("/api/v1/endpoint-configs", json=config)
        assert created.status_code == 201, created.text
        endpoint = self.post("/api/v1/endpoints", json={"name": name, "endpoint_config_name": name})
        assert endpoint.status_code == 201, endpoint.text
        if wait:
            described = self.wait_for(f"/api/v1/endpoints/{name}", ("InService", "Failed"))
            assert described["status"] == "InService", described["failure_reason"]
        return name

    def invoke_async(
        self,
        endpoint: str,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        **headers: str,
    ) -> httpx.Response:
        sent = {
            "Content-Type": content_type,
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        return self.post(
            f"/api/v1/endpoints/{endpoint}/async-invocations",
            content=body,
            params=params,
            headers=sent,
        )

    def accept(self, endpoint: str, body: bytes, **headers: str) -> dict[str, Any]:
        response = self.invoke_async(endpoint, body, **headers)
        assert response.status_code == 202, response.text
        return response.json()

    def inference(self, endpoint: str, inference_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_end(self, endpoint: str, inference_id: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(
            f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}",
            ("Completed", "Failed", "Expired"),
            timeout,
        )

    def wait_for(self, path: str, statuses: tuple[str, ...], timeout: float = 60) -> Any:
        """GET ``path`` until its ``status`` is one of ``statuses`` (a bounded deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.get(path).json()
            if described.get("status") in statuses:
                return described
            assert time.monotonic() < deadline, f"{path} stayed {described.get('status')}"
            time.sleep(0.05)

    # ---- topics ---------------------------------------------------------------------
    def topic_with_queue(self) -> tuple[str, str]:
        """A topic subscribed by a queue: (topic, queue)."""
        topic, inbox = unique("async-topic"), unique("async-inbox")
        assert self.post("/api/v1/topics", json={"name": topic}).status_code == 201
        subscribed = self.post(
            f"/api/v1/topics/{topic}/subscriptions",
            json={"protocol": "queue", "endpoint": inbox},
        )
        assert subscribed.status_code == 201, subscribed.text
        return topic, inbox

    def received(self, inbox: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The notifications in ``inbox`` once it holds ``count`` (deliveries are made here,
        as the scheduler's duty would)."""
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while True:
            topics.deliver_due(self.context.db, self.context.settings)
            answer = self.post(
                f"/api/v1/queues/{inbox}/receive",
                json={"max_number_of_messages": 10, "visibility_timeout_seconds": 600},
            )
            assert answer.status_code == 200, answer.text
            found += [message["body"] for message in answer.json()["messages"]]
            if len(found) >= count:
                return found
            assert time.monotonic() < deadline, f"{inbox} got {len(found)} of {count}"
            time.sleep(0.05)


def settings_for(home: Path, **overrides: Any) -> Settings:
    """No job worker and no scheduler (so no async worker either: the test starts one)."""
    return Settings(
        home=home,
        data_roots=[home.parent],
        load_quickstart=False,
        run_worker=False,
        run_scheduler=False,
        **overrides,
    )


@contextmanager
def running(settings: Settings) -> Iterator[Server]:
    context = build_context(settings)
    token = bootstrap_admin(context.db) or ""
    server = Server(TestClient(create_app(settings, context)), token, context)
    try:
        with server.client:
            yield server
            server.stop_worker()
    finally:
        context.db.dispose()


@pytest.fixture
def start_server(tmp_path: Path) -> Callable[..., Any]:
    """``start_server(home=None, token=None, **settings)``: a context manager of a running
    :class:`Server` (a second one on the same home is a restart)."""

    @contextmanager
    def start(home: Path | None = None, token: str | None = None, **overrides: Any):
        settings = settings_for(home or tmp_path / "home", **overrides)
        with running(settings) as server:
            if token:
                server.token = token
            yield server

    return start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, faults: None) -> Iterator[Server]:
    """A server of the module's tests (each deploys endpoints of its own), the failures
    injected, its worker started."""
    with running(settings_for(tmp_path_factory.mktemp("async") / "home")) as started:
        started.start_worker()
        yield started
