"""Shared fixtures: settings in a temporary home, an in-process app, live `shipyard up`
servers, and the polling helpers the tests of both share."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

with warnings.catch_warnings():  # starlette warns on import when httpx2 is not installed
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app

KEY_PATTERN = re.compile(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+")
# what `shipyard up` names the quick-start's training job and endpoint (shipyard.quickstart)
QUICKSTART_JOB_PREFIX = "fraud-quickstart-"
QUICKSTART_ENDPOINT_PREFIX = "fraud-detector-"
ENDED = ("Completed", "Failed", "Stopped")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(fetch: Callable[[], T | None], what: str, timeout: float, interval: float = 0.1) -> T:
    """Call ``fetch()`` until it returns something truthy, and return that; fail naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def status_in(document: dict[str, Any], statuses: tuple[str, ...]) -> dict[str, Any] | None:
    return document if document["status"] in statuses else None


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
        return self.wait_for_status(f"/api/v1/training-jobs/{name}", ENDED, timeout)

    def wait_for_endpoint(self, name: str, timeout: float = 60) -> dict:
        return self.wait_for_status(f"/api/v1/endpoints/{name}", ("InService", "Failed"), timeout)

    def wait_for_status(self, path: str, statuses: tuple[str, ...], timeout: float) -> dict:
        """GET ``path`` until its ``status`` is one of ``statuses``."""
        return poll(
            lambda: status_in(self.get(path).json(), statuses),
            f"{path} to be {' or '.join(statuses)}",
            timeout,
            interval=0.05,
        )

    def deploy(self, training_job: str) -> dict:
        """A model, an endpoint config and an endpoint, each named after the Completed
        ``training_job``, through the serving routes; the endpoint once it settled."""
        for path, body in (
            ("/api/v1/models", {"name": training_job, "training_job_name": training_job}),
            (
                "/api/v1/endpoint-configs",
                {"name": training_job, "production_variants": [{"model_name": training_job}]},
            ),
            ("/api/v1/endpoints", {"name": training_job, "endpoint_config_name": training_job}),
        ):
            response = self.post(path, json=body)
            assert response.status_code == 201, response.text
        return self.wait_for_endpoint(training_job)

    def invoke(self, endpoint: str, content: bytes, content_type: str) -> httpx.Response:
        return self.client.post(
            f"/api/v1/endpoints/{endpoint}/invocations",
            content=content,
            headers={**self.headers, "Content-Type": content_type},
        )


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
    """A real `shipyard up` process on 127.0.0.1 and a free port.

    A thread reads the server's output into ``output`` (it only ever appends) for as long as
    the process lives, so a chatty server never blocks on a full pipe.
    """

    url: str
    token: str
    home: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_URL": self.url, "SHIPYARD_TOKEN": self.token}

    def text(self) -> str:
        return "".join(self.output)

    def printed_key(self) -> str | None:
        """The API key the server printed (it does on its first start only)."""
        match = KEY_PATTERN.search(self.text())
        return match.group(0) if match else None

    def http(self, timeout: float = 60) -> httpx.Client:
        """A client of this server, signed in with the admin key."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_for(self, fetch: Callable[[], T | None], what: str, timeout: float = 60) -> T:
        """:func:`poll`, failing early if the server exits; the failure shows its output."""

        def fetch_while_running() -> T | None:
            found = fetch()
            if not found and self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode})")
            return found

        try:
            return poll(fetch_while_running, what, timeout, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the server's output:\n{self.text()}") from None

    def wait_for_output(self, needle: str, timeout: float = 30) -> None:
        self.wait_for(lambda: needle in self.text(), repr(needle), timeout)

    def wait_for_status(
        self, path: str, statuses: tuple[str, ...], timeout: float = 180
    ) -> dict[str, Any]:
        """GET ``path`` until its ``status`` is one of ``statuses``."""
        with self.http() as http:
            return self.wait_for(
                lambda: status_in(http.get(path).raise_for_status().json(), statuses),
                f"{path} to be {' or '.join(statuses)}",
                timeout,
            )

    def wait_for_quickstart(self, timeout: float = 240) -> tuple[dict[str, Any], dict[str, Any]]:
        """The quick-start's training job, once Completed, and its endpoint, once InService."""
        with self.http() as http:
            job = self.wait_for(
                lambda: _named(http, "training-jobs", QUICKSTART_JOB_PREFIX, "Completed"),
                "the quick-start's training job",
                timeout,
            )
            endpoint = self.wait_for(
                lambda: _named(http, "endpoints", QUICKSTART_ENDPOINT_PREFIX, "InService"),
                "the quick-start's endpoint",
                timeout,
            )
        return job, endpoint

    def stop(self) -> None:
        """Stop the server (a no-op once stopped) and take the last of its output."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=10)  # a job process that outlived the server holds the pipe
        if self.process.stdout is not None:
            self.process.stdout.close()


def _named(http: httpx.Client, collection: str, prefix: str, status: str) -> dict[str, Any] | None:
    """The item of ``collection`` whose name starts with ``prefix``, once it has ``status``."""
    for item in http.get(f"/api/v1/{collection}").raise_for_status().json()["items"]:
        if item["name"].startswith(prefix):
            assert item["status"] not in ("Failed", "Stopped"), item
            if item["status"] == status:
                return item
    return None


def _read_output(process: subprocess.Popen[str], output: list[str]) -> None:
    try:
        for line in process.stdout or ():
            output.append(line)
    except (OSError, ValueError):  # the pipe was closed while a job process still held it
        pass


def launch_live_server(
    home: Path, data_root: Path, *, quickstart: bool = False, token: str | None = None
) -> LiveServer:
    """Start `shipyard up` and wait until it answers; pass the ``token`` of an earlier start
    on the same home (the admin key is printed on the first start only)."""
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
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", token=token or "", home=home, process=process
    )
    server.reader = threading.Thread(
        target=_read_output, args=(process, server.output), name="live-server-output", daemon=True
    )
    server.reader.start()
    try:
        if not token:
            server.token = server.wait_for(server.printed_key, "the admin key", timeout=60)
        server.wait_for(lambda: _answers(server.url), "the server to answer", timeout=60)
    except BaseException:
        server.stop()
        raise
    return server


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/openapi.json", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="session")
def start_live_server() -> Iterator[Callable[..., LiveServer]]:
    """``start_live_server(home, data_root, quickstart=False, token=None)``: a started
    server (see :func:`launch_live_server`); stop it with ``server.stop()``, or it stops at
    the end of the session."""
    started: list[LiveServer] = []

    def start(home: Path, data_root: Path, **options: Any) -> LiveServer:
        server = launch_live_server(home, data_root, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def live_server(
    start_live_server: Callable[..., LiveServer], tmp_path_factory: pytest.TempPathFactory
) -> LiveServer:
    root = tmp_path_factory.mktemp("live")
    return start_live_server(root / "home", root)


# ---- a webhook receiver -------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every request. Each path answers 200,
    or the statuses given to :meth:`answer` in turn (the last one repeating); a 3xx
    redirects to ``/redirected``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._answers: dict[str, list[int]] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    ReceivedRequest(self.command, self.path, dict(self.headers), body)
                )
                statuses = receiver._answers.get(self.path, [200])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def answer(self, path: str, *statuses: int) -> None:
        self._answers[path] = list(statuses)

    def received(self, path: str) -> list[ReceivedRequest]:
        return [request for request in self.requests if request.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
