"""The topics console pages over plain HTTP, against the in-process app of ``api``:
the list links each topic; a topic shows its subscriptions and its delivery log, escaped."""

from __future__ import annotations

from console_testing import log_in

from shipyard.core.db import Database
from shipyard.monitoring.topics import service


def test_the_topic_pages_show_subscriptions_and_deliveries(api) -> None:
    assert log_in(api.client, api.token).status_code == 303
    empty = api.client.get("/console/topics")
    assert empty.status_code == 200 and "No topics yet" in empty.text

    api.post("/api/v1/topics", json={"name": "ops", "display_name": "<b>On call</b>"})
    api.post("/api/v1/topics/ops/subscriptions", json={"protocol": "queue", "endpoint": "inbox"})
    api.post(
        "/api/v1/topics/ops/subscriptions",
        json={"protocol": "email", "endpoint": "oncall@example.com"},
    )
    api.post("/api/v1/topics/ops/publish", json={"subject": "Retrained", "message": {"a": 1}})
    db = Database(api.settings.resolved_database_url)
    try:
        assert service.deliver_due(db, api.settings) == 2
    finally:
        db.dispose()

    listing = api.client.get("/console/topics")
    assert 'href="/console/topics/ops"' in listing.text
    assert "&lt;b&gt;On call&lt;/b&gt;" in listing.text and "<b>On call" not in listing.text
    page = api.client.get("/console/topics/ops")
    assert page.status_code == 200
    assert "inbox" in page.text and "oncall@example.com" in page.text
    assert page.text.count("Retrained") == 2
    assert "badge-ok" in page.text and "Delivered" in page.text
    assert "badge-bad" in page.text and "SHIPYARD_SMTP_HOST" in page.text  # no SMTP server
    missing = api.client.get("/console/topics/nope")
    assert missing.status_code == 404 and "not found" in missing.text


def test_the_topic_pages_need_a_session(api) -> None:
    response = api.client.get("/console/topics", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")
