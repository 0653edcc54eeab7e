"""The log store every room writes to: log groups, their streams, and the streams' events.

A job's output is the stream named after the job in its kind's group
(``/shipyard/training-jobs``), an endpoint's is a stream per variant in
``/shipyard/endpoints/<name>``, a pipeline execution's a stream in
``/shipyard/pipelines/<name>``; users make groups of their own. Each stream numbers its
events (``seq``, from 0) as they are stored, so a reader pages with ``after_seq`` and never
misses or repeats a line. The monitoring room's ``logs`` service reads, filters and expires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Base
from shipyard.core.errors import ValidationError

PLATFORM_PREFIX = "/shipyard/"
GROUP_NAME = re.compile(r"[A-Za-z0-9._\-/#]{1,512}")
STREAM_NAME = re.compile(r"[^:*\x00-\x1f]{1,512}")
MAX_MESSAGE_BYTES = 256 * 1024
"""CloudWatch's limit on one event; a longer message is cut, ending in TRUNCATION_MARK."""
TRUNCATION_MARK = " …[truncated]"


class LogGroup(Base):
    __tablename__ = "log_groups"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    retention_in_days: Mapped[int | None] = mapped_column(Integer)
    managed: Mapped[bool] = mapped_column(Boolean, default=False)
    """Made by the platform (``/shipyard/…``): only the platform writes to it."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogStream(Base):
    __tablename__ = "log_streams"
    __table_args__ = (UniqueConstraint("group_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_name: Mapped[str] = mapped_column(
        ForeignKey("log_groups.name", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ingested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_seq: Mapped[int] = mapped_column(Integer, default=0)
    stored_bytes: Mapped[int] = mapped_column(Integer, default=0)


class LogEvent(Base):
    __tablename__ = "log_events"
    __table_args__ = (
        Index("ix_log_events_stream_seq", "stream_id", "seq"),
        Index("ix_log_events_stream_timestamp", "stream_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("log_streams.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class StoredEvent:
    """One event as read back: ``id`` orders every event of the store as it was stored."""

    id: int
    stream: str
    seq: int
    timestamp: datetime
    ingested_at: datetime
    message: str


# ---- names ---------------------------------------------------------------------------
def job_group(kind: str) -> str:
    """The group of the jobs of ``kind``: ``/shipyard/training-jobs``."""
    return f"{PLATFORM_PREFIX}{kind}-jobs"


def endpoint_group(endpoint: str) -> str:
    return f"{PLATFORM_PREFIX}endpoints/{endpoint}"


def pipeline_group(pipeline: str) -> str:
    return f"{PLATFORM_PREFIX}pipelines/{pipeline}"


def validate_group_name(name: str, field: str = "log_group_name") -> str:
    if not GROUP_NAME.fullmatch(name):
        raise ValidationError(
            f"{name!r} is not a log group name: 1 to 512 of letters, digits and . _ - / #",
            field,
        )
    return name


def validate_stream_name(name: str, field: str = "log_stream_name") -> str:
    if not STREAM_NAME.fullmatch(name):
        raise ValidationError(
            f"{name!r} is not a log stream name: 1 to 512 characters, "
            "without ':', '*' or control characters",
            field,
        )
    return name


# ---- writing -------------------------------------------------------------------------
def ensure_group(
    session: Session, name: str, *, managed: bool = True, retention_in_days: int | None = None
) -> LogGroup:
    """The group ``name``, created if missing (by this writer or, meanwhile, another)."""
    group = session.get(LogGroup, name)
    if group is not None:
        return group
    row = {
        "name": name,
        "managed": managed,
        "retention_in_days": retention_in_days,
        "created_at": utcnow(),
    }
    try:
        with session.begin_nested():
            session.execute(insert(LogGroup), [row])
    except IntegrityError:  # another writer made it first
        pass
    group = session.get(LogGroup, name)
    assert group is not None
    return group


def locked_stream(session: Session, group: str, stream: str) -> LogStream:
    """The stream, created if missing, locked until the transaction ends (PostgreSQL) so
    that two writers number their events one after the other."""
    ensure_group(session, group, managed=group.startswith(PLATFORM_PREFIX))
    query = select(LogStream).where(LogStream.group_name == group, LogStream.name == stream)
    row = session.scalars(query.with_for_update()).one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.execute(
                insert(LogStream),
                [{"group_name": group, "name": stream, "created_at": utcnow(), "next_seq": 0}],
            )
    except IntegrityError:
        pass
    return session.scalars(query.with_for_update()).one()


def append(
    session: Session, group: str, stream: str, events: Sequence[tuple[datetime, str]]
) -> int:
    """Store ``(timestamp, message)`` events at the end of the stream; the next ``seq``."""
    row = locked_stream(session, group, stream)
    if not events:
        return row.next_seq
    now = utcnow()
    messages = [_bounded(message) for _, message in events]
    session.execute(
        insert(LogEvent),
        [
            {
                "stream_id": row.id,
                "seq": row.next_seq + i,
                "timestamp": timestamp,
                "ingested_at": now,
                "message": message,
            }
            for i, ((timestamp, _), message) in enumerate(zip(events, messages, strict=True))
        ],
    )
    stamps = [as_utc(t) or t for t, _ in events]
    first, last = as_utc(row.first_event_at), as_utc(row.last_event_at)
    row.first_event_at = min(stamps) if first is None else min(first, *stamps)
    row.last_event_at = max(stamps) if last is None else max(last, *stamps)
    row.last_ingested_at = now
    row.next_seq += len(events)
    row.stored_bytes += sum(len(m.encode()) for m in messages)
    return row.next_seq


def _bounded(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    keep = MAX_MESSAGE_BYTES - len(TRUNCATION_MARK.encode())
    return encoded[:keep].decode(errors="ignore") + TRUNCATION_MARK


# ---- reading -------------------------------------------------------------------------
def read_stream(
    session: Session, group: str, stream: str, *, after_seq: int = -1, limit: int = 1000
) -> list[StoredEvent]:
    """The stream's events after ``after_seq``, in order, at most ``limit``."""
    query = (
        select(
            LogEvent.id, LogEvent.seq, LogEvent.timestamp, LogEvent.ingested_at, LogEvent.message
        )
        .join(LogStream, LogStream.id == LogEvent.stream_id)
        .where(LogStream.group_name == group, LogStream.name == stream, LogEvent.seq > after_seq)
        .order_by(LogEvent.seq)
        .limit(limit)
    )
    return [
        StoredEvent(id_, stream, seq, _utc(ts), _utc(ingested), message)
        for id_, seq, ts, ingested, message in session.execute(query)
    ]


