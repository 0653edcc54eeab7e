"""Tables of the training room: a training job's definition (its state lives in ``jobs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class TrainingJob(Base):
    __tablename__ = "training_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    algorithm: Mapped[str | None] = mapped_column(String(64))
    entry_point: Mapped[str | None] = mapped_column(String(256))
    source_uri: Mapped[str | None] = mapped_column(String(512))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    channels: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[str | None] = mapped_column(String(256))
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    stopping_condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    metric_definitions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    model_artifacts: Mapped[str] = mapped_column(String(512))
    output_uri: Mapped[str] = mapped_column(String(512))
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
