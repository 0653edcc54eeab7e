"""Tables of the alarms: metric and composite alarms (one table, one namespace of names)
and their history of state changes, configuration changes and actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Alarm(Base):
    """A metric alarm (``kind = "metric"``: the metric fields are set) or a composite alarm
    (``kind = "composite"``: ``alarm_rule`` is set).

    ``actions_state`` and ``actions_transition_id`` name the state whose actions have run
    and the history row of that transition; they change in the same transaction as the
    state, so a restart never runs a state's actions a second time.
    """

    __tablename__ = "alarms"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    namespace: Mapped[str | None] = mapped_column(String(255))
    metric_name: Mapped[str | None] = mapped_column(String(255))
    dimensions: Mapped[dict[str, str]] = mapped_column(JSON)
    statistic: Mapped[str | None] = mapped_column(String(16))
    extended_statistic: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    period: Mapped[int | None] = mapped_column(Integer)
    evaluation_periods: Mapped[int | None] = mapped_column(Integer)
    datapoints_to_alarm: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    comparison_operator: Mapped[str | None] = mapped_column(String(64))
    treat_missing_data: Mapped[str | None] = mapped_column(String(16))
    alarm_rule: Mapped[str | None] = mapped_column(Text)
    actions_enabled: Mapped[bool] = mapped_column(Boolean)
    alarm_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ok_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    insufficient_data_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state_value: Mapped[str] = mapped_column(String(32))
    state_reason: Mapped[str] = mapped_column(Text)
    state_reason_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actions_state: Mapped[str | None] = mapped_column(String(32))
    actions_transition_id: Mapped[int | None] = mapped_column(Integer)
    next_evaluation_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlarmHistory(Base):
    """One event of an alarm: ``StateUpdate`` (old and new state, reason, the datapoints
    evaluated), ``Action`` (an action run for a state change, and its outcome) or
    ``ConfigurationUpdate``. Deleted with its alarm; ``id`` orders the events."""

    __tablename__ = "alarm_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_name: Mapped[str] = mapped_column(String(64), index=True)
    item_type: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
