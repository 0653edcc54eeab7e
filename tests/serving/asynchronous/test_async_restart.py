"""Nothing accepted is lost: requests accepted while no worker ran, and requests that a
process which died held, are all answered by the next server on the same home and DB — on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from shipyard.core.artifacts import key_from_uri
from shipyard.core.clock import utcnow
from shipyard.serving.asynchronous.models import AsyncInference


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def database_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "sqlite":
        return {}  # the home's own
    return {"database_url": request.getfixturevalue("postgres_databases")()}


def test_requests_accepted_before_a_restart_are_all_answered_after_it(
    start_server, trained, tmp_path, database_settings
):
    home = tmp_path / "home"
    config = {"output_config": {"s3_output_path": "shipyard://async-results/restart"}}
    with start_server(home, **database_settings) as first:  # no worker: they wait
        endpoint = first.deploy(trained, config)
        bodies = [trained.body(2, start=2 * i) for i in range(6)]
        ids = [first.accept(endpoint, body)["inference_id"] for body in bodies]
        token = first.token
        now = utcnow()
        with first.context.db.session_scope() as session:
            # taken by a process of another host that died mid-request: its lease lapsed
            abroad = session.get(AsyncInference, ids[0])
            abroad.status, abroad.attempts, abroad.started_at = "InProgress", 1, now
            abroad.worker_id, abroad.worker_host, abroad.worker_pid = "lost", "elsewhere", 1
            abroad.lease_expires_at = now - timedelta(seconds=1)
            # taken by a process of this host that was killed: its lease runs on
            killed = session.get(AsyncInference, ids[1])
            killed.status, killed.attempts, killed.started_at = "InProgress", 1, now
            killed.worker_id, killed.worker_host = "killed", socket.gethostname()
            killed.worker_pid = dead_pid()
            killed.lease_expires_at = now + timedelta(minutes=10)
        statuses = [first.inference(endpoint, i)["status"] for i in ids]
        assert statuses == ["InProgress", "InProgress", *["Queued"] * 4]

    with start_server(home, token=token, **database_settings) as second:
        second.start_worker()
        ends = [second.wait_for_end(endpoint, inference_id, timeout=90) for inference_id in ids]
        assert [end["status"] for end in ends] == ["Completed"] * len(ids), ends
        assert [end["attempts"] for end in ends] == [2, 2, 1, 1, 1, 1]
        for body, end in zip(bodies, ends, strict=True):
            realtime = second.post(
                f"/api/v1/endpoints/{endpoint}/invocations",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            output = second.context.store.get_bytes(key_from_uri(end["output_location"]))
            assert json.loads(output) == realtime.json()


def test_a_stopping_server_gives_what_is_in_flight_back(start_server, trained, faults):
    config = {"output_config": {"s3_output_path": "shipyard://async-results/drain"}}
    with start_server() as first:
        endpoint = first.deploy(trained, config)
        stuck = first.accept(endpoint, trained.body(1, mark="stuck"))["inference_id"]
        first.start_worker()
        first.wait_for(f"/api/v1/endpoints/{endpoint}/async-invocations/{stuck}", ("InProgress",))
        first.worker.stop(timeout=0.5)  # it cannot drain: the request goes back
        first.worker = None
        given_back = first.inference(endpoint, stuck)
        assert given_back["status"] == "Queued" and given_back["attempts"] == 0
