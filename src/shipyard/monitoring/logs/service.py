"""Log groups and their streams: create, list, retention, write, read, filter, expire.

Every room writes through :mod:`shipyard.core.logstore`; this is where people read it.
:func:`filter_log_events` searches a group in the order events were stored, a bounded
number of events per call (``searched_events``), and hands back a token to go on from —
later pages while ``complete`` is false, and afterwards the events stored since, which is
how ``shipyard logs tail --follow`` keeps up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shipyard.core import logstore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.core.logstore import LogEvent, LogGroup, LogStream, StoredEvent
from shipyard.core.names import srn
from shipyard.monitoring.logs import patterns
from shipyard.monitoring.logs.schemas import (
    MAX_PUT_BYTES,
    FilteredLogEventsOut,
    InputLogEvent,
    LogEventOut,
    LogGroupIn,
    LogGroupOut,
    LogStreamOut,
    StreamEventsOut,
    StreamOrder,
)

__all__ = [
    "EXPIRY_DUTY",
    "LOG_GROUP_KIND",
    "create_log_group",
    "delete_log_group",
    "delete_retention_policy",
    "describe_log_group",
    "expire_all",
    "filter_log_events",
    "get_log_events",
    "list_log_groups",
    "list_log_streams",
    "log_group_srn",
    "put_log_events",
    "put_retention_policy",
]

LOG_GROUP_KIND = "log-group"
EXPIRY_DUTY = "logs"
RESERVED_LAST_SEGMENTS = ("events", "streams", "retention-policy")
SCAN_CHUNK = 2000
MAX_SCAN = 20_000
"""Events one filter call reads at most before it returns a token to go on from."""
MAX_PAST = timedelta(days=14)
MAX_FUTURE = timedelta(hours=2)


def log_group_srn(name: str) -> str:
    """``srn:shipyard:log-group/shipyard/training-jobs`` for ``/shipyard/training-jobs``."""
    return srn(LOG_GROUP_KIND, name.removeprefix("/"))


# ---- groups -------------------------------------------------------------------------
def create_log_group(session: Session, request: LogGroupIn) -> LogGroupOut:
    name = logstore.validate_group_name(request.name, "name")
    if name.startswith(logstore.PLATFORM_PREFIX):
        raise ValidationError(f"groups under {logstore.PLATFORM_PREFIX} are the platform's", "name")
    if name.rsplit("/", 1)[-1] in RESERVED_LAST_SEGMENTS:
        raise ValidationError(
            f"'{name}' ends with a word the API's paths use ({', '.join(RESERVED_LAST_SEGMENTS)})",
            "name",
        )
    if session.get(LogGroup, name) is not None:
        raise AlreadyExists(f"log group '{name}' already exists")
    session.add(
        LogGroup(
            name=name,
            retention_in_days=request.retention_in_days,
            managed=False,
            created_at=utcnow(),
        )
    )
    session.flush()
    return describe_log_group(session, name)


def describe_log_group(session: Session, name: str) -> LogGroupOut:
    group = _group(session, name)
    count, stored, last = session.execute(
        select(
            func.count(LogStream.id),
            func.coalesce(func.sum(LogStream.stored_bytes), 0),
            func.max(LogStream.last_event_at),
        ).where(LogStream.group_name == name)
    ).one()
    return _group_out(group, count, stored, last)


def list_log_groups(
    session: Session, prefix: str | None = None, *, limit: int = 50, offset: int = 0
) -> list[LogGroupOut]:
    query = select(LogGroup).order_by(LogGroup.name).limit(limit).offset(offset)
    if prefix:
        query = query.where(LogGroup.name.startswith(prefix, autoescape=True))
    groups = list(session.scalars(query))
    totals = {
        name: (count, stored, last)
        for name, count, stored, last in session.execute(
            select(
                LogStream.group_name,
                func.count(LogStream.id),
                func.coalesce(func.sum(LogStream.stored_bytes), 0),
                func.max(LogStream.last_event_at),
            )
            .where(LogStream.group_name.in_([g.name for g in groups]))
            .group_by(LogStream.group_name)
        )
    }
    return [_group_out(g, *totals.get(g.name, (0, 0, None))) for g in groups]


def put_retention_policy(session: Session, name: str, days: int) -> LogGroupOut:
    _group(session, name).retention_in_days = days
    return describe_log_group(session, name)


def delete_retention_policy(session: Session, name: str) -> LogGroupOut:
    """Keep the group's events forever."""
    _group(session, name).retention_in_days = None
    return describe_log_group(session, name)


def delete_log_group(session: Session, name: str) -> None:
    """The group, its streams and their events. A platform group comes back, empty, with
    the next line a job, endpoint or pipeline writes."""
    group = _group(session, name)
    stream_ids = select(LogStream.id).where(LogStream.group_name == name)
    session.execute(delete(LogEvent).where(LogEvent.stream_id.in_(stream_ids)))
    session.execute(delete(LogStream).where(LogStream.group_name == name))
    session.delete(group)


def _group(session: Session, name: str) -> LogGroup:
    group = session.get(LogGroup, name)
    if group is None:
        raise NotFound(f"log group '{name}' does not exist")
    return group


