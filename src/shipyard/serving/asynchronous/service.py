"""Accepting async requests, describing them, and what the worker reads of endpoints.

A request is durable before it is acknowledged: its body goes to the artifact store
(``async-inference-inputs/<endpoint>/``), then its row to the database, both before the
202. An inference id given twice (``X-Shipyard-Inference-Id``) names one request: the
second answer is the first's record, or a 409 when it carries a different request.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri, uri_for
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Database
from shipyard.core.errors import (
    AlreadyExists,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from shipyard.core.names import validate_name
from shipyard.serving import service as serving
from shipyard.serving.asynchronous.config import (
    INPUT_PREFIX,
    async_config_of,
    failure_location,
    output_location,
)
from shipyard.serving.asynchronous.models import AsyncInference
from shipyard.serving.asynchronous.schemas import (
    ASYNC_STATUSES,
    DEFAULT_INVOCATION_TIMEOUT_SECONDS,
    DEFAULT_REQUEST_TTL_SECONDS,
    MAX_INVOCATION_TIMEOUT_SECONDS,
    MIN_REQUEST_TTL_SECONDS,
    AsyncInferenceConfig,
    AsyncInferenceOut,
    AsyncInvocationOut,
)

INFERENCE_ID_HEADER = "X-Shipyard-Inference-Id"
INPUT_LOCATION_HEADER = "X-Shipyard-Input-Location"
TTL_HEADER = "X-Shipyard-Request-TTL-Seconds"
TIMEOUT_HEADER = "X-Shipyard-Invocation-Timeout-Seconds"
INFERENCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class AsyncRequest:
    """One request as the route read it: the body, or where it lies, and its options."""

    content_type: str
    accept: str
    body: bytes
    input_location: str | None
    inference_id: str | None
    request_ttl_seconds: int
    invocation_timeout_seconds: int

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.content_type}\n{self.accept}\n".encode())
        if self.input_location is not None:
            digest.update(b"location:" + self.input_location.encode())
        else:
            digest.update(b"body:" + self.body)
        return digest.hexdigest()


def read_request(
    *,
    content_type: str | None,
    accept: str | None,
    body: bytes,
    input_location: str | None,
    inference_id: str | None,
    request_ttl_seconds: str | None,
    invocation_timeout_seconds: str | None,
) -> AsyncRequest:
    """The request, its headers checked: a ValidationError names the header (or
    ``input_location``, ``body``)."""
    if input_location is not None and body:
        raise ValidationError(
            "give the request as the body or name it with input_location, not both",
            "input_location",
        )
    if input_location is None and not body:
        raise ValidationError(
            "is empty: send the request as the body, or name a stored object with the "
            f"input_location query parameter or the {INPUT_LOCATION_HEADER} header",
            "body",
        )
    if inference_id is not None and not INFERENCE_ID_PATTERN.fullmatch(inference_id):
        raise ValidationError(
            f"{inference_id[:80]!r} is not an inference id; expected 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit",
            INFERENCE_ID_HEADER,
        )
    return AsyncRequest(
        content_type=(content_type or "application/json")[:256],
        accept=(accept or "application/json")[:256],
        body=body,
        input_location=input_location,
        inference_id=inference_id,
        request_ttl_seconds=_seconds(
            request_ttl_seconds,
            TTL_HEADER,
            DEFAULT_REQUEST_TTL_SECONDS,
            MIN_REQUEST_TTL_SECONDS,
            DEFAULT_REQUEST_TTL_SECONDS,
        ),
        invocation_timeout_seconds=_seconds(
            invocation_timeout_seconds,
            TIMEOUT_HEADER,
            DEFAULT_INVOCATION_TIMEOUT_SECONDS,
            1,
            MAX_INVOCATION_TIMEOUT_SECONDS,
        ),
    )


def _seconds(value: str | None, field: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValidationError(f"{value[:40]!r} is not a whole number from {low} to {high}", field)
    return int(text)


# ---- accept ---------------------------------------------------------------------------
def accept(
    db: Database,
    store: BaseArtifactStore,
    endpoint_name: str,
    request: AsyncRequest,
    owner: str,
    *,
    max_payload_bytes: int,
) -> AsyncInvocationOut:
    """Queue ``request`` for the endpoint: its input stored, then its row; the 202's body.

    NotFound without such an endpoint; InvalidState when it is not live, or its config has
    no ``async_inference_config``; a ValidationError (or PayloadTooLarge) names a bad
    ``input_location``."""
    fingerprint = request.fingerprint()
    with db.session_scope() as session:
        config = accepting_config(session, endpoint_name)
        inference_id = request.inference_id or str(uuid.uuid4())
        existing = session.get(AsyncInference, inference_id)
        if existing is not None:
            return _replayed(existing, endpoint_name, fingerprint)
    stored_key: str | None = None
    if request.input_location is None:
        stored_key = f"{INPUT_PREFIX}/{endpoint_name}/{inference_id}-{uuid.uuid4().hex[:8]}.in"
        store.put_bytes(stored_key, request.body)
        input_location = uri_for(stored_key)
    else:
        input_location = checked_input_location(store, request.input_location, max_payload_bytes)
    now = utcnow()
    row = AsyncInference(
        inference_id=inference_id,
        endpoint_name=endpoint_name,
        status="Queued",
        input_location=input_location,
        fingerprint=fingerprint,
        content_type=request.content_type,
        accept=request.accept,
        output_location=output_location(config, inference_id),
        failure_location=failure_location(config, inference_id),
        notification=_notification_of(config),
        attempts=0,
        request_ttl_seconds=request.request_ttl_seconds,
        invocation_timeout_seconds=request.invocation_timeout_seconds,
        owner=owner,
        created_at=now,
        expires_at=now + timedelta(seconds=request.request_ttl_seconds),
        next_attempt_at=now,
    )
    try:
        with db.session_scope() as session:
            session.add(row)
    except AlreadyExists:  # the same id, accepted by another request meanwhile
        if stored_key is not None:
            store.delete_prefix(stored_key)
        with db.session_scope() as session:
            existing = session.get(AsyncInference, inference_id)
            if existing is None:
                raise
            return _replayed(existing, endpoint_name, fingerprint)
    return invocation_out(row)


def accepting_config(session: Session, endpoint_name: str) -> AsyncInferenceConfig:
    """The async config of a live endpoint's current endpoint config."""
    endpoint = serving.get_endpoint(session, endpoint_name)
    if endpoint.status not in serving.LIVE_STATUSES:
        raise InvalidState(
            f"endpoint '{endpoint.name}' is {endpoint.status}; async requests are accepted "
            f"while it is {', '.join(serving.LIVE_STATUSES)}"
        )
    config = async_config_of(serving.get_endpoint_config(session, endpoint.endpoint_config_name))
    if config is None:
        raise InvalidState(
            f"async_inference_config: endpoint '{endpoint.name}' serves endpoint config "
            f"'{endpoint.endpoint_config_name}', which has none; create a config with an "
            "async_inference_config and update the endpoint to it"
        )
    return config


