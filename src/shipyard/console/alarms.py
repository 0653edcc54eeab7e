"""Console pages of alarms: the list with state badges, and one alarm with its definition,
state and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.names import srn
from shipyard.monitoring.alarms import service
from shipyard.security.iam import authorize

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
STATE_TONES = {"OK": "ok", "ALARM": "bad", "INSUFFICIENT_DATA": "idle"}
STATES = ("ALARM", "INSUFFICIENT_DATA", "OK")


@router.get("/alarms", name="console-alarms")
def alarms(
    request: Request,
    viewer: ViewerDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    state: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    authorize(viewer.principal, "monitoring:DescribeAlarms", srn(service.ALARM_KIND, "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_alarms(
            session, state=state or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "alarms.html",
        section="alarms",
        alarms=items,
        tones=STATE_TONES,
        states=STATES,
        state=state,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/alarms/{name}", name="console-alarm")
def alarm_page(
    request: Request,
    name: str,
    viewer: ViewerDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    resource = srn(service.ALARM_KIND, name)
    authorize(viewer.principal, "monitoring:DescribeAlarms", resource)
    authorize(viewer.principal, "monitoring:DescribeAlarmHistory", resource)
    with request.app.state.context.db.session_scope() as session:
        alarm = service.describe_alarm(session, name)
        history = service.alarm_history(
            session, name, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "alarm.html",
        section="alarms",
        alarm=alarm,
        history=history,
        tones=STATE_TONES,
        page=page,
        has_next=len(history) == PAGE_SIZE,
    )