def _group_out(
    group: LogGroup, stream_count: int, stored_bytes: int, last: datetime | None
) -> LogGroupOut:
    return LogGroupOut(
        name=group.name,
        srn=log_group_srn(group.name),
        retention_in_days=group.retention_in_days,
        managed=group.managed,
        stream_count=stream_count,
        stored_bytes=stored_bytes,
        last_event_at=as_utc(last),
        created_at=as_utc(group.created_at) or group.created_at,
    )


# ---- streams ------------------------------------------------------------------------
def list_log_streams(
    session: Session,
    group: str,
    prefix: str | None = None,
    *,
    order_by: StreamOrder = "LogStreamName",
    limit: int = 50,
    offset: int = 0,
) -> list[LogStreamOut]:
    _group(session, group)
    query = select(LogStream).where(LogStream.group_name == group)
    if prefix:
        query = query.where(LogStream.name.startswith(prefix, autoescape=True))
    if order_by == "LastEventTime":
        query = query.order_by(LogStream.last_event_at.desc(), LogStream.name)
    else:
        query = query.order_by(LogStream.name)
    return [_stream_out(s) for s in session.scalars(query.limit(limit).offset(offset))]


def _stream_out(stream: LogStream) -> LogStreamOut:
    return LogStreamOut(
        log_group_name=stream.group_name,
        name=stream.name,
        first_event_at=as_utc(stream.first_event_at),
        last_event_at=as_utc(stream.last_event_at),
        last_ingested_at=as_utc(stream.last_ingested_at),
        event_count=stream.next_seq,
        stored_bytes=stream.stored_bytes,
        created_at=as_utc(stream.created_at) or stream.created_at,
    )


# ---- events -------------------------------------------------------------------------
def put_log_events(
    session: Session,
    group: str,
    stream: str,
    events: Sequence[InputLogEvent],
    now: datetime | None = None,
) -> int:
    """Append to a stream of a user's group (created if missing); the stream's next seq."""
    row = _group(session, group)
    if row.managed:
        raise ValidationError(f"'{group}' is written by the platform only", "log_group_name")
    logstore.validate_stream_name(stream)
    now = now or utcnow()
    checked = [_checked_event(event, i, now) for i, event in enumerate(events)]
    size = sum(len(m.encode()) + 26 for _, m in checked)  # CloudWatch counts 26 bytes each
    if size > MAX_PUT_BYTES:
        raise ValidationError(f"{size} bytes in one call, more than {MAX_PUT_BYTES}", "log_events")
    return logstore.append(session, group, stream, checked)


def _checked_event(event: InputLogEvent, index: int, now: datetime) -> tuple[datetime, str]:
    field = f"log_events.{index}.timestamp"
    at = now if event.timestamp is None else as_utc(event.timestamp)
    assert at is not None
    if at < now - MAX_PAST:
        raise ValidationError("more than 14 days in the past", field)
    if at > now + MAX_FUTURE:
        raise ValidationError("more than 2 hours in the future", field)
    return at, event.message


def get_log_events(
    session: Session, group: str, stream: str, *, after_seq: int = -1, limit: int = 1000
) -> StreamEventsOut:
    _group(session, group)
    events = logstore.read_stream(session, group, stream, after_seq=after_seq, limit=limit)
    return StreamEventsOut(
        events=[_event_out(e) for e in events], next_seq=events[-1].seq if events else after_seq
    )


def filter_log_events(
    session: Session,
    group: str,
    *,
    pattern: str | None = None,
    streams: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    next_token: str | None = None,
    limit: int = 1000,
) -> FilteredLogEventsOut:
    """The group's events that match ``pattern``, in the order they were stored."""
    matcher = patterns.parse(pattern)
    if start is not None and end is not None and end <= start:
        raise ValidationError("must be after start_time", "end_time")
    _group(session, group)
    cursor = _cursor(next_token)
    found: list[StoredEvent] = []
    searched = 0
    complete = False
    while len(found) < limit and searched < MAX_SCAN:
        chunk = logstore.scan(
            session,
            group,
            streams=streams,
            start=start,
            end=end,
            after_id=cursor,
            contains=matcher.substrings,
            limit=min(SCAN_CHUNK, MAX_SCAN - searched),
        )
        for event in chunk:
            cursor = event.id
            if matcher.matches(event.message):
                found.append(event)
                if len(found) == limit:
                    break
        searched += len(chunk)
        if len(chunk) < SCAN_CHUNK and len(found) < limit:
            complete = True
            break
    return FilteredLogEventsOut(
        events=[_event_out(e) for e in found],
        next_token=str(cursor),
        complete=complete,
        searched_events=searched,
    )


def _cursor(token: str | None) -> int:
    if token is None or token == "":
        return 0
    if not token.isdigit():
        raise ValidationError(f"{token!r} is not a token this API gave", "next_token")
    return int(token)


def _event_out(event: StoredEvent) -> LogEventOut:
    return LogEventOut(
        event_id=str(event.id),
        log_stream_name=event.stream,
        seq=event.seq,
        timestamp=event.timestamp,
        ingested_at=event.ingested_at,
        message=event.message,
    )


# ---- retention ----------------------------------------------------------------------
def expire_all(db: Database, now: datetime | None = None) -> int:
    """Delete what every group's retention no longer keeps (a scheduler duty)."""
    with db.session_scope() as session:
        return logstore.expire(session, now)
