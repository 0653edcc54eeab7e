"""Tables of asynchronous inference: one row per accepted request, its queue state included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class AsyncInference(Base):
    """An accepted request: Queued → InProgress → Completed | Failed, or Queued → Expired.

    Where its input, answer and failure document live, and whom to notify, are fixed when it
    is accepted (a later change of the endpoint's config moves nothing). While InProgress,
    ``lease_expires_at`` is the lease of the worker that holds it (``worker_*``): a row whose
    lease lapsed — its process died — is taken again. ``next_attempt_at`` is when a Queued
    row may be taken (later than now after a retryable failure).
    """

    __tablename__ = "async_inferences"

    inference_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_name: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    input_location: Mapped[str] = mapped_column(String(1024))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the request (content type, accept, body or location): a replay of the
    inference id must carry the same one."""
    content_type: Mapped[str] = mapped_column(String(256))
    accept: Mapped[str] = mapped_column(String(256))
    output_location: Mapped[str] = mapped_column(String(1024))
    failure_location: Mapped[str] = mapped_column(String(1024))
    notification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_content_type: Mapped[str | None] = mapped_column(String(256))
    variant_name: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    request_ttl_seconds: Mapped[int] = mapped_column(Integer)
    invocation_timeout_seconds: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker_id: Mapped[str | None] = mapped_column(String(64))
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
