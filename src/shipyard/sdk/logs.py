"""``LogGroup``: read, filter and follow the platform's logs; write logs of your own.

jobs = LogGroup("/shipyard/training-jobs")
for event in jobs.filter('?ERROR ?Traceback', since=timedelta(hours=1)):
    print(event["log_stream_name"], event["message"])
jobs.put_retention_policy(30)

mine = LogGroup("/team/etl").create(retention_in_days=14)
mine.put_events("nightly", ["started", "done: 1,204 rows"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from shipyard.core.clock import utcnow
from shipyard.core.logstore import validate_group_name
from shipyard.sdk.client import Session

LOG_GROUPS = "/api/v1/log-groups"
When = datetime | timedelta
"""A moment, or how long before now."""


class LogGroup:
    """A log group on the server, by name: ``/shipyard/training-jobs``,
    ``/shipyard/endpoints/<name>``, ``/shipyard/pipelines/<name>`` or one of yours."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = validate_group_name(name, "name")
        self.session = session or Session()

    @classmethod
    def list_log_groups(
        cls, prefix: str | None = None, session: Session | None = None
    ) -> list[dict[str, Any]]:
        return (session or Session()).list_all(LOG_GROUPS, prefix=prefix)

    @property
    def path(self) -> str:
        return f"{LOG_GROUPS}/{quote(self.name, safe='')}"

    def create(self, *, retention_in_days: int | None = None) -> LogGroup:
        self.session.post(
            LOG_GROUPS, json={"name": self.name, "retention_in_days": retention_in_days}
        )
        return self

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    def delete(self) -> None:
        """The group, its streams and their events."""
        self.session.delete(self.path)

    def put_retention_policy(self, retention_in_days: int) -> dict[str, Any]:
        """Keep events this many days (1, 3, 5, 7, 14, 30, 60, 90, … 3653)."""
        response = self.session.request(
            "PUT",
            f"{self.path}/retention-policy",
            json={"retention_in_days": retention_in_days},
        )
        return response.json()

    def delete_retention_policy(self) -> dict[str, Any]:
        """Keep events forever."""
        return self.session.request("DELETE", f"{self.path}/retention-policy").json()

    def streams(
        self, prefix: str | None = None, *, order_by: str = "LogStreamName"
    ) -> list[dict[str, Any]]:
        """``order_by``: ``LogStreamName`` or ``LastEventTime`` (newest first)."""
        return self.session.list_all(f"{self.path}/streams", prefix=prefix, order_by=order_by)

    def put_events(self, stream: str, events: Iterable[str | tuple[datetime, str]]) -> int:
        """Append messages (now) or ``(timestamp, message)`` pairs; the stream's next seq."""
        body = [_input_event(event) for event in events]
        response = self.session.post(
            f"{self.path}/events", json={"log_stream_name": stream, "log_events": body}
        )
        return response["next_seq"]

    def events(self, stream: str, *, after_seq: int = -1, limit: int = 1000) -> dict[str, Any]:
        """A page of one stream: ``{"events": [...], "next_seq": …}``."""
        return self.session.get(
            f"{self.path}/streams/{quote(stream, safe='')}/events",
            after_seq=after_seq,
            limit=limit,
        )

    def filter(
        self,
        pattern: str | None = None,
        *,
        streams: Sequence[str] | None = None,
        since: When | None = None,
        until: When | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every event matching ``pattern`` (CloudWatch filter syntax), oldest stored first."""
        yielded = 0
        for page in self._pages(pattern, streams, _moment(since), _moment(until)):
            for event in page["events"]:
                if limit is not None and yielded >= limit:
                    return
                yield event
                yielded += 1
            if page["complete"]:
                return

    def follow(
        self,
        pattern: str | None = None,
        *,
        streams: Sequence[str] | None = None,
        since: When | None = timedelta(minutes=10),
        poll_seconds: float = 1.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[dict[str, Any]]:
        """The matching events since ``since``, then each new one as it is stored, until
        ``stop()`` says so (or the caller stops iterating)."""
        token: str | None = None
        start = _moment(since)
        while True:
            page = self._page(pattern, streams, start, None, token)
            yield from page["events"]
            token = page["next_token"]
            if page["complete"]:
                if stop():
                    return
                time.sleep(poll_seconds)

    def _pages(
        self,
        pattern: str | None,
        streams: Sequence[str] | None,
        start: str | None,
        end: str | None,
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._page(pattern, streams, start, end, token)
            yield page
            token = page["next_token"]

    def _page(
        self,
        pattern: str | None,
        streams: Sequence[str] | None,
        start: str | None,
        end: str | None,
        token: str | None,
    ) -> dict[str, Any]:
        return self.session.get(
            f"{self.path}/events",
            pattern=pattern or None,
            stream=list(streams) if streams else None,
            start_time=start,
            end_time=end,
            next_token=token,
        )


def _input_event(event: str | tuple[datetime, str]) -> dict[str, Any]:
    if isinstance(event, str):
        return {"message": event}
    timestamp, message = event
    return {"timestamp": timestamp.isoformat(), "message": message}


def _moment(when: When | None) -> str | None:
    if when is None:
        return None
    moment = utcnow() - when if isinstance(when, timedelta) else when
    return moment.isoformat()
