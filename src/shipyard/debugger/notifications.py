"""Notify actions: a rule's finding, recorded by the job, delivered by the server.

When a rule with a Notify action finds an issue, the job's hook records a
``debugger.notification`` event. :func:`relay_notifications` turns each such event into
one delivery per Notify action of that rule *as configured when the job was created* —
a URL the job prints is never used — and :func:`deliver_due` posts each pending delivery
with :mod:`shipyard.core.webhooks`, signed, retrying with backoff: ``Pending`` →
``Delivered``, or ``Failed`` after a final error or ``MAX_ATTEMPTS`` attempts. A rule
notifies each of its webhooks once per job.

Both run as one duty of the platform's scheduler (:func:`run_notifications`), in every
``shipyard up`` and ``shipyard worker``: the rows each acts on are locked (``SKIP LOCKED``
on PostgreSQL; SQLite takes one writer at a time), and a delivery is leased while it is
posted, so several processes never post the same attempt. A process that dies mid-post
leaves the lease to expire and the attempt to be made again: receivers may see a
delivery twice, with the same ``X-Shipyard-Delivery`` id.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.models import Job
from shipyard.compute.schemas import TERMINAL_STATUSES
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.webhooks import (
    MAX_ATTEMPTS,
    TIMEOUT_SECONDS,
    AttemptOutcome,
    post_signed,
    retry_delay,
    webhook_secret,
)
from shipyard.debugger.engine import NOTIFICATION_KIND
from shipyard.debugger.models import DebuggerJobConfiguration, DebuggerNotification
from shipyard.debugger.schemas import NotificationDeliveryOut, NotifyAction, RuleConfiguration

NOTIFICATIONS_SECONDS = 2.0
DELIVERIES_PER_RUN = 8
LEASE_SECONDS = TIMEOUT_SECONDS * 3  # outlasts one attempt's timeout
PAYLOAD_TYPE = "debugger.rule_issues_found"


@dataclass(frozen=True)
class DueDelivery:
    """A delivery leased to this process for one attempt: where to, and what to send."""

    id: str
    webhook_url: str
    body: bytes


def run_notifications(db: Database, settings: Settings) -> None:
    """The scheduler's duty: queue the deliveries of new findings, then post those due."""
    relay_notifications(db)
    deliver_due(db, settings)


def relay_notifications(db: Database) -> int:
    """Queue a delivery for each Notify action of each newly recorded finding; how many."""
    queued = 0
    with db.session_scope() as session:
        rows = session.scalars(
            select(DebuggerJobConfiguration)
            .where(DebuggerJobConfiguration.relay_finished.is_(False))
            .with_for_update(skip_locked=True)
        ).all()
        jobs = compute.get_jobs_by_id(session, [row.job_id for row in rows])
        for row in rows:
            job = jobs[row.job_id]
            # Read before the events: once a job has ended, all of its events are stored.
            ended = job.status in TERMINAL_STATUSES
            events = compute.read_events(
                session, row.job_id, NOTIFICATION_KIND, after_id=row.relayed_event_id
            )
            for event in events:
                queued += _queue_deliveries(session, row, job, event)
            if events and events[-1].id is not None:
                row.relayed_event_id = events[-1].id
            row.relay_finished = ended
    return queued


def deliver_due(db: Database, settings: Settings, *, limit: int = DELIVERIES_PER_RUN) -> int:
    """Make one attempt at each pending delivery that is due; how many were attempted.

    The attempts run side by side, so a receiver that hangs holds the scheduler's thread
    for one timeout at most, not one per delivery.
    """
    due = _lease_due(db, limit)
    if not due:
        return 0
    secret = webhook_secret(settings.home)

    def attempt(delivery: DueDelivery) -> AttemptOutcome:
        return post_signed(
            delivery.webhook_url,
            delivery.body,
            secret=secret,
            delivery_id=delivery.id,
            allow_private=settings.webhook_allow_private_addresses,
        )

    with ThreadPoolExecutor(max_workers=len(due), thread_name_prefix="webhook") as pool:
        outcomes = list(pool.map(attempt, due))
    for delivery, outcome in zip(due, outcomes, strict=True):
        _record_attempt(db, delivery.id, outcome)
    return len(due)


