"""Tables of the tuning room: a tuning job and its trials (each trial is a training job).

The Optuna study of a tuning job is not stored: it is rebuilt from these rows whenever
the tuning job asks for new trials, so the database holds one row per trial and nothing
else to keep in step (benchmarks/tuning.py measures this against Optuna's RDB storage).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.compute.schemas import TERMINAL_STATUSES
from shipyard.core.db import Base

EARLY_STOPPED = "EarlyStopped"  # how the reason of a trial its tuning job stopped begins


class TuningJob(Base):
    __tablename__ = "tuning_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    completion_reason: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    warm_start: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TuningTrial(Base):
    """A trial's tuned hyperparameters, as the user sees them (`hyperparameters`) and in
    Optuna's terms (`params`), and — once its training job has ended — its outcome.
    `configuration` numbers the hyperparameters drawn (Hyperband runs one at several
    rungs, each a trial); `rung` is the Hyperband rung, else None."""

    __tablename__ = "tuning_trials"
    __table_args__ = (UniqueConstraint("tuning_job", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tuning_job: Mapped[str] = mapped_column(
        ForeignKey("tuning_jobs.name", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    configuration: Mapped[int] = mapped_column(Integer)
    rung: Mapped[int | None] = mapped_column(Integer)
    training_job_name: Mapped[str] = mapped_column(String(64), unique=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    training_job_status: Mapped[str] = mapped_column(String(16))
    objective_value: Mapped[float | None] = mapped_column(Float)
    intermediate: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def ended(self) -> bool:
        """Whether its training job has ended (the reconciler records it once it has)."""
        return self.training_job_status in TERMINAL_STATUSES

    @property
    def early_stopped(self) -> bool:
        """Stopped by its tuning job's early stopping, as its training job's reason says."""
        reason = self.failure_reason or ""
        return self.training_job_status == "Stopped" and reason.startswith(EARLY_STOPPED)
