"""The line protocol a job process speaks to its worker on stdout.

A line ``##shipyard {"event": ...}`` is an event; every other line is log output. It works
on any executor that streams output. The events:

- ``metric``: a metric point (name, value, optional step);
- ``status``: a new secondary status;
- ``failure``: why the job is about to fail;
- ``stop``: the job ends itself early, on purpose (a tuning pruner, a debugger rule): it is
  recorded ``Stopped`` with this reason whatever its exit code;
- ``record``: a document of a named ``kind`` that a room interprets (debugger rule
  statuses), stored with the job.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

PREFIX = "##shipyard "


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(PREFIX + json.dumps(event) + "\n")
    sys.stdout.flush()


def emit_metric(name: str, value: float, step: int | None = None) -> None:
    value = float(value)
    if not math.isfinite(value):
        return
    _emit({"event": "metric", "name": str(name), "value": value, "step": step})


def emit_status(secondary_status: str) -> None:
    _emit({"event": "status", "secondary_status": secondary_status})


def emit_failure(reason: str) -> None:
    _emit({"event": "failure", "reason": reason[:2000]})


def emit_stop(reason: str) -> None:
    _emit({"event": "stop", "reason": reason[:2000]})


def emit_record(kind: str, data: dict[str, Any], step: int | None = None) -> None:
    _emit({"event": "record", "kind": kind, "data": data, "step": step})


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on ``line``, or None when it is ordinary log output."""
    if not line.startswith(PREFIX):
        return None
    try:
        event = json.loads(line[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None
