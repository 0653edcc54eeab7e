"""Waiting for something to reach a final state, optionally streaming its logs."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from shipyard.core.errors import ShipyardError

POLL_SECONDS = 0.5


class UnexpectedStatus(ShipyardError):
    """A job or endpoint ended in a status other than the one waited for."""

    code = "UnexpectedStatus"

    def __init__(self, message: str, description: dict[str, Any]) -> None:
        super().__init__(message)
        self.description = description


def wait_until(
    describe: Callable[[], dict[str, Any]],
    *,
    done: tuple[str, ...],
    on_poll: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Poll ``describe()`` until its ``status`` is in ``done``; returns the last description."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        description = describe()
        if on_poll is not None:
            on_poll(description)
        if description["status"] in done:
            return description
        if deadline is not None and time.monotonic() > deadline:
            raise ShipyardError(f"timed out waiting; still {description['status']}")
        time.sleep(POLL_SECONDS)


class LogFollower:
    """Prints the new log lines of a job each time it is called."""

    def __init__(self, fetch: Callable[[int], dict[str, Any]], out: TextIO | None = None) -> None:
        self.fetch = fetch
        self.out = out or sys.stdout
        self.after_seq = -1

    def __call__(self, _description: dict[str, Any] | None = None) -> None:
        while True:
            page = self.fetch(self.after_seq)
            for line in page["lines"]:
                self.out.write(line["message"] + "\n")
            self.after_seq = page["next_seq"]
            if len(page["lines"]) < 1000:
                break
        self.out.flush()


def unique_name(base: str) -> str:
    """``base`` plus a timestamp, SageMaker-style, within the 63-character name limit."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S-%f")[:-3]
    cleaned = "".join(c if c.isalnum() else "-" for c in base).strip("-")[:38] or "job"
    return f"{cleaned}-{stamp}"


def content_name(path: Path) -> str:
    """A dataset name derived from a file's content, so re-uploading is a no-op."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return f"upload-{digest.hexdigest()[:32]}"
