"""Instances are processes: a variant runs as many as it asks for, requests go to each, one
killed with ``kill -9`` is replaced while the endpoint keeps answering, and micro-batched
requests each get their own answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from typing import Any
from urllib.parse import quote

import pytest
from serving_testing import breast_cancer, deploy, fleet_of, trained_model, wait_for_instances

from shipyard.serving import service, wire
from shipyard.serving.fleet import (
    Instance,
    InstanceLauncher,
    InstanceStartError,
    InvocationTimeout,
    VariantFleet,
)
from shipyard.serving.host import ModelHost
from shipyard.serving.schemas import EndpointIn


def test_a_killed_instance_is_replaced_and_no_request_fails(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model, "initial_instance_count": 2}])
    fleet = fleet_of(api, endpoint)
    pids = wait_for_instances(fleet, 2, set())
    assert os.getpid() not in pids
    body = json.dumps(validation.drop(columns=["target"]).values[:3].tolist()).encode()
    expected = api.invoke(endpoint, body, "application/json").json()

    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    for _ in range(100):  # through the death, the retry and the replacement
        answer = api.invoke(endpoint, body, "application/json")
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
    replaced = wait_for_instances(fleet, 2, {victim})
    assert len(replaced - pids) == 1

    description = api.get(f"/api/v1/endpoints/{endpoint}").json()
    [variant] = description["variant_status"]
    assert variant["current_instance_count"] == 2 and variant["desired_instance_count"] == 2
    api.client.app.state.context.extras["logs"].flush()
    group = quote(f"/shipyard/endpoints/{endpoint}", safe="")
    logged = api.get(f"/api/v1/log-groups/{group}/events", params={"pattern": "replacement"})
    assert f"exited with code -{int(signal.SIGKILL)}" in logged.text, logged.text


def test_a_lone_instance_killed_is_waited_for(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model}])
    fleet = fleet_of(api, endpoint)
    [pid] = wait_for_instances(fleet, 1, set())
    os.kill(pid, signal.SIGKILL)
    body = json.dumps(validation.drop(columns=["target"]).values[:1].tolist()).encode()
    answer = api.invoke(endpoint, body, "application/json")
    assert answer.status_code == 200, answer.text
    wait_for_instances(fleet, 1, {pid})


def test_micro_batched_requests_each_get_their_own_rows(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    batching = {"max_batch_size": 8, "max_wait_ms": 5}
    endpoint = deploy(
        api,
        [
            {"variant_name": "batched", "model_name": model, "batching": batching},
            {"variant_name": "single", "model_name": model, "initial_weight": 0},
        ],
    )
    rows = validation.drop(columns=["target"]).values[:20].tolist()
    json_rows = [json.dumps(rows[i : i + 1 + i % 3]).encode() for i in range(10)]
    csv_row = ",".join(map(str, rows[15])).encode()  # a matrix, as the JSON rows are
    with_null = json.dumps([[None, *rows[16][1:]]]).encode()  # a missing value
    bodies = [*(("application/json", b) for b in json_rows), ("text/csv", csv_row)]
    bodies += [("application/json", with_null), ("application/json", b'[["not", "numbers"]]')]
    # the last fails alone, not its batch
    batched, single = fleet_of(api, endpoint, "batched"), fleet_of(api, endpoint, "single")

    async def all_at_once(fleet: VariantFleet) -> list[Any]:
        replies = await asyncio.gather(
            *(fleet.call(kind, "application/json", body) for kind, body in bodies)
        )
        api.client.app.state.context.extras["model_host"].close_connections()  # this loop's
        await asyncio.sleep(0.01)
        return replies

    together, alone = asyncio.run(all_at_once(batched)), asyncio.run(all_at_once(single))
    assert [r.status for r in together] == [200] * 12 + [400]
    assert [r.body for r in together[:12]] == [r.body for r in alone[:12]]
    assert b"instances" in together[-1].body


def test_requests_during_a_redeploy_go_to_the_new_instances(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model}])
    context = api.client.app.state.context
    host = context.extras["model_host"]
    old = host.deployment(endpoint)
    body = json.dumps(validation.drop(columns=["target"]).values[:1].tolist()).encode()
    with context.db.session_scope() as session:  # an update to the same config: new instances
        service.update_endpoint(session, endpoint, old.config_name)
    redeploy = threading.Thread(target=host.deploy, args=(endpoint,))
    redeploy.start()
    answers = []
    while redeploy.is_alive() or host.deployment(endpoint) is old:
        answers.append(api.invoke(endpoint, body, "application/json").status_code)
    redeploy.join()
    for _ in range(20):  # and right after the old instances stopped
        answers.append(api.invoke(endpoint, body, "application/json").status_code)
    assert set(answers) == {200}
    assert host.deployment(endpoint) is not old


def test_a_deploy_cut_short_by_the_server_stop_leaves_the_endpoint_to_load(
    api, tmp_path, monkeypatch
) -> None:
    """A server that stops while an endpoint's instances start does not mark it Failed
    (which no restart would load again): it stays as it was, for the next start."""
    train, _ = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    endpoint = deploy(api, [{"model_name": model}])
    context = api.client.app.state.context
    config = api.get(f"/api/v1/endpoints/{endpoint}").json()["endpoint_config_name"]
    other = EndpointIn(name=f"{endpoint}-2", endpoint_config_name=config)
    with context.db.session_scope() as session:
        service.create_endpoint(session, other, "admin")
    stopping = ModelHost(context.db, InstanceLauncher(context.settings))

    def start_while_the_server_stops(name: str, wanted: Any) -> Any:
        stopping.close()
        raise InstanceStartError(f"FileNotFoundError: the instances of {name} went away")

    monkeypatch.setattr(stopping, "_start", start_while_the_server_stops)
    stopping.deploy(other.name)
    described = api.get(f"/api/v1/endpoints/{other.name}").json()
    # Creating, or InService if the api's own host loaded it meanwhile: never Failed
    assert described["status"] in ("Creating", "InService"), described
    assert described["failure_reason"] is None


def test_a_blocking_call_waits_as_long_as_its_timeout_says(tmp_path) -> None:
    """An async request's invocation timeout reaches the instance socket: an instance that
    never answers is an InvocationTimeout naming that timeout, not the default 60 s."""
    path = str(tmp_path / "silent.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(path)
        silent.listen()
        instance = Instance("silent-1", None, path)  # type: ignore[arg-type]
        with pytest.raises(InvocationTimeout, match=r"did not answer within 0\.2 s"):
            instance.call_blocking("application/json", "application/json", b"[]", timeout=0.2)
        instance.close_connections()


def test_requests_sent_together_get_their_own_replies_in_order(tmp_path) -> None:
    """Requests sent in one write over a thread's socket: an instance may answer in any
    order, and each request still gets its own reply."""
    path = str(tmp_path / "reversing.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()

        def answer_in_reverse() -> None:
            connection, _ = listener.accept()
            with connection:
                frames = [wire.decode_request(wire.receive_frame(connection)) for _ in range(3)]
                for request in reversed(frames):
                    reply = wire.Reply(request.id, 200, 1.0, "text/plain", request.body.upper())
                    connection.sendall(wire.encode_reply(reply))

        server = threading.Thread(target=answer_in_reverse)
        server.start()
        instance = Instance("reversing-1", None, path)  # type: ignore[arg-type]
        requests = [("text/plain", "text/plain", body) for body in (b"a", b"b", b"c")]
        replies = instance.call_blocking_many(requests, timeout=5)
        server.join()
        instance.close_connections()
    assert [reply.body for reply in replies] == [b"A", b"B", b"C"]
    assert instance.in_flight == 0
