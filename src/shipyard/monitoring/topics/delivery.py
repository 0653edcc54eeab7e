"""Sending published messages: :func:`deliver_due`, a duty of every scheduler.

Each run leases the due ``Pending`` deliveries (their rows locked, ``SKIP LOCKED`` on
PostgreSQL; SQLite takes one writer at a time) by moving ``next_attempt_at`` past the
attempt's timeout, so several processes never make the same attempt. A ``queue``
delivery is made inside that transaction (the message appended and the delivery marked
Delivered together: exactly once); the others are attempted outside it, side by side:

- ``webhook``: the JSON envelope, signed and posted by :mod:`shipyard.core.webhooks`;
- ``slack``: the Slack incoming-webhook payload, posted the same way (same URL rules);
- ``email``: an RFC 5322 message through the configured SMTP server.

A failed attempt that may succeed later is retried with :func:`retry_delay`'s backoff up
to ``MAX_ATTEMPTS``; a final error (a redirect, a 4xx, a refused address, no SMTP server)
ends the delivery ``Failed`` at once. A process that dies mid-attempt leaves the lease to
expire and the attempt to be made again: receivers may get a message twice, with the same
``X-Shipyard-Delivery`` id.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
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
from shipyard.monitoring.topics import formats, mail, queues
from shipyard.monitoring.topics.models import TopicDelivery, TopicMessage

DELIVERIES_PER_RUN = 16
LEASE_SECONDS = TIMEOUT_SECONDS * 3  # outlasts one attempt's timeout
__all__ = ["MAX_ATTEMPTS", "deliver_due", "retry_delay"]


@dataclass(frozen=True)
class LeasedDelivery:
    """A delivery leased to this process for one attempt, with how to make it."""

    id: str
    attempt: Callable[[], AttemptOutcome]


def deliver_due(db: Database, settings: Settings, *, limit: int = DELIVERIES_PER_RUN) -> int:
    """Make one attempt at each delivery that is due; how many were attempted."""
    done, leased = _lease_due(db, settings, limit)
    if leased:
        workers = min(len(leased), 8)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="topics") as pool:
            outcomes = list(pool.map(lambda delivery: delivery.attempt(), leased))
        for delivery, outcome in zip(leased, outcomes, strict=True):
            _record_attempt(db, delivery.id, outcome)
    return done + len(leased)


def _lease_due(db: Database, settings: Settings, limit: int) -> tuple[int, list[LeasedDelivery]]:
    """Deliver the due queue deliveries; lease the others; (queued, leased)."""
    now = utcnow()
    with db.session_scope() as session:
        rows = session.scalars(
            select(TopicDelivery)
            .where(TopicDelivery.status == "Pending", TopicDelivery.next_attempt_at <= now)
            .order_by(TopicDelivery.next_attempt_at, TopicDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0, []
        messages = _messages(session, {row.message_id for row in rows})
        queued, leased = 0, []
        for row in rows:
            note = messages[row.message_id]
            row.last_attempt_at = now
            if row.protocol == "queue":
                queues.send_message(session, row.endpoint, formats.envelope(note))
                row.attempts += 1
                row.status, row.delivered_at, row.next_attempt_at = "Delivered", now, None
                queued += 1
                continue
            row.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
            leased.append(LeasedDelivery(row.id, _attempt(row, note, settings)))
        return queued, leased


def _attempt(
    row: TopicDelivery, note: formats.Notification, settings: Settings
) -> Callable[[], AttemptOutcome]:
    delivery_id, endpoint = row.id, row.endpoint
    if row.protocol == "email":
        message = mail.email_message(note, endpoint, settings.smtp_from, delivery_id)
        return lambda: mail.send_email(settings, message)
    body = formats.slack_body(note) if row.protocol == "slack" else formats.webhook_body(note)
    secret = webhook_secret(settings.home)
    return lambda: post_signed(
        endpoint,
        body,
        secret=secret,
        delivery_id=delivery_id,
        allow_private=settings.webhook_allow_private_addresses,
    )


def _messages(session: Session, ids: set[str]) -> dict[str, formats.Notification]:
    rows = session.scalars(select(TopicMessage).where(TopicMessage.id.in_(ids)))
    return {
        row.id: formats.Notification(
            message_id=row.id,
            topic_name=row.topic_name,
            subject=row.subject,
            message=row.message,
            publisher=row.publisher,
            published_at=row.published_at,
        )
        for row in rows
    }


def _record_attempt(db: Database, delivery_id: str, outcome: AttemptOutcome) -> None:
    now = utcnow()
    with db.session_scope() as session:
        row = session.get(TopicDelivery, delivery_id, with_for_update=True)
        if row is None or row.status != "Pending":  # unsubscribed, or its topic deleted
            return
        row.attempts += 1
        row.last_attempt_at = now
        row.last_error = outcome.error
        row.response_status = outcome.status_code
        if outcome.delivered:
            row.status, row.delivered_at, row.next_attempt_at = "Delivered", now, None
        elif outcome.retryable and row.attempts < MAX_ATTEMPTS:
            row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts))
        else:
            row.status, row.next_attempt_at = "Failed", None