def checked_input_location(store: BaseArtifactStore, uri: str, max_bytes: int) -> str:
    field = "input_location"
    key = key_from_uri(uri, field)
    if not store.exists(key):
        raise ValidationError(f"no object at {uri}", field)
    size = store.size(key)
    if size > max_bytes:
        raise PayloadTooLarge(f"{field}: {uri} is {size} bytes, over the limit of {max_bytes}")
    return uri_for(key)


def _replayed(row: AsyncInference, endpoint_name: str, fingerprint: str) -> AsyncInvocationOut:
    if row.endpoint_name != endpoint_name:
        raise AlreadyExists(
            f"{INFERENCE_ID_HEADER}: inference id '{row.inference_id}' is a request to "
            f"endpoint '{row.endpoint_name}'"
        )
    if row.fingerprint != fingerprint:
        raise AlreadyExists(
            f"{INFERENCE_ID_HEADER}: inference id '{row.inference_id}' was accepted for a "
            "different request (body, input_location, Content-Type or Accept)"
        )
    return invocation_out(row)


def _notification_of(config: AsyncInferenceConfig) -> dict[str, object] | None:
    notification = config.output_config.notification_config
    if notification is None or not (notification.success_topic or notification.error_topic):
        return None
    return notification.model_dump()


# ---- describe -------------------------------------------------------------------------
def get_inference(session: Session, endpoint_name: str, inference_id: str) -> AsyncInference:
    row = session.get(AsyncInference, inference_id[:64])
    if row is None or row.endpoint_name != endpoint_name:
        raise NotFound(f"endpoint '{endpoint_name}' has no async inference '{inference_id[:64]}'")
    return row


