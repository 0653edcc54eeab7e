"""Tables of the debugger room: each debugged job's configuration, and the deliveries of
its Notify actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class DebuggerJobConfiguration(Base):
    """A job's hook and rule configurations, as checked when it was created.

    ``relayed_event_id`` is how far the job's notification events have been turned into
    deliveries; ``relay_finished`` once there is nothing more to relay (the job has no
    Notify action, or it ended and every event of it was relayed).
    """

    __tablename__ = "debugger_job_configurations"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    hook_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_configurations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    relayed_event_id: Mapped[int] = mapped_column(Integer, default=0)
    relay_finished: Mapped[bool] = mapped_column(Boolean, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DebuggerNotification(Base):
    """One Notify action's delivery of a rule's finding: Pending → Delivered | Failed."""

    __tablename__ = "debugger_notifications"
    __table_args__ = (UniqueConstraint("job_id", "rule_configuration_name", "action_index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    training_job_name: Mapped[str] = mapped_column(String(64), index=True)
    rule_configuration_name: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    action_index: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer)
    status_details: Mapped[str] = mapped_column(Text)
    webhook_url: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
