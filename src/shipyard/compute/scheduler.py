"""The scheduler: runs the platform's periodic duties (reaping lost jobs, for now)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.compute import service
from shipyard.core.config import Settings
from shipyard.core.db import Database

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
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        self.tasks.append(PeriodicTask(name, seconds, run))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
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
            self._stopping.wait(0.5)


def platform_scheduler(settings: Settings, db: Database) -> Scheduler:
    scheduler = Scheduler()
    hostname = socket.gethostname()
    scheduler.every(
        max(settings.heartbeat_seconds * 5, 5.0),
        "reap-lost-jobs",
        lambda: service.reap_lost_jobs(db, hostname, settings.heartbeat_timeout_seconds),
    )
    return scheduler