def list_deliveries(session: Session, job_id: str) -> list[NotificationDeliveryOut]:
    """The job's deliveries, oldest first."""
    rows = session.scalars(
        select(DebuggerNotification)
        .where(DebuggerNotification.job_id == job_id)
        .order_by(DebuggerNotification.created_at, DebuggerNotification.action_index)
    )
    return [_out(row) for row in rows]


def _queue_deliveries(
    session: Session, row: DebuggerJobConfiguration, job: Job, event: compute.EventRecord
) -> int:
    name, details = event.data.get("rule_configuration_name"), event.data.get("status_details")
    rules = [RuleConfiguration.model_validate(r) for r in row.rule_configurations]
    rule = next((r for r in rules if r.name == name), None)
    if rule is None or not isinstance(details, str):  # not a rule of this job: ignored
        return 0
    done = set(
        session.scalars(
            select(DebuggerNotification.action_index).where(
                DebuggerNotification.job_id == job.id,
                DebuggerNotification.rule_configuration_name == rule.name,
            )
        )
    )
    now = utcnow()
    queued = 0
    for index, action in enumerate(rule.actions):
        if not isinstance(action, NotifyAction) or index in done:
            continue
        session.add(
            DebuggerNotification(
                id=str(uuid.uuid4()),
                job_id=job.id,
                training_job_name=job.name,
                rule_configuration_name=rule.name,
                rule=rule.rule,
                action_index=index,
                step=event.step,
                status_details=details[:2000],
                webhook_url=action.webhook_url,
                status="Pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def _lease_due(db: Database, limit: int) -> list[DueDelivery]:
    """Lease the due deliveries to this process for LEASE_SECONDS, with their bodies."""
    now = utcnow()
    with db.session_scope() as session:
        rows = session.scalars(
            select(DebuggerNotification)
            .where(
                DebuggerNotification.status == "Pending",
                DebuggerNotification.next_attempt_at <= now,
            )
            .order_by(DebuggerNotification.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
        return [DueDelivery(row.id, row.webhook_url, _body(row)) for row in rows]


def _record_attempt(db: Database, delivery_id: str, outcome: AttemptOutcome) -> None:
    now = utcnow()
    with db.session_scope() as session:
        row = session.get(DebuggerNotification, delivery_id, with_for_update=True)
        if row is None or row.status != "Pending":
            return
        row.attempts += 1
        row.last_error = outcome.error
        if outcome.delivered:
            row.status, row.delivered_at, row.next_attempt_at = "Delivered", now, None
        elif outcome.retryable and row.attempts < MAX_ATTEMPTS:
            row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts))
        else:
            row.status, row.next_attempt_at = "Failed", None


def _body(row: DebuggerNotification) -> bytes:
    """The JSON a webhook receives; the same at every attempt of one delivery."""
    at = f" at step {row.step}" if row.step is not None else ""
    message = (
        f"Debugger rule {row.rule_configuration_name} ({row.rule}) found issues in training "
        f"job {row.training_job_name}{at}: {row.status_details}"
    )
    created_at = as_utc(row.created_at) or row.created_at
    document = {
        "type": PAYLOAD_TYPE,
        "delivery_id": row.id,
        "training_job_name": row.training_job_name,
        "rule_configuration_name": row.rule_configuration_name,
        "rule": row.rule,
        "rule_evaluation_status": "IssuesFound",
        "step": row.step,
        "reason": row.status_details,
        "message": message,
        "created_at": created_at.isoformat(),
    }
    return json.dumps(document, sort_keys=True).encode()


def _out(row: DebuggerNotification) -> NotificationDeliveryOut:
    return NotificationDeliveryOut.model_validate(
        {
            "id": row.id,
            "training_job_name": row.training_job_name,
            "rule_configuration_name": row.rule_configuration_name,
            "rule": row.rule,
            "step": row.step,
            "status_details": row.status_details,
            "webhook_url": row.webhook_url,
            "status": row.status,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "created_at": as_utc(row.created_at),
            "next_attempt_at": as_utc(row.next_attempt_at),
            "delivered_at": as_utc(row.delivered_at),
        }
    )