def describe_inference(
    session: Session, endpoint_name: str, inference_id: str
) -> AsyncInferenceOut:
    return inference_out(get_inference(session, validate_name(endpoint_name), inference_id))


def list_inferences(
    session: Session,
    endpoint_name: str,
    *,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AsyncInferenceOut]:
    """The endpoint's async requests, newest first; only those of ``status``."""
    serving.get_endpoint(session, endpoint_name)
    query = select(AsyncInference).where(AsyncInference.endpoint_name == endpoint_name)
    if status is not None:
        if status not in ASYNC_STATUSES:
            raise ValidationError(f"expected one of {', '.join(ASYNC_STATUSES)}", "status")
        query = query.where(AsyncInference.status == status)
    query = query.order_by(AsyncInference.created_at.desc(), AsyncInference.inference_id)
    return [inference_out(row) for row in session.scalars(query.limit(limit).offset(offset))]


def read_result(
    db: Database, store: BaseArtifactStore, endpoint_name: str, inference_id: str
) -> tuple[bytes, str]:
    """The answer (and its content type) of a Completed request, or the failure document
    of a Failed or Expired one; InvalidState while it is Queued or InProgress."""
    with db.session_scope() as session:
        row = get_inference(session, validate_name(endpoint_name), inference_id)
        if row.status == "Completed":
            location, content_type = row.output_location, row.output_content_type
        elif row.status in ("Failed", "Expired"):
            location, content_type = row.failure_location, "application/json"
        else:
            raise InvalidState(f"async inference '{row.inference_id}' is {row.status}")
    return store.get_bytes(key_from_uri(location)), content_type or "application/octet-stream"


def invocation_out(row: AsyncInference) -> AsyncInvocationOut:
    return AsyncInvocationOut.model_validate(
        {
            "inference_id": row.inference_id,
            "output_location": row.output_location,
            "failure_location": row.failure_location,
            "status": row.status,
        }
    )


def inference_out(row: AsyncInference) -> AsyncInferenceOut:
    return AsyncInferenceOut.model_validate(
        {
            "inference_id": row.inference_id,
            "endpoint_name": row.endpoint_name,
            "status": row.status,
            "input_location": row.input_location,
            "output_location": row.output_location,
            "failure_location": row.failure_location,
            "content_type": row.content_type,
            "accept": row.accept,
            "output_content_type": row.output_content_type,
            "variant_name": row.variant_name,
            "failure_reason": row.failure_reason,
            "last_error": row.last_error,
            "attempts": row.attempts,
            "request_ttl_seconds": row.request_ttl_seconds,
            "invocation_timeout_seconds": row.invocation_timeout_seconds,
            "created_at": as_utc(row.created_at),
            "expires_at": as_utc(row.expires_at),
            "started_at": as_utc(row.started_at),
            "next_attempt_at": as_utc(row.next_attempt_at) if row.status == "Queued" else None,
            "ended_at": as_utc(row.ended_at),
            "owner": row.owner,
        }
    )
