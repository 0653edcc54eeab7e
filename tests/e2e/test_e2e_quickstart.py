"""The quick start: ``shipyard up`` loads the fraud example on its first start, and
``shipyard quickstart`` walks the same life cycle against a running server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from shipyard.quickstart import FEATURES

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


def wait_for(fetch: Any, timeout: float = 240) -> Any:
    """Poll ``fetch()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found:
            return found
        assert time.monotonic() < deadline, f"nothing after {timeout} s"
        time.sleep(0.25)


def named(http: httpx.Client, collection: str, prefix: str, status: str) -> dict[str, Any] | None:
    """The item of ``collection`` whose name starts with ``prefix``, once it has ``status``."""
    items = http.get(f"/api/v1/{collection}").raise_for_status().json()["items"]
    for item in items:
        if item["name"].startswith(prefix):
            assert item["status"] not in ("Failed", "Stopped"), item
            if item["status"] == status:
                return item
    return None


def assert_answers(http: httpx.Client, endpoint: str) -> None:
    record = dict.fromkeys(FEATURES, 1.0)
    response = http.post(f"/api/v1/endpoints/{endpoint}/invocations", json=[record, record])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == body["predictions"][:1] * 2
    assert body["predictions"][0] in (0, 1)
    assert len(body["probabilities"]) == 2


def test_first_start_loads_the_fraud_quickstart(fixtures, tmp_path):
    server = fixtures.start_live_server(tmp_path / "home", tmp_path, quickstart=True)
    try:
        assert server.token in "".join(server.output)
        assert server.process.stdout is not None
        after_key = [server.process.stdout.readline() for _ in range(2)]  # printed with the key
        assert any(f"Console: {server.url}/console/" in line for line in after_key), after_key

        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=60
        ) as http:
            job = wait_for(lambda: named(http, "training-jobs", "fraud-quickstart-", "Completed"))
            assert job["algorithm"] == "xgboost"
            assert job["final_metrics"]["validation:auc"] > 0.8
            endpoint = wait_for(lambda: named(http, "endpoints", "fraud-detector-", "InService"))
            assert_answers(http, endpoint["name"])
    finally:
        fixtures.stop_live_server(server)


def test_quickstart_command_against_a_running_server(live_server):
    completed = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "quickstart"],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stdout.splitlines()
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert any(line.startswith(step) for line in lines), completed.stdout
    deploying = next(line for line in lines if line.startswith("3/4"))
    endpoint = deploying.split()[-1]
    assert endpoint.startswith("fraud-detector-")

    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.token}"},
        timeout=60,
    ) as http:
        assert http.get(f"/api/v1/endpoints/{endpoint}").json()["status"] == "InService"
        assert_answers(http, endpoint)
        assert http.delete(f"/api/v1/endpoints/{endpoint}").status_code == 204