def scan(
    session: Session,
    group: str,
    *,
    streams: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after_id: int = 0,
    contains: Sequence[str] = (),
    limit: int = 1000,
) -> list[StoredEvent]:
    """The group's events after the event ``after_id``, in the order they were stored: of
    ``streams`` only, if given; with ``start <= timestamp < end``; whose message has each
    of ``contains`` (a pre-filter: matching case is the caller's)."""
    query = (
        select(
            LogEvent.id,
            LogStream.name,
            LogEvent.seq,
            LogEvent.timestamp,
            LogEvent.ingested_at,
            LogEvent.message,
        )
        .join(LogStream, LogStream.id == LogEvent.stream_id)
        .where(LogStream.group_name == group, LogEvent.id > after_id)
    )
    if streams is not None:
        query = query.where(LogStream.name.in_(streams))
    if start is not None:
        query = query.where(LogEvent.timestamp >= start)
    if end is not None:
        query = query.where(LogEvent.timestamp < end)
    for text in contains:
        query = query.where(LogEvent.message.contains(text, autoescape=True))
    rows = session.execute(query.order_by(LogEvent.id).limit(limit))
    return [
        StoredEvent(id_, name, seq, _utc(ts), _utc(ingested), message)
        for id_, name, seq, ts, ingested, message in rows
    ]


def _utc(moment: datetime) -> datetime:
    return as_utc(moment) or moment


# ---- expiry --------------------------------------------------------------------------
def expire(session: Session, now: datetime | None = None) -> int:
    """Delete the events older than their group's retention, and the streams left with no
    event that would still be kept; how many events were deleted."""
    now = now or utcnow()
    deleted = 0
    groups = session.execute(
        select(LogGroup.name, LogGroup.retention_in_days).where(
            LogGroup.retention_in_days.is_not(None)
        )
    ).all()
    for name, days in groups:
        deleted += _expire_group(session, name, now - timedelta(days=days or 0))
    return deleted


def _expire_group(session: Session, group: str, cutoff: datetime) -> int:
    touched = list(
        session.scalars(
            select(LogStream.id).where(
                LogStream.group_name == group, LogStream.first_event_at < cutoff
            )
        )
    )
    deleted = 0
    if touched:
        result = session.execute(
            delete(LogEvent).where(LogEvent.stream_id.in_(touched), LogEvent.timestamp < cutoff)
        )
        deleted = result.rowcount or 0  # type: ignore[attr-defined]
        kept = select(LogEvent).where(LogEvent.stream_id == LogStream.id).correlate(LogStream)
        session.execute(
            update(LogStream)
            .where(LogStream.id.in_(touched))
            .values(
                first_event_at=kept.with_only_columns(
                    func.min(LogEvent.timestamp)
                ).scalar_subquery(),
                stored_bytes=kept.with_only_columns(
                    func.coalesce(func.sum(_byte_length(session, LogEvent.message)), 0)
                ).scalar_subquery(),
            )
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(LogStream).where(
            LogStream.group_name == group,
            (LogStream.last_event_at < cutoff)
            | (LogStream.last_event_at.is_(None) & (LogStream.created_at < cutoff)),
        )
    )
    return deleted


def _byte_length(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.octet_length(column)
    return func.length(cast(column, LargeBinary))  # SQLite counts a BLOB's bytes
