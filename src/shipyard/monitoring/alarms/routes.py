"""HTTP routes of the alarms: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms,
DeleteAlarms, DescribeAlarmHistory, SetAlarmState."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.monitoring.alarms import service
from shipyard.monitoring.alarms.schemas import (
    AlarmHistoryItemOut,
    AlarmOut,
    CompositeAlarmIn,
    MetricAlarmIn,
    SetAlarmStateIn,
)

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


def alarm_srn(name: str) -> str:
    return srn(service.ALARM_KIND, name)


@router.put("/alarms/{name}", response_model=AlarmOut)
def put_metric_alarm(
    name: str, request: MetricAlarmIn, context: ContextDep, authorize: AuthorizeDep
) -> AlarmOut:
    """Create or replace a metric alarm; its actions run with the caller's permissions."""
    principal = authorize("monitoring:PutMetricAlarm", alarm_srn(name))
    with context.db.session_scope() as session:
        alarm = service.put_metric_alarm(session, name, request, principal.name)
    context.run_soon(service.DUTY_NAME)
    return alarm


@router.put("/composite-alarms/{name}", response_model=AlarmOut)
def put_composite_alarm(
    name: str, request: CompositeAlarmIn, context: ContextDep, authorize: AuthorizeDep
) -> AlarmOut:
    """Create or replace a composite alarm (``alarm_rule`` over other alarms)."""
    principal = authorize("monitoring:PutCompositeAlarm", alarm_srn(name))
    with context.db.session_scope() as session:
        alarm = service.put_composite_alarm(session, name, request, principal.name)
    context.run_soon(service.DUTY_NAME)
    return alarm


@router.get("/alarms", response_model=ListResponse[AlarmOut])
def list_alarms(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    state: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    name_prefix: Annotated[str | None, Query(max_length=64)] = None,
) -> ListResponse[AlarmOut]:
    authorize("monitoring:DescribeAlarms", alarm_srn("*"))
    with context.db.session_scope() as session:
        items = service.list_alarms(
            session,
            state=state,
            kind=kind,
            name_prefix=name_prefix,
            limit=page.limit,
            offset=page.offset,
        )
    return ListResponse[AlarmOut](items=items, next_token=page.next_token(len(items)))


@router.get("/alarms/{name}", response_model=AlarmOut)
def describe_alarm(name: str, context: ContextDep, authorize: AuthorizeDep) -> AlarmOut:
    authorize("monitoring:DescribeAlarms", alarm_srn(name))
    with context.db.session_scope() as session:
        return service.describe_alarm(session, name)


@router.delete("/alarms/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alarm(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("monitoring:DeleteAlarms", alarm_srn(name))
    with context.db.session_scope() as session:
        service.delete_alarm(session, name)


@router.get("/alarms/{name}/history", response_model=ListResponse[AlarmHistoryItemOut])
def alarm_history(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    item_type: Annotated[str | None, Query(max_length=32)] = None,
) -> ListResponse[AlarmHistoryItemOut]:
    """Newest first: StateUpdate, Action (with its outcome) and ConfigurationUpdate."""
    authorize("monitoring:DescribeAlarmHistory", alarm_srn(name))
    with context.db.session_scope() as session:
        items = service.alarm_history(
            session, name, item_type=item_type, limit=page.limit, offset=page.offset
        )
    return ListResponse[AlarmHistoryItemOut](items=items, next_token=page.next_token(len(items)))


@router.post("/alarms/{name}/state", response_model=AlarmOut)
def set_alarm_state(
    name: str, request: SetAlarmStateIn, context: ContextDep, authorize: AuthorizeDep
) -> AlarmOut:
    """Set the state until the next evaluation, running that state's actions."""
    authorize("monitoring:SetAlarmState", alarm_srn(name))
    with context.db.session_scope() as session:
        alarm = service.set_alarm_state(session, name, request)
    context.run_soon(service.DUTY_NAME)
    return alarm
