"""The quick start: ``shipyard up`` loads the fraud example on its first start, and
``shipyard quickstart`` walks the same life cycle against a running server."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from shipyard.quickstart import FEATURES

pytestmark = pytest.mark.e2e


def assert_answers(http: httpx.Client, endpoint: str) -> None:
    record = dict.fromkeys(FEATURES, 1.0)
    response = http.post(f"/api/v1/endpoints/{endpoint}/invocations", json=[record, record])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == body["predictions"][:1] * 2
    assert body["predictions"][0] in (0, 1)
    assert len(body["probabilities"]) == 2


def test_first_start_loads_the_fraud_quickstart(start_live_server, tmp_path):
    server = start_live_server(tmp_path / "home", tmp_path, quickstart=True)
    try:
        server.wait_for_output(f"Console: {server.url}/console/")  # printed with the key
        assert server.token in server.text()

        job, endpoint = server.wait_for_quickstart()
        assert job["algorithm"] == "xgboost"
        assert job["final_metrics"]["validation:auc"] > 0.8
        with server.http() as http:
            assert_answers(http, endpoint["name"])
    finally:
        server.stop()


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

    with live_server.http() as http:
        assert http.get(f"/api/v1/endpoints/{endpoint}").json()["status"] == "InService"
        assert_answers(http, endpoint)
        assert http.delete(f"/api/v1/endpoints/{endpoint}").status_code == 204
