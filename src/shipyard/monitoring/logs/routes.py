"""HTTP routes of log groups, their streams and events.

A group's name has slashes (``/shipyard/training-jobs``): it is the rest of the path,
either as is (``/api/v1/log-groups//shipyard/training-jobs/events``) or percent-encoded
(``/api/v1/log-groups/%2Fshipyard%2Ftraining-jobs/events``), which is what the SDK sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.monitoring.logs import service
from shipyard.monitoring.logs.schemas import (
    MAX_FILTER_LIMIT,
    FilteredLogEventsOut,
    LogGroupIn,
    LogGroupOut,
    LogStreamOut,
    PutLogEventsIn,
    PutLogEventsOut,
    RetentionPolicyIn,
    StreamEventsOut,
    StreamOrder,
)

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
GROUPS = "/log-groups"
GROUP = GROUPS + "/{name:path}"


@router.post(GROUPS, status_code=status.HTTP_201_CREATED, response_model=LogGroupOut)
def create_log_group(
    request: LogGroupIn, context: ContextDep, authorize: AuthorizeDep
) -> LogGroupOut:
    authorize("monitoring:CreateLogGroup", service.log_group_srn(request.name))
    with context.db.session_scope() as session:
        return service.create_log_group(session, request)


@router.get(GROUPS, response_model=ListResponse[LogGroupOut])
def list_log_groups(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    prefix: Annotated[str | None, Query(max_length=512)] = None,
) -> ListResponse[LogGroupOut]:
    authorize("monitoring:DescribeLogGroups", service.log_group_srn("*"))
    with context.db.session_scope() as session:
        items = service.list_log_groups(session, prefix, limit=page.limit, offset=page.offset)
    return ListResponse[LogGroupOut](items=items, next_token=page.next_token(len(items)))


# Longer paths first: {name:path} takes in any path that ends as a later route's does.
@router.get(GROUP + "/streams", response_model=ListResponse[LogStreamOut])
def list_log_streams(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    prefix: Annotated[str | None, Query(max_length=512)] = None,
    order_by: StreamOrder = "LogStreamName",
) -> ListResponse[LogStreamOut]:
    authorize("monitoring:DescribeLogStreams", service.log_group_srn(name))
    with context.db.session_scope() as session:
        items = service.list_log_streams(
            session, name, prefix, order_by=order_by, limit=page.limit, offset=page.offset
        )
    return ListResponse[LogStreamOut](items=items, next_token=page.next_token(len(items)))


@router.get(GROUP + "/streams/{stream}/events", response_model=StreamEventsOut)
def get_log_events(
    name: str,
    stream: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    after_seq: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_FILTER_LIMIT)] = 1000,
) -> StreamEventsOut:
    authorize("monitoring:GetLogEvents", service.log_group_srn(name))
    with context.db.session_scope() as session:
        return service.get_log_events(session, name, stream, after_seq=after_seq, limit=limit)


@router.post(GROUP + "/events", response_model=PutLogEventsOut)
def put_log_events(
    name: str, request: PutLogEventsIn, context: ContextDep, authorize: AuthorizeDep
) -> PutLogEventsOut:
    authorize("monitoring:PutLogEvents", service.log_group_srn(name))
    with context.db.session_scope() as session:
        next_seq = service.put_log_events(
            session, name, request.log_stream_name, request.log_events
        )
    return PutLogEventsOut(next_seq=next_seq)


@router.get(GROUP + "/events", response_model=FilteredLogEventsOut)
def filter_log_events(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    pattern: Annotated[str | None, Query(max_length=1024)] = None,
    stream: Annotated[list[str] | None, Query(description="only these streams")] = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    next_token: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FILTER_LIMIT)] = 1000,
) -> FilteredLogEventsOut:
    """The group's events matching a CloudWatch filter pattern, in the order stored."""
    authorize("monitoring:FilterLogEvents", service.log_group_srn(name))
    with context.db.session_scope() as session:
        return service.filter_log_events(
            session,
            name,
            pattern=pattern,
            streams=stream,
            start=start_time,
            end=end_time,
            next_token=next_token,
            limit=limit,
        )


@router.put(GROUP + "/retention-policy", response_model=LogGroupOut)
def put_retention_policy(
    name: str, request: RetentionPolicyIn, context: ContextDep, authorize: AuthorizeDep
) -> LogGroupOut:
    authorize("monitoring:PutRetentionPolicy", service.log_group_srn(name))
    with context.db.session_scope() as session:
        group = service.put_retention_policy(session, name, request.retention_in_days)
    context.run_soon(service.EXPIRY_DUTY)
    return group


@router.delete(GROUP + "/retention-policy", response_model=LogGroupOut)
def delete_retention_policy(name: str, context: ContextDep, authorize: AuthorizeDep) -> LogGroupOut:
    authorize("monitoring:DeleteRetentionPolicy", service.log_group_srn(name))
    with context.db.session_scope() as session:
        return service.delete_retention_policy(session, name)


@router.get(GROUP, response_model=LogGroupOut)
def describe_log_group(name: str, context: ContextDep, authorize: AuthorizeDep) -> LogGroupOut:
    authorize("monitoring:DescribeLogGroups", service.log_group_srn(name))
    with context.db.session_scope() as session:
        return service.describe_log_group(session, name)


@router.delete(GROUP, status_code=status.HTTP_204_NO_CONTENT)
def delete_log_group(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("monitoring:DeleteLogGroup", service.log_group_srn(name))
    with context.db.session_scope() as session:
        service.delete_log_group(session, name)
