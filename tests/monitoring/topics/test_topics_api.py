"""The topics and queues REST API on an in-process server: topics, subscriptions checked up
front (400 naming ``endpoint``), publish, the delivery log, queue receive and delete."""

from __future__ import annotations

import json
import warnings

import pytest

with warnings.catch_warnings():  # starlette warns on import when httpx2 is not installed
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.monitoring.topics import service
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app


def deliver(settings: Settings) -> int:
    db = Database(settings.resolved_database_url)
    try:
        return service.deliver_due(db, settings)
    finally:
        db.dispose()


def test_topics_subscriptions_publish_and_the_delivery_log(api, webhook_receiver) -> None:
    created = api.post(
        "/api/v1/topics", json={"name": "ops", "display_name": "On call", "tags": {"team": "ml"}}
    )
    assert created.status_code == 201, created.text
    assert created.json()["srn"] == "srn:shipyard:topic/ops"
    assert api.post("/api/v1/topics", json={"name": "ops"}).status_code == 409
    assert api.get("/api/v1/topics/nope").status_code == 404

    hook = api.post(
        "/api/v1/topics/ops/subscriptions",
        json={"protocol": "webhook", "endpoint": f"{webhook_receiver.url}/hook"},
    )
    assert hook.status_code == 201, hook.text
    queue = api.post(
        "/api/v1/topics/ops/subscriptions", json={"protocol": "queue", "endpoint": "inbox"}
    ).json()
    again = api.post(
        "/api/v1/topics/ops/subscriptions", json={"protocol": "queue", "endpoint": "inbox"}
    )
    assert again.json()["id"] == queue["id"]  # subscribing twice is one subscription
    listed = api.get("/api/v1/topics/ops/subscriptions").json()["items"]
    assert {s["protocol"] for s in listed} == {"webhook", "queue"}
    assert api.get("/api/v1/topics/ops").json()["subscription_count"] == 2

    published = api.post(
        "/api/v1/topics/ops/publish", json={"subject": "hi", "message": {"AlarmName": "x"}}
    )
    assert published.status_code == 200, published.text
    assert published.json()["deliveries"] == 2
    log = api.get("/api/v1/topics/ops/deliveries").json()["items"]
    assert {d["status"] for d in log} == {"Pending"}

    assert deliver(api.settings) == 2
    log = api.get("/api/v1/topics/ops/deliveries").json()["items"]
    assert {(d["protocol"], d["status"]) for d in log} == {
        ("webhook", "Delivered"),
        ("queue", "Delivered"),
    }
    assert all(d["subject"] == "hi" and d["attempts"] == 1 for d in log)
    assert api.get("/api/v1/topics/ops/deliveries?status=Failed").json()["items"] == []
    (request,) = webhook_receiver.received("/hook")
    assert json.loads(request.body)["message"] == {"AlarmName": "x"}

    received = api.post(
        "/api/v1/queues/inbox/receive",
        json={"max_number_of_messages": 10, "visibility_timeout_seconds": 60},
    )
    (message,) = received.json()["messages"]
    assert message["body"]["subject"] == "hi"
    assert api.post("/api/v1/queues/inbox/receive", json={}).json()["messages"] == []
    deleted = api.post(
        "/api/v1/queues/inbox/delete", json={"receipt_handles": [message["receipt_handle"]]}
    )
    assert deleted.json() == {"deleted": [message["receipt_handle"]], "failed": []}
    too_many = api.post("/api/v1/queues/inbox/receive", json={"max_number_of_messages": 11})
    assert too_many.status_code == 400 and "max_number_of_messages" in too_many.text

    gone = api.delete(f"/api/v1/topics/ops/subscriptions/{queue['id']}")
    assert gone.status_code == 204
    assert api.delete(f"/api/v1/topics/ops/subscriptions/{queue['id']}").status_code == 404
    assert api.delete("/api/v1/topics/ops").status_code == 204
    assert api.get("/api/v1/topics").json()["items"] == []


def test_publishing_to_a_topic_without_subscriptions(api) -> None:
    api.post("/api/v1/topics", json={"name": "quiet"})
    published = api.post("/api/v1/topics/quiet/publish", json={"message": {"a": 1}})
    assert published.status_code == 200 and published.json()["deliveries"] == 0
    assert api.get("/api/v1/topics/quiet/deliveries").json()["items"] == []
    assert api.post("/api/v1/topics/nope/publish", json={"message": {}}).status_code == 404
    bad = api.post("/api/v1/topics/quiet/publish", json={"message": "text"})
    assert bad.status_code == 400 and "message" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("protocol", "endpoint", "reason"),
    [
        ("webhook", "http://169.254.169.254/latest/meta-data/", "metadata"),
        ("slack", "http://[fe80::1]/hook", "link-local"),
        ("webhook", "http://[fd00:ec2::254]/", "metadata"),
        ("webhook", "ftp://example.com/hook", "http"),
        ("slack", "not a url", "http"),
        ("email", "not-an-address", "email address"),
        ("email", "ops@example.com\r\nBcc: x@example.com", "email address"),
        ("queue", "../etc", "not a valid name"),
    ],
)
def test_bad_endpoints_are_refused_naming_endpoint(api, protocol, endpoint, reason) -> None:
    api.post("/api/v1/topics", json={"name": "ops"})
    response = api.post(
        "/api/v1/topics/ops/subscriptions", json={"protocol": protocol, "endpoint": endpoint}
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("endpoint:") and reason in message


def test_loopback_is_refused_without_the_setting(tmp_path) -> None:
    settings = Settings(
        home=tmp_path / "home", run_worker=False, run_scheduler=False, load_quickstart=False
    )
    context = build_context(settings)
    headers = {"Authorization": f"Bearer {bootstrap_admin(context.db)}"}
    try:
        with TestClient(create_app(settings, context)) as client:
            client.post("/api/v1/topics", json={"name": "ops"}, headers=headers)
            for protocol in ("webhook", "slack"):
                response = client.post(
                    "/api/v1/topics/ops/subscriptions",
                    json={"protocol": protocol, "endpoint": "http://localhost/hook"},
                    headers=headers,
                )
                assert response.status_code == 400, response.text
                message = response.json()["error"]["message"]
                assert message.startswith("endpoint:")
                assert "SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES" in message
    finally:
        context.db.dispose()


def test_an_unknown_protocol_is_a_400(api) -> None:
    api.post("/api/v1/topics", json={"name": "ops"})
    response = api.post(
        "/api/v1/topics/ops/subscriptions", json={"protocol": "sms", "endpoint": "+1555"}
    )
    assert response.status_code == 400 and "protocol" in response.json()["error"]["message"]
