"""The scheduler: runs periodic duties on one background thread (see shipyard.duties)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class PeriodicTask:
    name: str
    every_seconds: float
    run: Callable[[], object]
    next_at: float = 0.0


class Scheduler:
    """Runs each registered task every ``every_seconds`` on one background thread."""

    def __init__(self) -> None:
        self.tasks: list[PeriodicTask] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        self.tasks.append(PeriodicTask(name, seconds, run))

    def trigger(self, name: str) -> None:
        """Run the task called `name` now rather than when it is next due."""
        for task in self.tasks:
            if task.name == name:
                task.next_at = 0.0
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def run_due(self, now: float) -> None:
        for task in self.tasks:
            if now < task.next_at:
                continue
            task.next_at = now + task.every_seconds
            try:
                task.run()
            except Exception:
                log.exception("scheduled task %s failed", task.name)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.run_due(time.monotonic())
            self._wake.wait(0.5)
            self._wake.clear()
