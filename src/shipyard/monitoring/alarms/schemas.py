"""Request and response types of the alarms, in CloudWatch's shape (snake_case).

Enumerations (statistic, comparison_operator, treat_missing_data, action types) are plain
strings here and checked by the service, whose errors name the field and list the choices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ACTIONS = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Actions(_Strict):
    description: str | None = Field(default=None, max_length=1024)
    actions_enabled: bool = True
    alarm_actions: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ACTIONS)
    ok_actions: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ACTIONS)
    insufficient_data_actions: list[dict[str, Any]] = Field(
        default_factory=list, max_length=MAX_ACTIONS
    )


class MetricAlarmIn(_Actions):
    """PutMetricAlarm (the name is the path's). Exactly one of ``statistic``
    (SampleCount, Sum, Average, Minimum, Maximum) and ``extended_statistic`` (pNN);
    ``datapoints_to_alarm`` defaults to ``evaluation_periods``."""

    namespace: str = Field(min_length=1, max_length=255)
    metric_name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=30)
    statistic: str | None = None
    extended_statistic: str | None = None
    unit: str | None = None
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int | None = None
    threshold: float
    comparison_operator: str
    treat_missing_data: str = "missing"


class CompositeAlarmIn(_Actions):
    """PutCompositeAlarm: ``alarm_rule`` over other alarms' states, e.g.
    ``ALARM(errors-high) AND NOT OK(latency-high)``."""

    alarm_rule: str = Field(min_length=1, max_length=10_240)


class SetAlarmStateIn(_Strict):
    state_value: str
    state_reason: str = Field(min_length=1, max_length=1023)
    state_reason_data: dict[str, Any] | None = None


class AlarmOut(BaseModel):
    name: str
    srn: str
    kind: str
    """``metric`` or ``composite``."""
    description: str | None
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: str | None = None
    extended_statistic: str | None = None
    unit: str | None = None
    period: int | None = None
    evaluation_periods: int | None = None
    datapoints_to_alarm: int | None = None
    threshold: float | None = None
    comparison_operator: str | None = None
    treat_missing_data: str | None = None
    alarm_rule: str | None = None
    actions_enabled: bool
    alarm_actions: list[dict[str, Any]]
    ok_actions: list[dict[str, Any]]
    insufficient_data_actions: list[dict[str, Any]]
    state_value: str
    state_reason: str
    state_reason_data: dict[str, Any] | None
    state_updated_at: datetime
    actions_state: str | None
    """The state whose actions have run (None: none yet)."""
    owner: str
    created_at: datetime
    updated_at: datetime


class AlarmHistoryItemOut(BaseModel):
    id: int
    alarm_name: str
    item_type: str
    """``StateUpdate``, ``Action`` or ``ConfigurationUpdate``."""
    summary: str
    data: dict[str, Any]
    timestamp: datetime
