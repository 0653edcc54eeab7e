"""The acceptance journey on real ``shipyard up`` processes: async requests accepted before a
crash — one in flight, the others queued behind it — are all answered after a restart; and
the SDK and the CLI against a live server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cli_testing import shipyard_cli

from shipyard.core.artifacts import open_store
from shipyard.sdk.client import Session
from shipyard.sdk.serving import Predictor
from shipyard.sdk.waiting import UnexpectedStatus

pytestmark = pytest.mark.e2e
KEY = re.compile(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+")
STAGED = "staging/bc-model"
T = TypeVar("T")


@dataclass
class Up:
    """A ``shipyard up`` in a session of its own, so a kill takes the whole process group."""

    url: str
    process: subprocess.Popen[str]
    token: str = ""
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def wait_for(self, fetch: Callable[[], T | None], what: str, timeout: float = 90) -> T:
        deadline = time.monotonic() + timeout
        while True:
            found = fetch()
            if found:
                return found
            assert self.process.poll() is None, f"the server exited:\n{''.join(self.output)}"
            assert time.monotonic() < deadline, f"no {what}:\n{''.join(self.output)[-5000:]}"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown of any kind."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM (a no-op once it ended), then the last of its output."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.reader is not None:
            self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def up(home: Path, extra_env: dict[str, str], token: str = "") -> Up:
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_DATA_ROOTS": f'["{home.parent}"]',
        "SHIPYARD_LOAD_QUICKSTART": "false",
        **extra_env,
    }
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Up(f"http://127.0.0.1:{port}", process, token)

    def read() -> None:
        for line in process.stdout or ():
            server.output.append(line)

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    try:
        if not token:
            server.token = server.wait_for(
                lambda: (m := KEY.search("".join(server.output))) and m.group(0), "admin key"
            )
        server.wait_for(lambda: _answers(server.url), "an answer")
    except BaseException:
        server.stop()
        raise
    return server


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/openapi.json", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def deploy(http: httpx.Client, name: str, async_config: dict[str, Any]) -> None:
    for path, body in (
        ("/api/v1/models", {"name": name, "model_data_uri": f"shipyard://{STAGED}"}),
        (
            "/api/v1/endpoint-configs",
            {
                "name": name,
                "production_variants": [{"model_name": name}],
                "async_inference_config": async_config,
            },
        ),
        ("/api/v1/endpoints", {"name": name, "endpoint_config_name": name}),
    ):
        response = http.post(path, json=body)
        assert response.status_code == 201, response.text


def statuses(http: httpx.Client, name: str, ids: list[str]) -> list[dict[str, Any]]:
    path = f"/api/v1/endpoints/{name}/async-invocations"
    return [http.get(f"{path}/{inference_id}").raise_for_status().json() for inference_id in ids]


def staged_home(root: Path, trained: Any) -> Path:
    """A home whose artifact store holds the model's files already."""
    home = root / "home"
    open_store(str(home / "artifacts")).put_directory(STAGED, trained.model_dir)
    return home


def test_requests_accepted_before_a_crash_are_all_answered_after_a_restart(
    tmp_path, trained, fault_env
):
    home = staged_home(tmp_path, trained)
    name = "crash-ep"
    config = {
        "output_config": {"s3_output_path": "shipyard://async-results/crash"},
        "client_config": {"max_concurrent_invocations_per_instance": 1},
    }
    first = up(home, fault_env(ASYNC_TEST_HANG="1"))  # every prediction hangs
    try:
        with first.http() as http:
            deploy(http, name, config)
            first.wait_for(
                lambda: http.get(f"/api/v1/endpoints/{name}").json()["status"] == "InService",
                "the endpoint in service",
            )
            bodies = [trained.body(2, start=2 * i) for i in range(5)]
            ids = []
            for body in bodies:
                accepted = http.post(
                    f"/api/v1/endpoints/{name}/async-invocations",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                assert accepted.status_code == 202, accepted.text
                ids.append(accepted.json()["inference_id"])
            first.wait_for(
                lambda: [s["status"] for s in statuses(http, name, ids)].count("InProgress") == 1,
                "one request in flight",
            )
            before = statuses(http, name, ids)
        assert sorted(s["status"] for s in before) == ["InProgress", *["Queued"] * 4]
        first.kill()  # mid-request
    finally:
        first.stop()

    second = up(home, {}, token=first.token)
    try:
        with second.http() as http:
            ended = second.wait_for(
                lambda: (
                    (found := statuses(http, name, ids))
                    and all(s["status"] in ("Completed", "Failed", "Expired") for s in found)
                    and found
                ),
                "every request answered",
            )
            assert [s["status"] for s in ended] == ["Completed"] * 5, ended
            in_flight = next(i for i, s in enumerate(before) if s["status"] == "InProgress")
            assert ended[in_flight]["attempts"] == 2  # the one the crash cut short, again
            assert all(s["attempts"] == 1 for i, s in enumerate(ended) if i != in_flight)
            store = open_store(str(home / "artifacts"))
            for body, status in zip(bodies, ended, strict=True):
                realtime = http.post(
                    f"/api/v1/endpoints/{name}/invocations",
                    content=body,
                    headers={"Content-Type": "application/json"},
                ).json()
                key = status["output_location"].removeprefix("shipyard://")
                assert json.loads(store.get_bytes(key)) == realtime
    finally:
        second.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, trained: Any) -> Iterator[Up]:
    """A server with an async endpoint ``sdk-ep`` in service (a topic-less config)."""
    server = up(staged_home(tmp_path_factory.mktemp("live-sdk"), trained), {})
    try:
        with server.http() as http:
            deploy(http, "sdk-ep", {"output_config": {"s3_output_path": "shipyard://sdk-out"}})
            server.wait_for(
                lambda: http.get("/api/v1/endpoints/sdk-ep").json()["status"] == "InService",
                "the endpoint in service",
            )
        yield server
    finally:
        server.stop()


