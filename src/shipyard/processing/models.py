"""Tables of the processing room: a processing job's definition (its state lives in ``jobs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class ProcessingJob(Base):
    """``inputs`` are the resolved inputs (uri, content hash...), ``outputs`` the declared
    outputs; ``reconciled`` turns true once the ended job's outputs were registered as
    datasets (``registered_outputs``: output name -> dataset name or why not)."""

    __tablename__ = "processing_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    sql: Mapped[dict[str, str] | None] = mapped_column(JSON)
    entry_point: Mapped[str | None] = mapped_column(String(256))
    source_uri: Mapped[str | None] = mapped_column(String(1024))
    arguments: Mapped[list[str]] = mapped_column(JSON)
    environment: Mapped[dict[str, str]] = mapped_column(JSON)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    stopping_condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    output_uri: Mapped[str] = mapped_column(String(512))
    reconciled: Mapped[bool] = mapped_column(Boolean, index=True)
    registered_outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
