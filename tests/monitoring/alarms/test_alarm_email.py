"""An alarm's transitions reach an inbox, on SQLite and PostgreSQL: a metric alarm whose
actions notify a topic with an email subscription, run by the scheduler's two duties
(``alarms.evaluate_all``, then ``topics.deliver_due``), mails an aiosmtpd server on
127.0.0.1 its name, its new state and the state reason, once for ALARM and once for OK.

The evaluator's clock is passed in: a period boundary a few minutes ahead of the wall
clock, so the alarm just put (due at once) is due and the datapoints sit in fixed periods
before it. The SMTP server has the message before ``deliver_due`` returns (aiosmtpd
answers the DATA command after its handler ran), so nothing waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from shipyard.core.artifacts import BaseArtifactStore, open_store
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.monitoring.alarms import service as alarms
from shipyard.monitoring.alarms.schemas import AlarmOut, MetricAlarmIn
from shipyard.monitoring.metrics import service as metrics
from shipyard.monitoring.metrics.schemas import MetricDatum
from shipyard.monitoring.topics import service as topics
from shipyard.monitoring.topics.schemas import SubscriptionIn, TopicIn
from shipyard.security import service as security
from shipyard.security.iam import ADMINISTRATOR_ACCESS

NAMESPACE = "Test/App"
OWNER = "alarm-owner"
ALARM_NAME = "checkout-errors"
TOPIC = "oncall"
INBOX = "oncall@example.com"
SENDER = "shipyard@example.com"
PERIOD = 60


def start_of_period(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // PERIOD * PERIOD
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def mail_settings(quiet_settings: Settings, smtp_server: Any) -> Settings:
    """The platform's SMTP settings pointing at ``smtp_server``."""
    return quiet_settings.model_copy(
        update={"smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "smtp_from": SENDER}
    )


@pytest.fixture
def store(mail_settings: Settings) -> BaseArtifactStore:
    return open_store(mail_settings.resolved_artifact_uri)


# ---- the platform's side, through the rooms' services ------------------------------------
def add_email_topic(db: Database, settings: Settings) -> None:
    with db.session_scope() as session:
        security.ensure_user(session, OWNER, [ADMINISTRATOR_ACCESS])
        topics.create_topic(session, TopicIn(name=TOPIC), OWNER)
        topics.subscribe(
            session, settings, TOPIC, SubscriptionIn(protocol="email", endpoint=INBOX), OWNER
        )


def put_alarm(db: Database) -> None:
    notify = [{"type": "notify", "topic": TOPIC}]
    request = MetricAlarmIn(
        namespace=NAMESPACE,
        metric_name="Errors",
        dimensions={"Service": "checkout"},
        statistic="Sum",
        period=PERIOD,
        evaluation_periods=1,
        threshold=5,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        description="checkout answers errors",
        alarm_actions=notify,
        ok_actions=notify,
    )
    with db.session_scope() as session:
        alarms.put_metric_alarm(session, ALARM_NAME, request, OWNER)


def put_errors(db: Database, value: float, period_start: datetime) -> None:
    datum = MetricDatum(
        metric_name="Errors",
        dimensions={"Service": "checkout"},
        value=value,
        timestamp=period_start + timedelta(seconds=1),
    )
    with db.session_scope() as session:
        metrics.put_metric_data(session, NAMESPACE, [datum])


def run_duties(
    db: Database, settings: Settings, store: BaseArtifactStore, now: datetime
) -> tuple[int, int]:
    """One tick of the alarms duty, then of the topics duty: (alarms changed, deliveries
    attempted)."""
    changed = alarms.evaluate_all(db, settings, store, now)
    return changed, topics.deliver_due(db, settings)


def describe(db: Database) -> AlarmOut:
    with db.session_scope() as session:
        return alarms.describe_alarm(session, ALARM_NAME)


def delivery_statuses(db: Database) -> list[str]:
    with db.session_scope() as session:
        return [delivery.status for delivery in topics.list_deliveries(session, TOPIC)]


# ---- what arrives ------------------------------------------------------------------------
def check_mail(mail: EmailMessage, alarm: AlarmOut, old_state: str, now: datetime) -> str:
    """The mail names the alarm, its new state (and the old one) and its reason; its body."""
    assert mail["Subject"] == f"{alarm.state_value}: {alarm.name}"
    assert (mail["From"], mail["To"]) == (SENDER, INBOX)
    assert mail["X-Shipyard-Topic"] == TOPIC
    body = mail.get_content()
    lines = body.splitlines()
    assert f"Alarm: {alarm.name}" in lines
    assert f"State: {alarm.state_value} (was {old_state})" in lines
    assert f"Reason: {alarm.state_reason}" in lines
    assert f"Time: {now.isoformat()}" in lines
    assert "Description: checkout answers errors" in lines
    return body


def test_each_transition_of_a_real_alarm_mails_its_name_state_and_reason(
    database: Database,
    mail_settings: Settings,
    store: BaseArtifactStore,
    smtp_server: Any,
) -> None:
    # the clock is taken as the test runs, not at import: the alarm put below is due at it
    now = start_of_period(datetime.now(UTC) + timedelta(minutes=5)) + timedelta(seconds=1)
    latest = start_of_period(now) - timedelta(seconds=PERIOD)  # the latest complete period
    add_email_topic(database, mail_settings)
    put_alarm(database)
    assert describe(database).state_value == "INSUFFICIENT_DATA"

    # 2 + 4 errors in the latest complete period: the Sum (6) crosses the threshold (5)
    put_errors(database, 2, latest)
    put_errors(database, 4, latest)
    assert run_duties(database, mail_settings, store, now) == (1, 1)
    alarm = describe(database)
    assert alarm.state_value == "ALARM"
    (first,) = smtp_server.messages
    body = check_mail(first, alarm, "INSUFFICIENT_DATA", now)
    crossed = (
        f"Threshold Crossed: 1 out of the last 1 datapoints [6.0 ({latest.isoformat()})] "
        "was greater than or equal to the threshold (5.0)"
    )
    assert alarm.state_reason.startswith(crossed)
    assert f"Reason: {crossed}" in body

    # the next period has 1 error: back to OK, and a second mail says so
    later = now + timedelta(seconds=PERIOD)
    put_errors(database, 1, latest + timedelta(seconds=PERIOD))
    assert run_duties(database, mail_settings, store, later) == (1, 1)
    alarm = describe(database)
    assert alarm.state_value == "OK"
    first_again, second = smtp_server.messages
    assert first_again is first
    check_mail(second, alarm, "ALARM", later)
    newest = f"[1.0 ({(latest + timedelta(seconds=PERIOD)).isoformat()})]"
    assert newest in alarm.state_reason and "the threshold (5.0)" in alarm.state_reason

    assert smtp_server.recipients == [[INBOX], [INBOX]]
    assert delivery_statuses(database) == ["Delivered", "Delivered"]
    # no new transition, no new mail
    assert run_duties(database, mail_settings, store, later + timedelta(seconds=PERIOD)) == (0, 0)
    assert len(smtp_server.messages) == 2
