"""Tables of the batch transform room: a transform job's definition (its state lives in
``jobs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class TransformJob(Base):
    """``transform_input`` holds the request's input and what it resolved to (uri, content
    hash, the files); ``data_processing`` its filters and join (None: a job created before
    they were, which had none); ``reconciled`` turns true once the ended job's output is in
    lineage."""

    __tablename__ = "transform_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    model_name: Mapped[str] = mapped_column(String(64), index=True)
    model_data_uri: Mapped[str] = mapped_column(String(512))
    transform_input: Mapped[dict[str, Any]] = mapped_column(JSON)
    transform_output: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_processing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    max_concurrent_transforms: Mapped[int] = mapped_column(Integer)
    max_payload_mb: Mapped[int] = mapped_column(Integer)
    batch_strategy: Mapped[str] = mapped_column(String(16))
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    stopping_condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    output_uri: Mapped[str] = mapped_column(String(512))
    reconciled: Mapped[bool] = mapped_column(Boolean, index=True)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
