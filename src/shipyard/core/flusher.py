"""``Flusher``: the background thread of an in-memory buffer, which writes what was added
about every ``flush_seconds`` and once more when stopped (the metric and log buffers)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class Flusher(ABC):
    def __init__(self, flush_seconds: float, thread_name: str) -> None:
        self.flush_seconds = flush_seconds
        self._thread_name = thread_name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def flush(self) -> int:
        """Write what was added so far; how much was stored."""

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the flusher and write what is left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # keep flushing after any surprise
                log.exception("the %s thread's flush failed", self._thread_name)
