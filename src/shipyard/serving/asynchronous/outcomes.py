"""How an async request ends: its answer or failure document written, its row marked, its
topic notified — or, after a failure that may pass, queued again with backoff.

The object is written first, then the row is changed (only if this worker still holds it)
and the notification published in that same transaction: once a request reads Completed,
its answer is there, and its message is durable (the topics' duty delivers it). A process
that dies between the two leaves the row InProgress: its lease lapses and it is answered
again, to the same key.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.clock import as_utc
from shipyard.core.db import Database
from shipyard.core.errors import ShipyardError
from shipyard.core.names import srn
from shipyard.monitoring.topics import service as topics
from shipyard.monitoring.topics.schemas import MAX_MESSAGE_BYTES
from shipyard.serving.asynchronous.config import INPUT_PREFIX
from shipyard.serving.asynchronous.models import AsyncInference
from shipyard.serving.asynchronous.queue import MAX_ATTEMPTS
from shipyard.serving.fleet import NoInstanceAnswers
from shipyard.serving.invocation import Invocation

log = logging.getLogger(__name__)
MAX_RESPONSE_IN_MESSAGE = 128 * 1024  # SageMaker's limit on a response in a notification
MAX_RETRY_DELAY_SECONDS = 60.0


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed: a stable code, a sentence, and whether another attempt may
    succeed."""

    code: str
    reason: str
    retryable: bool = False


def failure_of(exc: ShipyardError) -> Failure:
    """What an invocation's error means for the request (see :func:`retryable`)."""
    if exc.message.startswith("ModelError:"):
        return Failure("ModelError", exc.message, retryable(exc))
    return Failure(exc.code, f"{exc.code}: {exc.message}", retryable(exc))


