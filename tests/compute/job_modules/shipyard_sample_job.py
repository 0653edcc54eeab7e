"""A job entry point for the worker tests; ``payload["behaviour"]`` says what it does."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from shipyard.compute.events import emit_metric, emit_record, emit_stop

FOREVER = 600


def report(payload: dict[str, Any]) -> None:
    """Print numbered lines, emit metrics, print lines a metric definition can read."""
    if "SAMPLE_JOB_EVENT" in os.environ:
        print(os.environ["SAMPLE_JOB_EVENT"])
    for index in range(payload.get("lines", 3)):
        print(f"line {index}")
    for step in range(4):
        emit_metric("loss", 1.0 / (step + 1), step=step)
    for accuracy in (0.5, 0.625, 0.75):
        print(f"validation accuracy={accuracy}")
    emit_metric("cpus", len(os.sched_getaffinity(0)))
    emit_metric("omp_threads", float(os.environ.get("OMP_NUM_THREADS", "0")))


def fail(payload: dict[str, Any]) -> None:
    raise ValueError("the data is bad")


def sleep(payload: dict[str, Any]) -> None:
    print("sleeping", flush=True)
    time.sleep(FOREVER)


def stubborn(payload: dict[str, Any]) -> None:
    """Ignore SIGTERM, so that only the SIGKILL after the grace period ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("sleeping through SIGTERM", flush=True)
    time.sleep(FOREVER)


def hog(payload: dict[str, Any]) -> None:
    """Hold far more memory than the job's limit (bytes that are really written)."""
    ballast = b"\x01" * (payload["megabytes"] * 1024 * 1024)
    print(f"holding {len(ballast)} bytes", flush=True)
    time.sleep(FOREVER)


def second_time_lucky(payload: dict[str, Any]) -> None:
    """Hang on the first attempt (the test kills the worker); succeed on the next one."""
    marker = Path(payload["marker"])
    if marker.exists():
        print("second attempt: done")
        return
    marker.write_text(str(os.getpid()))
    print("first attempt: hanging", flush=True)
    time.sleep(FOREVER)


def give_up(payload: dict[str, Any]) -> None:
    """Record two documents, then end itself early on purpose, with an exit code of its own."""
    emit_record("sample.verdict", {"rule": "patience", "status": "InProgress"}, step=0)
    emit_record("sample.verdict", {"rule": "patience", "status": "IssuesFound"}, step=5)
    emit_stop("GaveUp: the loss stopped falling at step 5")
    raise SystemExit(payload.get("exit_code", 0))


BEHAVIOURS = {
    f.__name__: f for f in (report, fail, sleep, stubborn, hog, second_time_lucky, give_up)
}


def main(payload: dict[str, Any]) -> None:
    BEHAVIOURS[payload["behaviour"]](payload)
