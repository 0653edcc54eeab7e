"""Queues: durable messages, received under a visibility timeout, deleted by receipt handle.

A queue exists while something is in it; it is named by a ``queue`` subscription's
endpoint. A receive hides each message it returns for the visibility timeout and gives it a
new receipt handle; a message not deleted before the timeout ends is received again (with
a new handle: the old one no longer deletes it). Receives lock the rows they take
(``SKIP LOCKED`` on PostgreSQL), so two receivers never get the same message at once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.names import validate_name
from shipyard.monitoring.topics.models import QueueMessage
from shipyard.monitoring.topics.schemas import DeleteMessagesOut, QueueMessageOut

QUEUE_KIND = "queue"


def send_message(session: Session, queue_name: str, body: dict[str, Any]) -> str:
    """Append ``body`` to the queue (in the caller's transaction); the message id."""
    now = utcnow()
    message_id = str(uuid.uuid4())
    session.add(
        QueueMessage(
            id=message_id,
            queue_name=validate_name(queue_name, "queue"),
            body=body,
            sent_at=now,
            visible_at=now,
            receive_count=0,
        )
    )
    return message_id


def receive_messages(
    session: Session, queue_name: str, *, max_number: int, visibility_timeout_seconds: int
) -> list[QueueMessageOut]:
    """Up to ``max_number`` visible messages, oldest first, hidden for the timeout."""
    name = validate_name(queue_name, "queue")
    now = utcnow()
    rows = session.scalars(
        select(QueueMessage)
        .where(QueueMessage.queue_name == name, QueueMessage.visible_at <= now)
        .order_by(QueueMessage.sent_at, QueueMessage.id)
        .limit(max_number)
        .with_for_update(skip_locked=True)
    ).all()
    received = []
    for row in rows:
        row.receipt_handle = secrets.token_urlsafe(24)
        row.visible_at = now + timedelta(seconds=visibility_timeout_seconds)
        row.receive_count += 1
        received.append(
            QueueMessageOut(
                message_id=row.id,
                receipt_handle=row.receipt_handle,
                body=row.body,
                sent_at=as_utc(row.sent_at) or row.sent_at,
                receive_count=row.receive_count,
            )
        )
    session.flush()
    return received


def delete_messages(
    session: Session, queue_name: str, receipt_handles: list[str]
) -> DeleteMessagesOut:
    """Delete the messages of these handles; a stale or unknown handle is reported, not
    an error (the message may have been received again, or deleted already)."""
    name = validate_name(queue_name, "queue")
    found = set(
        session.scalars(
            delete(QueueMessage)
            .where(
                QueueMessage.queue_name == name, QueueMessage.receipt_handle.in_(receipt_handles)
            )
            .returning(QueueMessage.receipt_handle)
        )
    )
    return DeleteMessagesOut(
        deleted=[handle for handle in receipt_handles if handle in found],
        failed=[handle for handle in receipt_handles if handle not in found],
    )
