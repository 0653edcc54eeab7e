"""The Notify outbox on a DB, without a server: findings become deliveries once per rule,
from the configured URLs only; retries end Failed after MAX_ATTEMPTS; the relay of a job
finishes when the job has ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.compute import service as compute
from shipyard.compute.models import Job
from shipyard.compute.schemas import JobSpec
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.webhooks import MAX_ATTEMPTS
from shipyard.debugger import notifications, service
from shipyard.debugger.engine import NOTIFICATION_KIND
from shipyard.debugger.models import DebuggerJobConfiguration
from shipyard.debugger.schemas import Rule


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", webhook_allow_private_addresses=True)


def debugged_job(db: Database, settings: Settings, url: str) -> str:
    """A queued training job whose rule ``nan-watch`` notifies ``url``; its job id."""
    rules = [Rule("exploding_tensor", name="nan-watch",
                  actions=[{"type": "Notify", "webhook_url": url}])]  # fmt: skip
    configuration = service.check_configuration(None, rules, script_mode=True, settings=settings)
    with db.session_scope() as session:
        job = compute.create_job(
            session, kind="training", name="nan-job", spec=JobSpec(entrypoint="x"), owner="me",
            max_runtime_seconds=60,
        )  # fmt: skip
        service.save_configuration(session, job.id, configuration)
        return job.id


def record(db: Database, job_id: str, rule: str, step: int, **data: str) -> None:
    event = compute.EventRecord(
        NOTIFICATION_KIND,
        step,
        {"rule_configuration_name": rule, "rule": "exploding_tensor", **data},
        utcnow(),
    )
    compute.append_output(db, job_id, [], [], [event])


def test_retries_end_failed_after_max_attempts_and_each_rule_notifies_once(
    db, settings, webhook_receiver, monkeypatch
) -> None:
    monkeypatch.setattr(notifications, "retry_delay", lambda attempts: 0.0)
    webhook_receiver.answer("/down", 500)
    job_id = debugged_job(db, settings, f"{webhook_receiver.url}/down")
    record(db, job_id, "nan-watch", 3, status_details="the train loss holds 1 NaN value")
    record(db, job_id, "nan-watch", 9, status_details="again")  # the rule already notified
    record(db, job_id, "not-a-rule", 4, status_details="forged by the script")
    record(db, job_id, "nan-watch", 5)  # no details: not a finding

    assert notifications.relay_notifications(db) == 1
    assert notifications.relay_notifications(db) == 0  # the job's events are relayed once
    attempts = [notifications.deliver_due(db, settings) for _ in range(MAX_ATTEMPTS + 1)]

    assert attempts == [1] * MAX_ATTEMPTS + [0]
    assert len(webhook_receiver.received("/down")) == MAX_ATTEMPTS
    with db.session_scope() as session:
        (delivery,) = notifications.list_deliveries(session, job_id)
    assert (delivery.status, delivery.attempts, delivery.step) == ("Failed", MAX_ATTEMPTS, 3)
    assert delivery.last_error == "the receiver answered 500"
    assert delivery.webhook_url == f"{webhook_receiver.url}/down"
    assert delivery.training_job_name == "nan-job" and delivery.next_attempt_at is None


def test_a_pending_delivery_waits_for_its_retry_time(db, settings, webhook_receiver) -> None:
    webhook_receiver.answer("/later", 503)
    job_id = debugged_job(db, settings, f"{webhook_receiver.url}/later")
    record(db, job_id, "nan-watch", 0, status_details="NaN")
    notifications.relay_notifications(db)

    assert notifications.deliver_due(db, settings) == 1
    assert notifications.deliver_due(db, settings) == 0  # the next attempt is 5 s away
    with db.session_scope() as session:
        (delivery,) = notifications.list_deliveries(session, job_id)
    assert (delivery.status, delivery.attempts) == ("Pending", 1)
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow()


def test_the_relay_of_a_job_finishes_once_the_job_has_ended(db, settings) -> None:
    job_id = debugged_job(db, settings, "http://127.0.0.1:9/hook")
    notifications.relay_notifications(db)
    with db.session_scope() as session:
        assert session.get(DebuggerJobConfiguration, job_id).relay_finished is False
        session.get(Job, job_id).status = "Completed"
    notifications.relay_notifications(db)
    with db.session_scope() as session:
        assert session.get(DebuggerJobConfiguration, job_id).relay_finished is True