def test_the_sdk_queues_waits_and_reads_the_answer(live, trained, tmp_path):
    with Session(url=live.url, token=live.token) as session:
        check_the_sdk(Predictor("sdk-ep", session=session), trained, tmp_path)


def check_the_sdk(predictor: Predictor, trained: Any, tmp_path: Path) -> None:
    rows = trained.rows(4)
    inference = predictor.predict_async(rows, inference_id="sdk-1", request_ttl_seconds=600)
    assert inference.inference_id == "sdk-1"
    assert inference.output_location == "shipyard://sdk-out/sdk-1.out"
    assert inference.result(timeout=60) == predictor.predict(rows)
    assert inference.describe()["status"] == "Completed"
    again = predictor.async_inference("sdk-1")
    assert again.wait(timeout=10)["request_ttl_seconds"] == 600

    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"instances": rows}))
    uploaded = predictor.session.upload(path)
    located = predictor.predict_async(input_location=uploaded)
    assert located.result(timeout=60) == predictor.predict(rows)

    broken = predictor.predict_async([{"not_a_feature": 1.0}])
    with pytest.raises(UnexpectedStatus, match="Failed: ValidationError"):
        broken.result(timeout=60)
    failed = predictor.list_async_inferences(status="Failed")
    assert [item["inference_id"] for item in failed] == [broken.inference_id]


def test_the_cli_queues_and_reports(live, trained):
    env = {**os.environ, "SHIPYARD_URL": live.url, "SHIPYARD_TOKEN": live.token}
    body = trained.body(2).decode()
    answered = shipyard_cli(
        "endpoints", "invoke-async", "sdk-ep", "--body", body, "--wait", env=env
    )
    realtime = shipyard_cli("endpoints", "invoke", "sdk-ep", "--body", body, env=env)
    assert json.loads(answered.stdout) == json.loads(realtime.stdout)

    queued = json.loads(
        shipyard_cli(
            "endpoints", "invoke-async", "sdk-ep", "--body", body, "--inference-id", "cli-1",
            "--ttl", "120", "--json", env=env,
        ).stdout
    )  # fmt: skip
    assert queued["inference_id"] == "cli-1"
    assert queued["output_location"] == "shipyard://sdk-out/cli-1.out"
    with live.http() as http:
        live.wait_for(
            lambda: statuses(http, "sdk-ep", ["cli-1"])[0]["status"] == "Completed", "cli-1"
        )
    described = json.loads(
        shipyard_cli("endpoints", "async-status", "sdk-ep", "cli-1", "--json", env=env).stdout
    )
    assert described["status"] == "Completed" and described["request_ttl_seconds"] == 120
    human = shipyard_cli("endpoints", "async-status", "sdk-ep", "cli-1", env=env).stdout
    assert "Completed" in human and "shipyard://sdk-out/cli-1.out" in human
    result = shipyard_cli("endpoints", "async-result", "sdk-ep", "cli-1", env=env)
    assert json.loads(result.stdout) == json.loads(realtime.stdout)
    listed = json.loads(shipyard_cli("endpoints", "async-list", "sdk-ep", "--json", env=env).stdout)
    assert "cli-1" in [item["inference_id"] for item in listed]

    refused = shipyard_cli(
        "endpoints", "invoke-async", "sdk-ep", "--body", body, "--ttl", "5", env=env, expect=1
    )
    assert refused.stderr.startswith("error (ValidationError): X-Shipyard-Request-TTL-Seconds")
    missing = shipyard_cli("endpoints", "async-status", "sdk-ep", "nope", env=env, expect=1)
    assert missing.stderr.startswith("error (NotFound): ")
    neither = shipyard_cli("endpoints", "invoke-async", "sdk-ep", env=env, expect=1)
    assert "--input-location" in neither.stderr
