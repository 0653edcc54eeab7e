"""Shared fixtures: settings in a temporary home, an in-process app, a live `shipyard up`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # starlette warns on import when httpx2 is not installed
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app

KEY_PATTERN = re.compile(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        heartbeat_seconds=0.5,
        load_quickstart=False,
    )


@dataclass
class Api:
    """An in-process server (worker included) and its admin key."""

    client: TestClient
    token: str
    settings: Settings

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.post(path, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.delete(path, headers=self.headers, **kwargs)

    def wait_for_job(self, name: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/api/v1/training-jobs/{name}").json()
            if job["status"] in ("Completed", "Failed", "Stopped"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"training job {name} did not end in {timeout} s")

    def wait_for_endpoint(self, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            endpoint = self.get(f"/api/v1/endpoints/{name}").json()
            if endpoint["status"] in ("InService", "Failed"):
                return endpoint
            time.sleep(0.05)
        raise AssertionError(f"endpoint {name} did not settle in {timeout} s")


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    context = build_context(settings)
    token = bootstrap_admin(context.db)
    assert token is not None
    with TestClient(create_app(settings, context)) as client:
        yield Api(client=client, token=token, settings=settings)
    context.db.dispose()


@dataclass
class LiveServer:
    """A real `shipyard up` process on 127.0.0.1 and a free port."""

    url: str
    token: str
    home: Path
    process: subprocess.Popen[str]
    output: list[str]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_URL": self.url, "SHIPYARD_TOKEN": self.token}


def start_live_server(
    home: Path, data_root: Path, *, quickstart: bool = False, token: str | None = None
) -> LiveServer:
    """Start `shipyard up`; pass the ``token`` of an earlier start on the same home (the
    admin key is printed on the first start only)."""
    port = free_port()
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_DATA_ROOTS": f'["{data_root}"]',
        "SHIPYARD_LOAD_QUICKSTART": "true" if quickstart else "false",
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    for line in process.stdout if token is None else ():
        output.append(line)
        match = KEY_PATTERN.search(line)
        if match:
            token = match.group(0)
            break
    assert token, "".join(output)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return LiveServer(url=url, token=token, home=home, process=process, output=output)


def stop_live_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("live")
    server = start_live_server(root / "home", root)
    yield server
    stop_live_server(server)
