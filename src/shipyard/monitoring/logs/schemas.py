"""Request and response types of log groups, streams and events (server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""The retention periods CloudWatch Logs accepts, in days."""
MAX_PUT_EVENTS = 10_000
MAX_PUT_BYTES = 1024 * 1024
MAX_FILTER_LIMIT = 10_000
StreamOrder = Literal["LogStreamName", "LastEventTime"]


def check_retention(days: int | None) -> int | None:
    if days is not None and days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise ValueError(f"expected one of {allowed} (days), got {days}")
    return days


class LogGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    retention_in_days: int | None = None
    """None keeps events forever."""

    _retention = field_validator("retention_in_days")(check_retention)


class RetentionPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_in_days: int

    _retention = field_validator("retention_in_days")(check_retention)


class LogGroupOut(BaseModel):
    name: str
    srn: str
    retention_in_days: int | None
    managed: bool
    """Written by the platform (job, endpoint and pipeline logs)."""
    stream_count: int
    stored_bytes: int
    last_event_at: datetime | None
    created_at: datetime


class LogStreamOut(BaseModel):
    log_group_name: str
    name: str
    first_event_at: datetime | None
    last_event_at: datetime | None
    last_ingested_at: datetime | None
    event_count: int
    stored_bytes: int
    created_at: datetime


class InputLogEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: datetime | None = None
    """When it happened (UTC); now if left out."""
    message: str = Field(min_length=1)


class PutLogEventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_stream_name: str = Field(min_length=1, max_length=512)
    log_events: list[InputLogEvent] = Field(min_length=1, max_length=MAX_PUT_EVENTS)


class PutLogEventsOut(BaseModel):
    next_seq: int
    """The ``seq`` the stream's next event will have."""


class LogEventOut(BaseModel):
    event_id: str
    log_stream_name: str
    seq: int
    timestamp: datetime
    ingested_at: datetime
    message: str


class FilteredLogEventsOut(BaseModel):
    events: list[LogEventOut]
    next_token: str
    """Where the next call goes on from: later pages, or, once ``complete``, events stored
    after this call (``tail --follow``)."""
    complete: bool
    """Every event stored up to now was searched."""
    searched_events: int


class StreamEventsOut(BaseModel):
    events: list[LogEventOut]
    next_seq: int
    """The ``after_seq`` of the next page."""
