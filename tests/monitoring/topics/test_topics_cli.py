"""``shipyard topics …`` through the real entry point against a live server: create,
subscribe a queue, publish, read the delivery log, unsubscribe, delete; bad input is a
one-line error and exit code 1."""

from __future__ import annotations

import json
import uuid

from cli_testing import assert_one_line_error, shipyard_cli

from shipyard.sdk.client import Session
from shipyard.sdk.topics import Queue, Topic


def test_the_topics_commands(live_server) -> None:
    env = live_server.env
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = shipyard_cli(
        "topics", "create", name, "--display-name", "On call", "--tag", "team=ml", "--json", env=env
    )
    assert json.loads(created.stdout)["tags"] == {"team": "ml"}
    subscription = json.loads(
        shipyard_cli(
            "topics", "subscribe", name, "queue", f"{name}-inbox", "--json", env=env
        ).stdout
    )
    listed = json.loads(shipyard_cli("topics", "subscriptions", name, "--json", env=env).stdout)
    assert [s["id"] for s in listed] == [subscription["id"]]
    assert name in shipyard_cli("topics", "list", env=env).stdout
    described = json.loads(shipyard_cli("topics", "describe", name, "--json", env=env).stdout)
    assert described["subscription_count"] == 1

    published = shipyard_cli(
        "topics", "publish", name, '{"auc": 0.97}', "--subject", "Retrained", "--json", env=env
    )
    message_id = json.loads(published.stdout)["message_id"]

    def delivered() -> list[dict]:
        log = json.loads(shipyard_cli("topics", "deliveries", name, "--json", env=env).stdout)
        return [d for d in log if d["status"] == "Delivered" and d["message_id"] == message_id]

    live_server.wait_for(delivered, "the delivery")
    table = shipyard_cli("topics", "deliveries", name, "--status", "Delivered", env=env).stdout
    assert "Delivered" in table

    refused = shipyard_cli(
        "topics", "subscribe", name, "webhook", "http://169.254.169.254/latest", env=env, expect=1
    )
    assert_one_line_error(refused, "ValidationError", "endpoint", "metadata")
    not_json = shipyard_cli("topics", "publish", name, "{nope", env=env, expect=1)
    assert_one_line_error(not_json, "ValidationError", "message")

    shipyard_cli("topics", "unsubscribe", name, subscription["id"], env=env)
    shipyard_cli("topics", "delete", name, env=env)
    missing = shipyard_cli("topics", "describe", name, env=env, expect=1)
    assert_one_line_error(missing, "NotFound", name)


def test_the_sdk_publishes_and_reads_a_queue(live_server) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    with Session(url=live_server.url, token=live_server.token) as session:
        topic = Topic(name, session).create(display_name="SDK")
        topic.subscribe("queue", f"{name}-q")
        message_id = topic.publish("hello", {"n": 1})
        queue = Queue(f"{name}-q", session)
        (message,) = live_server.wait_for(
            lambda: queue.receive(max_number_of_messages=10, visibility_timeout_seconds=60),
            "the queued message",
        )
        assert message["body"]["message_id"] == message_id
        assert message["body"]["message"] == {"n": 1}
        assert queue.delete(message["receipt_handle"])["deleted"] == [message["receipt_handle"]]
        (delivery,) = topic.deliveries(status="Delivered")
        assert delivery["protocol"] == "queue" and topic.describe()["display_name"] == "SDK"
        topic.delete()
