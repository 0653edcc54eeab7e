"""``Alarm``: watch a metric (or other alarms) and act when its state changes.

alarm = Alarm("fraud-5xx").put(
    namespace="Shipyard/Endpoints",
    metric_name="Invocation5XXErrors",
    dimensions={"EndpointName": "fraud", "VariantName": "AllTraffic"},
    statistic="Sum", period=60, evaluation_periods=1, threshold=5,
    comparison_operator="GreaterThanOrEqualToThreshold",
    treat_missing_data="notBreaching",
    alarm_actions=[{"type": "notify", "topic": "oncall"}],
)
alarm.describe()["state_value"]          # OK | ALARM | INSUFFICIENT_DATA
Alarm("fraud-down").put_composite("ALARM(fraud-5xx) OR ALARM(fraud-latency)")
"""

from __future__ import annotations

from typing import Any

import pydantic

from shipyard.core.errors import ValidationError
from shipyard.core.names import validate_name
from shipyard.monitoring.alarms.schemas import CompositeAlarmIn, MetricAlarmIn, SetAlarmStateIn
from shipyard.sdk.client import Session

ALARMS = "/api/v1/alarms"
COMPOSITE_ALARMS = "/api/v1/composite-alarms"


class Alarm:
    """An alarm on the server, by name."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = validate_name(name)
        self.session = session or Session()

    @classmethod
    def list_alarms(
        cls, session: Session | None = None, *, state: str | None = None
    ) -> list[dict[str, Any]]:
        """DescribeAlarms; ``state`` filters (OK, ALARM, INSUFFICIENT_DATA)."""
        return (session or Session()).list_all(ALARMS, state=state)

    @property
    def path(self) -> str:
        return f"{ALARMS}/{self.name}"

    def put(self, **fields: Any) -> Alarm:
        """PutMetricAlarm (create or replace), with the fields of
        :class:`~shipyard.monitoring.alarms.schemas.MetricAlarmIn`."""
        body = _checked(MetricAlarmIn, fields)
        self.session.request("PUT", self.path, json=body)
        return self

    def put_composite(self, alarm_rule: str, **fields: Any) -> Alarm:
        """PutCompositeAlarm: ``alarm_rule`` over other alarms' states."""
        body = _checked(CompositeAlarmIn, {"alarm_rule": alarm_rule, **fields})
        self.session.request("PUT", f"{COMPOSITE_ALARMS}/{self.name}", json=body)
        return self

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    def history(self, item_type: str | None = None) -> list[dict[str, Any]]:
        """Newest first: StateUpdate, Action and ConfigurationUpdate items."""
        return self.session.list_all(f"{self.path}/history", item_type=item_type)

    def set_state(
        self, state_value: str, state_reason: str, state_reason_data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """SetAlarmState until the next evaluation; that state's actions run."""
        body = SetAlarmStateIn(
            state_value=state_value,
            state_reason=state_reason,
            state_reason_data=state_reason_data,
        ).model_dump(exclude_none=True)
        return self.session.post(f"{self.path}/state", json=body)

    def delete(self) -> None:
        self.session.delete(self.path)


def _checked(schema: type[pydantic.BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """The request body, or a ValidationError naming the first bad field (as the server)."""
    try:
        return schema(**fields).model_dump(exclude_none=True)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ())) or "request"
        raise ValidationError(error.get("msg", "invalid"), field) from None