def retryable(exc: ShipyardError) -> bool:
    """Whether another attempt may succeed: the endpoint not serving here yet (409), a
    throttle, no instance answering (one lost mid-call, being replaced) or another fault of
    the server's; not a model that raised or timed out, nor a request that is bad (4xx)."""
    if exc.code in ("InvalidState", "Throttled") or isinstance(exc, NoInstanceAnswers):
        return True
    if exc.message.startswith("ModelError:"):
        return False
    return exc.status_code >= 500


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts``: 2, 4, 8 … up to a minute."""
    return float(min(MAX_RETRY_DELAY_SECONDS, 2.0**attempts))


# ---- ends -----------------------------------------------------------------------------
def complete(
    db: Database,
    store: BaseArtifactStore,
    worker_id: str,
    inference_id: str,
    answer: Invocation,
    now: datetime,
) -> bool:
    """Write the answer to the request's output location and mark it Completed; False when
    this worker no longer held it (another process took it over)."""
    with db.session_scope() as session:
        output = _held(session, inference_id, worker_id)
        if output is None:
            return False
        location, input_location = output.output_location, output.input_location
    store.put_bytes(key_from_uri(location), answer.body)
    with db.session_scope() as session:
        row = _held(session, inference_id, worker_id)
        if row is None:
            return False
        row.status, row.ended_at, row.lease_expires_at = "Completed", now, None
        row.output_content_type = answer.content_type[:256]
        row.variant_name = answer.variant[:64]
        row.failure_reason = None
        _notify(session, row, now, answer.body)
    _delete_stored_input(store, input_location)
    return True


def _delete_stored_input(store: BaseArtifactStore, input_location: str) -> None:
    """A body sent inline was stored for the request; once it is answered it is not needed
    (a failed or expired request keeps it, to look into). An input the caller named
    (``input_location``) is theirs and stays."""
    key = key_from_uri(input_location)
    if key.startswith(f"{INPUT_PREFIX}/"):
        store.delete_prefix(key)


def fail(
    db: Database,
    store: BaseArtifactStore,
    inference_id: str,
    failure: Failure,
    now: datetime,
    *,
    worker_id: str | None = None,
    status: str = "Failed",
    from_status: str = "InProgress",
) -> bool:
    """End the request ``status`` (Failed, or Expired) with its failure document written;
    only if it is still ``from_status`` (and held by ``worker_id``, when given)."""
    with db.session_scope() as session:
        row = _in(session, inference_id, from_status, worker_id)
        if row is None:
            return False
        document = failure_document(row, failure, status, now)
        location = row.failure_location
    store.put_bytes(key_from_uri(location), json.dumps(document, indent=2).encode())
    with db.session_scope() as session:
        row = _in(session, inference_id, from_status, worker_id)
        if row is None:
            return False
        row.status, row.ended_at, row.lease_expires_at = status, now, None
        row.failure_reason = failure.reason
        row.next_attempt_at = None
        _notify(session, row, now, json.dumps(document).encode())
    return True


def retry(
    db: Database,
    store: BaseArtifactStore,
    worker_id: str,
    inference_id: str,
    failure: Failure,
    now: datetime,
) -> str:
    """Queue the request again after :func:`retry_delay`, or fail it when it has had
    ``MAX_ATTEMPTS``; its new status (``""`` when this worker no longer held it)."""
    with db.session_scope() as session:
        row = _held(session, inference_id, worker_id)
        if row is None:
            return ""
        if row.attempts < MAX_ATTEMPTS:
            row.status, row.last_error = "Queued", failure.reason
            row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts))
            row.lease_expires_at, row.worker_id, row.worker_pid, row.worker_host = (
                None,
                None,
                None,
                None,
            )
            return "Queued"
        attempts = row.attempts
    final = Failure(failure.code, f"{failure.reason} (after {attempts} attempts)", False)
    fail(db, store, inference_id, final, now, worker_id=worker_id)
    return "Failed"


def expire(db: Database, store: BaseArtifactStore, inference_id: str, now: datetime) -> bool:
    """A Queued request whose TTL ran out before it started ends Expired."""
    with db.session_scope() as session:
        row = session.get(AsyncInference, inference_id)
        if row is None or row.status != "Queued":
            return False
        reason = f"RequestExpired: not started within its TTL of {row.request_ttl_seconds} s" + (
            f"; the last attempt: {row.last_error}" if row.last_error else ""
        )
    return fail(
        db,
        store,
        inference_id,
        Failure("RequestExpired", reason),
        now,
        status="Expired",
        from_status="Queued",
    )


def failure_document(
    row: AsyncInference, failure: Failure, status: str, now: datetime
) -> dict[str, Any]:
    """What the failure location holds."""
    return {
        "inference_id": row.inference_id,
        "endpoint_name": row.endpoint_name,
        "status": status,
        "error_code": failure.code,
        "failure_reason": failure.reason,
        "attempts": row.attempts,
        "input_location": row.input_location,
        "received_time": _iso(row.created_at),
        "event_time": _iso(now),
    }


# ---- notifications --------------------------------------------------------------------
def _notify(session: Session, row: AsyncInference, now: datetime, response: bytes) -> None:
    """Publish the request's end to its success or error topic, in the caller's
    transaction; a topic deleted since is logged, never a reason to lose the end."""
    notification = row.notification or {}
    succeeded = row.status == "Completed"
    topic = notification.get("success_topic" if succeeded else "error_topic")
    if not topic:
        return
    message = notification_message(row, now)
    kind = "SUCCESS_NOTIFICATION_TOPIC" if succeeded else "ERROR_NOTIFICATION_TOPIC"
    if kind in (notification.get("include_inference_response_in") or []):
        _include_response(message, response)
    try:
        with session.begin_nested():
            topics.publish(
                session,
                topic,
                subject=f"Async inference {row.status}: {row.endpoint_name}"[:100],
                message=message,
                publisher=srn("endpoint", row.endpoint_name),
            )
    except ShipyardError as exc:
        log.warning(
            "async inference %s: could not notify topic %s: %s", row.inference_id, topic, exc
        )


def notification_message(row: AsyncInference, now: datetime) -> dict[str, Any]:
    message: dict[str, Any] = {
        "event_name": "InferenceResult",
        "inference_id": row.inference_id,
        "endpoint_name": row.endpoint_name,
        "status": row.status,
        "received_time": _iso(row.created_at),
        "event_time": _iso(now),
        "attempts": row.attempts,
        "input_location": row.input_location,
    }
    if row.status == "Completed":
        message["output_location"] = row.output_location
        message["content_type"] = row.output_content_type
        message["variant_name"] = row.variant_name
    else:
        message["failure_location"] = row.failure_location
        message["failure_reason"] = row.failure_reason
    return message


def _include_response(message: dict[str, Any], response: bytes) -> None:
    try:
        text = response.decode()
    except UnicodeDecodeError:
        message["inference_response_omitted"] = "the response is not UTF-8 text"
        return
    room = MAX_MESSAGE_BYTES - len(json.dumps(message).encode()) - 1024
    if len(response) > min(MAX_RESPONSE_IN_MESSAGE, room):
        message["inference_response_omitted"] = (
            f"the response is {len(response)} bytes, over the {MAX_RESPONSE_IN_MESSAGE} a "
            "message carries"
        )
        return
    message["inference_response"] = text


# ---- rows -----------------------------------------------------------------------------
def _held(session: Session, inference_id: str, worker_id: str) -> AsyncInference | None:
    return _in(session, inference_id, "InProgress", worker_id)


def _in(
    session: Session, inference_id: str, status: str, worker_id: str | None
) -> AsyncInference | None:
    row = session.get(AsyncInference, inference_id, with_for_update=True)
    if row is None or row.status != status:
        return None
    if worker_id is not None and row.worker_id != worker_id:
        return None
    return row


def _iso(moment: datetime | None) -> str | None:
    value = as_utc(moment)
    return None if value is None else value.isoformat()
