"""``LogBuffer``: log lines of hot paths (an endpoint's invocations), written in the background.

``add`` takes a lock and appends to a list: no database work on the caller's thread. A
flusher thread writes the lines about once a second, a transaction per flush, through
:func:`shipyard.core.logstore.append`; ``flush()`` writes now (shutdown, tests). A failed
write is kept for the next flush, up to ``max_pending`` lines (then the newest are counted
in ``dropped``), so a DB hiccup loses nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from shipyard.core import logstore
from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.flusher import Flusher

log = logging.getLogger(__name__)

Line = tuple[str, str, datetime, str]  # group, stream, timestamp, message


class LogBuffer(Flusher):
    def __init__(
        self, db: Database, *, flush_seconds: float = 1.0, max_pending: int = 50_000
    ) -> None:
        super().__init__(flush_seconds, "log-buffer")
        self.db = db
        self.max_pending = max_pending
        self._pending: list[Line] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.dropped = 0

    def add(self, group: str, stream: str, message: str, timestamp: datetime | None = None) -> None:
        line = (group, stream, timestamp or utcnow(), message)
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                return
            self._pending.append(line)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what was added so far; how many lines were stored."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return 0
            by_stream: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
            for group, stream, at, message in taken:
                by_stream.setdefault((group, stream), []).append((at, message))
            try:
                with self.db.session_scope() as session:
                    for (group, stream), events in sorted(by_stream.items()):
                        logstore.append(session, group, stream, events)
            except Exception:
                log.exception("writing %d buffered log lines failed; keeping them", len(taken))
                self._restore(taken)
                return 0
            return len(taken)

    def _restore(self, taken: list[Line]) -> None:
        with self._lock:
            room = max(0, self.max_pending - len(self._pending))
            self.dropped += max(0, len(taken) - room)
            self._pending = taken[:room] + self._pending
