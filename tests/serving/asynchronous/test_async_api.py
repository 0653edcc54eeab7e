"""Async inference through REST on an in-process server: accept, answer, notify, fail,
expire, refuse; the worker's limits and metrics."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import timedelta
from typing import Any

import pytest
from serving_testing import assert_error

from shipyard.core.artifacts import key_from_uri
from shipyard.core.clock import utcnow
from shipyard.serving.asynchronous.worker import AsyncInferenceWorker

WEEK = 7 * 24 * 3600


def async_config(
    name: str,
    *,
    success: str | None = None,
    error: str | None = None,
    concurrency: int | None = None,
    failure_path: str | None = None,
    include: list[str] | None = None,
) -> dict[str, Any]:
    output: dict[str, Any] = {"s3_output_path": f"shipyard://async-results/{name}/"}
    if failure_path:
        output["s3_failure_path"] = failure_path
    if success or error:
        output["notification_config"] = {
            "success_topic": success,
            "error_topic": error,
            "include_inference_response_in": include or [],
        }
    config: dict[str, Any] = {"output_config": output}
    if concurrency is not None:
        config["client_config"] = {"max_concurrent_invocations_per_instance": concurrency}
    return config


def stored(server: Any, uri: str) -> bytes:
    return server.context.store.get_bytes(key_from_uri(uri))


def test_accepted_then_answered_as_in_real_time_with_a_success_notification(server, trained):
    success, success_inbox = server.topic_with_queue()
    error, error_inbox = server.topic_with_queue()
    endpoint = server.deploy(
        trained,
        async_config(
            "ok", success=f"srn:shipyard:topic/{success}", error=error,
            include=["SUCCESS_NOTIFICATION_TOPIC"],
        ),
    )  # fmt: skip
    described = server.get(f"/api/v1/endpoint-configs/{endpoint}").json()
    output_config = described["async_inference_config"]["output_config"]
    assert output_config["s3_output_path"] == "shipyard://async-results/ok"
    assert output_config["notification_config"]["success_topic"] == success  # a name, stored
    assert described["async_inference_config"]["client_config"] == {
        "max_concurrent_invocations_per_instance": 4
    }
    body = trained.body(5)
    realtime = server.post(
        f"/api/v1/endpoints/{endpoint}/invocations",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert realtime.status_code == 200, realtime.text

    response = server.invoke_async(endpoint, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    inference_id = accepted["inference_id"]
    assert set(accepted) == {"inference_id", "output_location", "failure_location", "status"}
    assert accepted["output_location"] == f"shipyard://async-results/ok/{inference_id}.out"
    assert accepted["failure_location"] == (
        f"shipyard://async-results/ok/{inference_id}.error.json"
    )
    assert response.headers["location"] == (
        f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}"
    )
    assert response.headers["x-shipyard-output-location"] == accepted["output_location"]

    done = server.wait_for_end(endpoint, inference_id)
    assert done["status"] == "Completed", done
    assert done["attempts"] == 1 and done["variant_name"] == "AllTraffic"
    assert done["output_content_type"] == "application/json"
    assert done["failure_reason"] is None and done["ended_at"] >= done["started_at"]
    assert json.loads(stored(server, accepted["output_location"])) == realtime.json()
    result = server.get(f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}/result")
    assert result.status_code == 200 and result.json() == realtime.json()
    assert result.headers["content-type"].startswith("application/json")

    (note,) = server.received(success_inbox, 1)
    assert (
        note["topic_name"] == success and note["publisher"] == f"srn:shipyard:endpoint/{endpoint}"
    )
    message = note["message"]
    assert message["inference_id"] == inference_id and message["status"] == "Completed"
    assert message["endpoint_name"] == endpoint
    assert message["output_location"] == accepted["output_location"]
    assert json.loads(message["inference_response"]) == realtime.json()
    topic_errors = server.post(
        f"/api/v1/queues/{error_inbox}/receive", json={"max_number_of_messages": 10}
    )
    assert topic_errors.json()["messages"] == []


def test_a_model_error_fails_with_a_failure_document_and_an_error_notification(server, trained):
    error, inbox = server.topic_with_queue()
    endpoint = server.deploy(
        trained,
        async_config("bad", error=error, failure_path="shipyard://async-failures/bad"),
    )
    accepted = server.accept(endpoint, trained.body(3, mark="fault"))
    inference_id = accepted["inference_id"]
    assert accepted["failure_location"] == (
        f"shipyard://async-failures/bad/{inference_id}.error.json"
    )

    done = server.wait_for_end(endpoint, inference_id)
    assert done["status"] == "Failed"
    assert done["attempts"] == 1  # a model that raised is not tried again
    assert done["failure_reason"].startswith("ModelError: variant 'AllTraffic' failed")
    document = json.loads(stored(server, accepted["failure_location"]))
    assert document["error_code"] == "ModelError" and document["status"] == "Failed"
    assert document["inference_id"] == inference_id
    assert document["failure_reason"] == done["failure_reason"]
    assert not server.context.store.exists(key_from_uri(accepted["output_location"]))
    result = server.get(f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}/result")
    assert result.status_code == 200 and result.json() == document

    (note,) = server.received(inbox, 1)
    message = note["message"]
    assert message["status"] == "Failed" and message["inference_id"] == inference_id
    assert message["failure_location"] == accepted["failure_location"]
    assert message["failure_reason"] == done["failure_reason"]
    assert "inference_response" not in message


def test_a_request_that_is_bad_for_the_model_fails_without_a_retry(server, trained):
    endpoint = server.deploy(trained, async_config("invalid"))
    accepted = server.accept(endpoint, b"{not json")
    done = server.wait_for_end(endpoint, accepted["inference_id"])
    assert done["status"] == "Failed" and done["attempts"] == 1
    assert done["failure_reason"].startswith("ValidationError: body: not valid JSON")


def test_an_inference_id_names_one_request(server, trained):
    endpoint = server.deploy(trained, async_config("ids"))
    other = server.deploy(trained, async_config("ids-other"))
    body = trained.body(2)
    first = server.accept(endpoint, body, X_Shipyard_Inference_Id="order-17.a_b")
    assert first["inference_id"] == "order-17.a_b"
    again = server.accept(endpoint, body, X_Shipyard_Inference_Id="order-17.a_b")
    assert again["inference_id"] == first["inference_id"]
    assert again["output_location"] == first["output_location"]
    server.wait_for_end(endpoint, "order-17.a_b")
    after = server.accept(endpoint, body, X_Shipyard_Inference_Id="order-17.a_b")
    assert after["status"] == "Completed"  # the record, not a second request
    assert server.inference(endpoint, "order-17.a_b")["attempts"] == 1
    listed = server.get(f"/api/v1/endpoints/{endpoint}/async-invocations").json()["items"]
    assert [item["inference_id"] for item in listed] == ["order-17.a_b"]
    inputs = server.context.store.list(f"async-inference-inputs/{endpoint}")
    assert inputs == []  # a replay stores nothing, and an answered request's body is gone

    different = server.invoke_async(
        endpoint, trained.body(3), X_Shipyard_Inference_Id="order-17.a_b"
    )
    assert_error(different, 409, "X-Shipyard-Inference-Id", "different request")
    elsewhere = server.invoke_async(other, body, X_Shipyard_Inference_Id="order-17.a_b")
    assert_error(elsewhere, 409, "X-Shipyard-Inference-Id", endpoint)


def test_an_input_location_instead_of_a_body(server, trained):
    endpoint = server.deploy(trained, async_config("located"))
    body = trained.body(4)
    server.context.store.put_bytes("requests/batch-1.json", body)
    by_query = server.invoke_async(
        endpoint, params={"input_location": "shipyard://requests/batch-1.json"}
    )
    assert by_query.status_code == 202, by_query.text
    by_header = server.invoke_async(
        endpoint, X_Shipyard_Input_Location="shipyard://requests/batch-1.json"
    )
    assert by_header.status_code == 202, by_header.text
    realtime = server.post(
        f"/api/v1/endpoints/{endpoint}/invocations",
        content=body,
        headers={"Content-Type": "application/json"},
    ).json()
    for accepted in (by_query.json(), by_header.json()):
        done = server.wait_for_end(endpoint, accepted["inference_id"])
        assert done["status"] == "Completed", done
        assert done["input_location"] == "shipyard://requests/batch-1.json"
        assert json.loads(stored(server, accepted["output_location"])) == realtime


def test_csv_in_and_out(server, trained):
    endpoint = server.deploy(trained, async_config("csv"))
    rows = trained.features.head(3).to_csv(header=False, index=False).encode()
    accepted = server.accept(endpoint, rows, content_type="text/csv", Accept="text/csv")
    done = server.wait_for_end(endpoint, accepted["inference_id"])
    assert done["status"] == "Completed" and done["output_content_type"] == "text/csv"
    assert done["content_type"] == "text/csv" and done["accept"] == "text/csv"
    lines = stored(server, accepted["output_location"]).decode().splitlines()
    assert len(lines) == 3 and set(lines) <= {"0", "1"}


def test_a_request_not_started_within_its_ttl_expires(start_server, trained, faults):
    with start_server() as server:  # no worker yet: requests wait in the queue
        error, inbox = server.topic_with_queue()
        endpoint = server.deploy(trained, async_config("ttl", error=error))
        short = server.accept(endpoint, trained.body(1), X_Shipyard_Request_TTL_Seconds="60")
        long = server.accept(endpoint, trained.body(1))
        described = server.inference(endpoint, short["inference_id"])
        assert described["status"] == "Queued" and described["request_ttl_seconds"] == 60
        assert server.inference(endpoint, long["inference_id"])["request_ttl_seconds"] == 21600

        worker = AsyncInferenceWorker(server.context)  # one pass, a minute from now
        worker.run_once(now=utcnow() + timedelta(seconds=61))
        expired = server.inference(endpoint, short["inference_id"])
        assert expired["status"] == "Expired" and expired["attempts"] == 0
        assert expired["failure_reason"] == "RequestExpired: not started within its TTL of 60 s"
        document = json.loads(stored(server, short["failure_location"]))
        assert document["status"] == "Expired" and document["error_code"] == "RequestExpired"
        (note,) = server.received(inbox, 1)
        assert note["message"]["status"] == "Expired"
        assert note["message"]["inference_id"] == short["inference_id"]

        server.start_worker()
        assert server.wait_for_end(endpoint, long["inference_id"])["status"] == "Completed"
        assert server.inference(endpoint, short["inference_id"])["status"] == "Expired"


def test_an_invocation_that_overruns_its_timeout_fails(server, trained):
    endpoint = server.deploy(trained, async_config("slow"))
    accepted = server.accept(
        endpoint, trained.body(1, mark="stuck"), X_Shipyard_Invocation_Timeout_Seconds="1"
    )
    done = server.wait_for_end(endpoint, accepted["inference_id"], timeout=20)
    assert done["status"] == "Failed" and done["invocation_timeout_seconds"] == 1
    assert done["failure_reason"] == "InvocationTimeout: no answer within 1 s"
    document = json.loads(stored(server, accepted["failure_location"]))
    assert document["error_code"] == "InvocationTimeout"


def most_in_flight(server: Any, endpoint: str, ids: list[str]) -> tuple[int, list[dict]]:
    """The most requests of ``endpoint`` in flight at once until ``ids`` ended, and their ends."""
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, server.worker.in_flight(endpoint))
            stop.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ends = [server.wait_for_end(endpoint, inference_id, timeout=30) for inference_id in ids]
    finally:
        stop.set()
        watcher.join()
    assert [end["status"] for end in ends] == ["Completed"] * len(ids), ends
    return most, ends


def test_at_most_the_configured_requests_are_in_flight(server, trained):
    endpoint = server.deploy(trained, async_config("one-at-a-time", concurrency=1))
    ids = [server.accept(endpoint, trained.body(1, mark="slow"))["inference_id"] for _ in range(3)]
    most, ends = most_in_flight(server, endpoint, ids)
    assert most == 1
    # one after the other: each started once the one before it had ended
    ordered = sorted(ends, key=lambda end: end["started_at"])
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert after["started_at"] >= before["ended_at"]


def test_the_limit_is_per_instance_up(server, trained):
    endpoint = server.deploy(trained, async_config("two-up", concurrency=1), instances=2)
    ids = [server.accept(endpoint, trained.body(1, mark="slow"))["inference_id"] for _ in range(4)]
    most, _ = most_in_flight(server, endpoint, ids)
    assert most == 2


def test_an_instance_lost_mid_call_is_answered_all_the_same(server, trained):
    endpoint = server.deploy(trained, async_config("lost"))
    accepted = server.accept(endpoint, trained.body(1, mark="slow"))
    inference_id = accepted["inference_id"]
    server.wait_for(
        f"/api/v1/endpoints/{endpoint}/async-invocations/{inference_id}", ("InProgress",)
    )
    deployment = server.context.extras["model_host"].deployment(endpoint)
    (instance,) = deployment.variants[0].fleet.instances
    os.kill(instance.pid, signal.SIGKILL)
    done = server.wait_for_end(endpoint, inference_id, timeout=60)
    assert done["status"] == "Completed", done
    assert json.loads(stored(server, accepted["output_location"]))["predictions"]


def test_list_filters_by_status_and_pages(start_server, trained):
    with start_server() as server:
        endpoint = server.deploy(trained, async_config("listed"), wait=False)
        ids = [server.accept(endpoint, trained.body(1, start=i))["inference_id"] for i in range(3)]
        path = f"/api/v1/endpoints/{endpoint}/async-invocations"
        page = server.get(path, params={"limit": 2}).json()
        assert [item["inference_id"] for item in page["items"]] == ids[::-1][:2]  # newest first
        rest = server.get(path, params={"limit": 2, "next_token": page["next_token"]}).json()
        assert [item["inference_id"] for item in rest["items"]] == ids[:1]
        assert rest["next_token"] is None
        queued = server.get(path, params={"status": "Queued"}).json()["items"]
        assert len(queued) == 3 and all(item["next_attempt_at"] for item in queued)
        assert server.get(path, params={"status": "Completed"}).json()["items"] == []
        assert_error(server.get(path, params={"status": "Done"}), 400, "status")
        assert_error(server.get(f"/api/v1/endpoints/{endpoint}/async-invocations/nope"), 404)
        pending = server.get(f"{path}/{ids[0]}/result")
        assert_error(pending, 409, "Queued")
        assert_error(server.get("/api/v1/endpoints/no-such-ep/async-invocations"), 404)


def test_the_backlog_goes_to_the_metrics(start_server, trained):
    with start_server() as server:
        endpoint = server.deploy(trained, async_config("backlog"), wait=False)
        for i in range(3):
            server.accept(endpoint, trained.body(1, start=i))
        assert server.post(f"/api/v1/endpoints/{endpoint}/stop").status_code == 200
        worker = AsyncInferenceWorker(server.context)
        worker.report_backlog()
        server.context.extras["metrics"].flush()
        dimensions = {"EndpointName": endpoint}
        [size] = statistics(server, "ApproximateBacklogSize", dimensions, "Maximum")
        assert size["values"]["Maximum"] == 3
        [per_instance] = statistics(
            server, "ApproximateBacklogSizePerInstance", dimensions, "Maximum"
        )
        assert per_instance["values"]["Maximum"] == 3
        [age] = statistics(server, "ApproximateAgeOfOldestRequest", dimensions, "Maximum")
        assert age["unit"] == "Seconds" and age["values"]["Maximum"] >= 0
        [stuck] = statistics(server, "HasBacklogWithoutCapacity", dimensions, "Maximum")
        assert stuck["values"]["Maximum"] == 1  # stopped: nothing answers its backlog


def statistics(server: Any, name: str, dimensions: dict[str, str], *stats: str) -> list:
    now = utcnow()
    response = server.post(
        "/api/v1/metrics/statistics",
        json={
            "namespace": "Shipyard/Endpoints",
            "metric_name": name,
            "dimensions": dimensions,
            "start_time": (now - timedelta(hours=1)).isoformat(),
            "end_time": (now + timedelta(minutes=1)).isoformat(),
            "period": WEEK,
            "statistics": list(stats),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["datapoints"]


# ---- refused --------------------------------------------------------------------------
def test_bad_requests_are_refused_naming_the_field(start_server, trained):
    with start_server(max_payload_bytes=4096) as server:
        plain = server.deploy(trained, None, wait=False)
        assert_error(
            server.invoke_async(plain, trained.body(1)), 409, "async_inference_config", plain
        )
        endpoint = server.deploy(trained, async_config("refusals"), wait=False)
        refusals = [
            (server.invoke_async(endpoint, b""), 400, "body", "input_location"),
            (server.invoke_async(endpoint, b"x" * 5000), 413, "4096"),
            (
                server.invoke_async(endpoint, params={"input_location": "/etc/passwd"}),
                400, "input_location", "shipyard://",
            ),
            (
                server.invoke_async(endpoint, params={"input_location": "shipyard://no/such"}),
                400, "input_location", "no object",
            ),
            (
                server.invoke_async(endpoint, params={"input_location": "shipyard://a/../b"}),
                400, "input_location",
            ),
            (
                server.invoke_async(
                    endpoint, b"[]", params={"input_location": "shipyard://requests/x"}
                ),
                400, "input_location", "not both",
            ),
            (
                server.invoke_async(endpoint, b"[]", X_Shipyard_Request_TTL_Seconds="59"),
                400, "X-Shipyard-Request-TTL-Seconds", "60 to 21600",
            ),
            (
                server.invoke_async(endpoint, b"[]", X_Shipyard_Request_TTL_Seconds="soon"),
                400, "X-Shipyard-Request-TTL-Seconds",
            ),
            (
                server.invoke_async(endpoint, b"[]", X_Shipyard_Invocation_Timeout_Seconds="0"),
                400, "X-Shipyard-Invocation-Timeout-Seconds", "1 to 3600",
            ),
            (
                server.invoke_async(endpoint, b"[]", X_Shipyard_Inference_Id="a/b"),
                400, "X-Shipyard-Inference-Id",
            ),
            (
                server.invoke_async(endpoint, b"[]", X_Shipyard_Inference_Id="x" * 65),
                400, "X-Shipyard-Inference-Id",
            ),
            (server.invoke_async("no-such-endpoint", b"[]"), 404, "no-such-endpoint"),
        ]  # fmt: skip
        for response, status, *needles in refusals:
            assert_error(response, status, *needles)
        server.context.store.put_bytes("requests/big.json", b"[" + b"1," * 3000 + b"1]")
        too_big = server.invoke_async(
            endpoint, params={"input_location": "shipyard://requests/big.json"}
        )
        assert_error(too_big, 413, "input_location", "4096")
        assert server.get(f"/api/v1/endpoints/{endpoint}/async-invocations").json()["items"] == []
        assert server.context.store.list(f"async-inference-inputs/{endpoint}") == []

        stopped = server.post(f"/api/v1/endpoints/{endpoint}/stop")
        assert stopped.status_code == 200, stopped.text
        assert_error(server.invoke_async(endpoint, b"[]"), 409, "OutOfService")


def test_a_bad_async_config_is_refused_naming_the_field(start_server, trained):
    with start_server() as server:
        name = server.model(trained)
        topic, _ = server.topic_with_queue()
        base = "async_inference_config.output_config"
        cases = [
            ({"output_config": {"s3_output_path": "/tmp/out"}}, f"{base}.s3_output_path"),
            ({"output_config": {"s3_output_path": "shipyard://a/../b"}}, f"{base}.s3_output_path"),
            (
                {"output_config": {"s3_output_path": "shipyard://ok", "s3_failure_path": "s3://x"}},
                f"{base}.s3_failure_path",
            ),
            (
                {"output_config": {"s3_output_path": "shipyard://ok",
                                   "notification_config": {"success_topic": "no-such-topic"}}},
                f"{base}.notification_config.success_topic",
            ),
            (
                {"output_config": {"s3_output_path": "shipyard://ok",
                                   "notification_config": {
                                       "success_topic": topic,
                                       "error_topic": "srn:shipyard:topic/gone"}}},
                f"{base}.notification_config.error_topic",
            ),
            (
                {"output_config": {"s3_output_path": "shipyard://ok"},
                 "client_config": {"max_concurrent_invocations_per_instance": 0}},
                "async_inference_config.client_config.max_concurrent_invocations_per_instance",
            ),
            (
                {"output_config": {"s3_output_path": "shipyard://ok"},
                 "client_config": {"max_concurrent_invocations_per_instance": 1001}},
                "async_inference_config.client_config.max_concurrent_invocations_per_instance",
            ),
            ({"output_config": {}}, f"{base}.s3_output_path"),
            ({"output_config": {"s3_output_path": "shipyard://ok", "kms": 1}}, f"{base}.kms"),
        ]  # fmt: skip
        for index, (config, field) in enumerate(cases):
            response = server.post(
                "/api/v1/endpoint-configs",
                json={
                    "name": f"bad-async-{index}",
                    "production_variants": [{"model_name": name}],
                    "async_inference_config": config,
                },
            )
            assert_error(response, 400, field)
            assert server.get(f"/api/v1/endpoint-configs/bad-async-{index}").status_code == 404


@pytest.mark.parametrize("path", ["", "/an-id", "/an-id/result"])
def test_a_caller_without_the_permission_is_refused_first(start_server, path):
    with start_server() as server:
        from shipyard.security.service import create_api_key, ensure_user

        with server.context.db.session_scope() as session:
            ensure_user(session, "nobody", [])
            key = create_api_key(session, "nobody", "no policies")
        headers = {"Authorization": f"Bearer {key}"}
        url = f"/api/v1/endpoints/no-such-endpoint/async-invocations{path}"
        if path:
            response = server.client.get(url, headers=headers)
        else:
            response = server.client.post(url, content=b"", headers=headers)
        assert_error(response, 403, "nobody", "srn:shipyard:endpoint/no-such-endpoint")
