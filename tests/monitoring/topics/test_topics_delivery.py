"""Delivery on each DB backend, without a server: publish is durable in the caller's
transaction; webhooks are signed, retried, never redirected; Slack gets its payload; email
reaches an SMTP server; queues hand messages out under a visibility timeout; several
processes never make the same attempt."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from shipyard.core.clock import utcnow
from shipyard.core.errors import NotFound, ValidationError
from shipyard.core.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, signature, webhook_secret
from shipyard.monitoring.topics import queues, service
from shipyard.monitoring.topics.models import TopicDelivery
from shipyard.monitoring.topics.schemas import SubscriptionIn, TopicIn

ALARM = {
    "AlarmName": "p99-latency",
    "AlarmDescription": "fraud endpoint answers slowly",
    "NewStateValue": "ALARM",
    "OldStateValue": "OK",
    "NewStateReason": "Threshold Crossed: 3 datapoints were greater than 250.0",
    "StateChangeTime": "2026-12-02T10:00:00+00:00",
    "Trigger": {"MetricName": "ModelLatency", "Threshold": 250.0},
}


def topic_with(db, settings, *subscriptions: tuple[str, str], name: str = "ops") -> list[str]:
    """A topic ``name`` with these (protocol, endpoint) subscriptions; their ids."""
    with db.session_scope() as session:
        service.create_topic(session, TopicIn(name=name), "admin")
        return [
            service.subscribe(
                session,
                settings,
                name,
                SubscriptionIn(protocol=protocol, endpoint=endpoint),
                "admin",
            ).id
            for protocol, endpoint in subscriptions
        ]


def publish(db, subject: str = "hello", message: dict | None = None, topic: str = "ops") -> str:
    with db.session_scope() as session:
        return service.publish(
            session, topic, subject=subject, message=message or {"n": 1}, publisher="admin"
        )


def deliveries(db, topic: str = "ops") -> list:
    with db.session_scope() as session:
        return service.list_deliveries(session, topic)


def test_a_webhook_gets_the_signed_message(database, settings, webhook_receiver) -> None:
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/hook"))
    message_id = publish(database, "alarm", ALARM)

    assert service.deliver_due(database, settings) == 1
    (request,) = webhook_receiver.received("/hook")
    timestamp = int(request.headers["X-Shipyard-Timestamp"])
    secret = webhook_secret(settings.home)
    assert request.headers[SIGNATURE_HEADER] == signature(secret, timestamp, request.body)
    body = json.loads(request.body)
    assert body["type"] == "monitoring.topic_notification"
    assert body["message_id"] == message_id
    assert body["topic_name"] == "ops" and body["topic_srn"] == "srn:shipyard:topic/ops"
    assert body["subject"] == "alarm" and body["message"] == ALARM
    (delivery,) = deliveries(database)
    assert delivery.status == "Delivered" and delivery.response_status == 200
    assert request.headers["X-Shipyard-Delivery"] == delivery.id
    assert service.deliver_due(database, settings) == 0


def test_a_message_is_only_as_durable_as_the_callers_transaction(database, settings) -> None:
    topic_with(database, settings, ("queue", "inbox"))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), database.session_scope() as session:
        service.publish(session, "ops", subject="s", message={"a": 1}, publisher="me")
        raise Abort
    assert deliveries(database) == []
    publish(database)
    assert [d.status for d in deliveries(database)] == ["Pending"]


def test_retries_then_success_with_the_same_delivery_id(
    database, settings, webhook_receiver, no_backoff
) -> None:
    webhook_receiver.answer("/flaky", 503, 500, 200)
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/flaky"))
    publish(database)

    assert [service.deliver_due(database, settings) for _ in range(4)] == [1, 1, 1, 0]
    requests = webhook_receiver.received("/flaky")
    assert len(requests) == 3
    assert len({r.headers["X-Shipyard-Delivery"] for r in requests}) == 1
    (delivery,) = deliveries(database)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("Delivered", 3, 200)


def test_a_failing_receiver_ends_failed_after_max_attempts(
    database, settings, webhook_receiver, no_backoff
) -> None:
    webhook_receiver.answer("/down", 500)
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/down"))
    publish(database)

    attempts = [service.deliver_due(database, settings) for _ in range(MAX_ATTEMPTS + 1)]
    assert attempts == [1] * MAX_ATTEMPTS + [0]
    (delivery,) = deliveries(database)
    assert (delivery.status, delivery.attempts) == ("Failed", MAX_ATTEMPTS)
    assert delivery.last_error == "the receiver answered 500" and delivery.response_status == 500


def test_a_backoff_delays_the_retry(database, settings, webhook_receiver) -> None:
    webhook_receiver.answer("/slow", 500)
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/slow"))
    publish(database)
    assert service.deliver_due(database, settings) == 1
    assert service.deliver_due(database, settings) == 0  # not due for 5 seconds
    (delivery,) = deliveries(database)
    assert delivery.status == "Pending" and delivery.next_attempt_at > utcnow()


def test_a_redirect_is_not_followed(database, settings, webhook_receiver) -> None:
    webhook_receiver.answer("/moved", 302)
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/moved"))
    publish(database)

    assert service.deliver_due(database, settings) == 1
    assert webhook_receiver.received("/redirected") == []
    (delivery,) = deliveries(database)
    assert delivery.status == "Failed" and delivery.attempts == 1
    assert delivery.response_status == 302
    assert "'/redirected'" in delivery.last_error and "not followed" in delivery.last_error


def test_slack_gets_an_incoming_webhook_payload(database, settings, webhook_receiver) -> None:
    topic_with(database, settings, ("slack", f"{webhook_receiver.url}/slack"))
    publish(database, "", ALARM)
    publish(database, "Nightly retrain", {"job": "fraud-7", "auc": 0.97})
    assert service.deliver_due(database, settings) == 2

    alarm, other = sorted(
        (json.loads(r.body) for r in webhook_receiver.received("/slack")),
        key=lambda payload: "Nightly" in payload["text"],
    )
    assert set(alarm) == {"text", "blocks"}
    assert alarm["text"].startswith(":red_circle: ALARM: p99-latency")
    section = alarm["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    for part in ("*ALARM*", "p99-latency", "Threshold Crossed", "2026-12-02T10:00:00", "was OK"):
        assert part in section["text"]["text"]
    assert alarm["blocks"][1]["type"] == "context"
    assert other["text"] == "Nightly retrain"
    assert '"auc": 0.97' in other["blocks"][0]["text"]["text"]


def test_an_email_reaches_the_smtp_server(database, settings, smtp_server) -> None:
    settings = settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_from": "shipyard@example.com",
        }
    )
    topic_with(database, settings, ("email", "oncall@example.com"))
    publish(database, "ALARM: p99-latency", ALARM)

    assert service.deliver_due(database, settings) == 1
    (email,) = smtp_server.messages
    assert smtp_server.recipients[0] == ["oncall@example.com"]
    assert email["Subject"] == "ALARM: p99-latency"
    assert email["From"] == "shipyard@example.com" and email["To"] == "oncall@example.com"
    text = email.get_content()
    assert "Alarm: p99-latency" in text
    assert "State: ALARM (was OK)" in text
    assert "Reason: Threshold Crossed: 3 datapoints were greater than 250.0" in text
    (delivery,) = deliveries(database)
    assert delivery.status == "Delivered" and email["X-Shipyard-Delivery"] == delivery.id


def test_an_email_without_an_smtp_server_fails_saying_so(database, settings) -> None:
    topic_with(database, settings, ("email", "oncall@example.com"))
    publish(database)
    assert service.deliver_due(database, settings) == 1
    (delivery,) = deliveries(database)
    assert delivery.status == "Failed" and "SHIPYARD_SMTP_HOST" in delivery.last_error


def test_queues_receive_hide_and_delete(database, settings) -> None:
    topic_with(database, settings, ("queue", "inbox"))
    first, second = publish(database, "one"), publish(database, "two")
    assert service.deliver_due(database, settings) == 2
    assert {d.status for d in deliveries(database)} == {"Delivered"}

    with database.session_scope() as session:
        received = queues.receive_messages(
            session, "inbox", max_number=1, visibility_timeout_seconds=60
        )
        assert [m.body["message_id"] for m in received] == [first]
        rest = queues.receive_messages(
            session, "inbox", max_number=10, visibility_timeout_seconds=0
        )
        assert [m.body["message_id"] for m in rest] == [second]  # the first is hidden
        again = queues.receive_messages(
            session, "inbox", max_number=10, visibility_timeout_seconds=0
        )
        assert [m.body["message_id"] for m in again] == [second]  # its timeout was 0
        assert again[0].receive_count == 2 and again[0].receipt_handle != rest[0].receipt_handle
        assert again[0].body["subject"] == "two" and again[0].body["topic_name"] == "ops"

        deleted = queues.delete_messages(
            session, "inbox", [rest[0].receipt_handle, again[0].receipt_handle]
        )
        assert deleted.deleted == [again[0].receipt_handle]
        assert deleted.failed == [rest[0].receipt_handle]  # stale: received again since
        assert queues.delete_messages(session, "other", [received[0].receipt_handle]).failed
        assert (
            queues.receive_messages(session, "inbox", max_number=10, visibility_timeout_seconds=0)
            == []
        )

    # once its visibility timeout is over, the first message comes back
    with database.session_scope() as session:
        from shipyard.monitoring.topics.models import QueueMessage

        session.get(QueueMessage, received[0].message_id).visible_at = utcnow() - timedelta(1)
    with database.session_scope() as session:
        back = queues.receive_messages(
            session, "inbox", max_number=10, visibility_timeout_seconds=30
        )
        assert [m.message_id for m in back] == [received[0].message_id]
        assert queues.delete_messages(session, "inbox", [back[0].receipt_handle]).deleted


def test_publishing_without_subscriptions_stores_the_message_only(database, settings) -> None:
    topic_with(database, settings)
    assert publish(database)
    assert deliveries(database) == []
    assert service.deliver_due(database, settings) == 0


def test_publish_refuses_bad_input(database, settings) -> None:
    topic_with(database, settings)
    with pytest.raises(NotFound):
        publish(database, topic="nope")
    for subject, message, field in (
        ("two\nlines", {}, "subject"),
        ("x" * 101, {}, "subject"),
        ("ok", {"value": float("nan")}, "message"),
        ("ok", {"value": object()}, "message"),
    ):
        with pytest.raises(ValidationError) as error:
            publish(database, subject, message)
        assert error.value.field == field


def test_unsubscribing_fails_pending_deliveries_and_delete_topic_cascades(
    database, settings, webhook_receiver
) -> None:
    (webhook,) = topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/h"))
    publish(database)
    with database.session_scope() as session:
        service.unsubscribe(session, "ops", webhook)
    assert service.deliver_due(database, settings) == 0
    (delivery,) = deliveries(database)
    assert delivery.status == "Failed" and "subscription was deleted" in delivery.last_error
    with database.session_scope() as session:
        service.delete_topic(session, "ops")
    with database.session_scope() as session:
        assert session.query(TopicDelivery).count() == 0
        with pytest.raises(NotFound):
            service.describe_topic(session, "ops")


def test_several_processes_never_make_the_same_attempt(database, settings, webhook_receiver):
    topic_with(database, settings, ("webhook", f"{webhook_receiver.url}/many"))
    for n in range(12):
        publish(database, message={"n": n})
    counts: list[int] = []
    start = threading.Barrier(3)

    def run() -> None:
        start.wait()
        counts.append(service.deliver_due(database, settings, limit=5))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    while service.deliver_due(database, settings):
        pass
    received = [json.loads(r.body)["message"]["n"] for r in webhook_receiver.received("/many")]
    assert sorted(received) == list(range(12))  # each once
    assert {d.status for d in deliveries(database)} == {"Delivered"}
