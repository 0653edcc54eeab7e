"""Console pages of logs: the log groups, and one group's events, filtered by pattern,
stream and time (a GET form: the page's address is the search, ready to share)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.clock import utcnow
from shipyard.core.errors import ShipyardError
from shipyard.monitoring.logs import service
from shipyard.monitoring.logs.schemas import LogEventOut
from shipyard.security.iam import authorize

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 100
EVENTS_SHOWN = 500
SINCE = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1),
         "1w": timedelta(weeks=1), "all": None}  # fmt: skip


@router.get("/logs", name="console-logs")
def log_groups(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "monitoring:DescribeLogGroups", service.log_group_srn("*"))
    with request.app.state.context.db.session_scope() as session:
        groups = service.list_log_groups(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "logs.html",
        section="logs",
        groups=groups,
        page=page,
        has_next=len(groups) == PAGE_SIZE,
    )


@router.get("/log-events", name="console-log-events")
def log_events(
    request: Request,
    viewer: ViewerDep,
    group: Annotated[str, Query(min_length=1, max_length=512)],
    pattern: Annotated[str, Query(max_length=1024)] = "",
    stream: Annotated[str, Query(max_length=512)] = "",
    since: Annotated[str, Query(pattern="^(15m|1h|1d|1w|all)$")] = "1d",
) -> Response:
    authorize(viewer.principal, "monitoring:FilterLogEvents", service.log_group_srn(group))
    error = None
    events: list[LogEventOut] = []
    more = False
    window = SINCE[since]
    with request.app.state.context.db.session_scope() as session:
        described = service.describe_log_group(session, group)
        try:
            events, more = _latest(session, group, pattern, stream, window)
        except ShipyardError as exc:  # a bad pattern: said on the page, next to the form
            error = exc.message
    return render(
        request,
        "log_events.html",
        section="logs",
        group=described,
        events=events,
        more=more,
        error=error,
        pattern=pattern,
        stream=stream,
        since=since,
        windows=list(SINCE),
    )


def _latest(
    session, group: str, pattern: str, stream: str, window: timedelta | None
) -> tuple[list[LogEventOut], bool]:
    """The last EVENTS_SHOWN matching events, oldest first, and whether there were more."""
    kept: list[LogEventOut] = []
    more = False
    token = None
    start = utcnow() - window if window else None
    while True:
        found = service.filter_log_events(
            session,
            group,
            pattern=pattern or None,
            streams=[stream] if stream else None,
            start=start,
            next_token=token,
        )
        kept.extend(found.events)
        if len(kept) > EVENTS_SHOWN:
            kept, more = kept[-EVENTS_SHOWN:], True
        if found.complete:
            return kept, more
        token = found.next_token
