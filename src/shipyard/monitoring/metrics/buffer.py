"""``MetricBuffer``: the hot paths' metrics, aggregated in memory and written in the background.

``add`` only takes a lock and updates a dict: no database work on the caller's thread. Each
(namespace, name, dimensions, unit, second) keeps its values with their counts, so the
store still answers percentiles. A flusher thread writes everything about once a second
through ``put_platform_metrics``; ``flush()`` writes now (shutdown, tests). A failed write
is kept for the next flush (up to ``max_pending`` keys), so a DB hiccup loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from shipyard.core.db import Database
from shipyard.core.errors import ValidationError
from shipyard.core.flusher import Flusher
from shipyard.monitoring.metrics.schemas import MAX_VALUES, MetricDatum

log = logging.getLogger(__name__)

BufferKey = tuple[str, str, tuple[tuple[str, str], ...], str, int]


class MetricBuffer(Flusher):
    def __init__(
        self, db: Database, *, flush_seconds: float = 1.0, max_pending: int = 100_000
    ) -> None:
        super().__init__(flush_seconds, "metric-buffer")
        self.db = db
        self.max_pending = max_pending
        self._pending: dict[BufferKey, dict[float, float]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one write at a time, in order
        self.dropped = 0

    def add(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        value: float,
        unit: str = "None",
        timestamp: datetime | None = None,
    ) -> None:
        """Count ``value`` for this metric in the current second (or ``timestamp``'s)."""
        self.add_many(namespace, dimensions, [(name, value, unit)], timestamp)

    def add_many(
        self,
        namespace: str,
        dimensions: Mapping[str, str],
        samples: Sequence[tuple[str, float, str]],
        timestamp: datetime | None = None,
    ) -> None:
        """:meth:`add` for several ``(name, value, unit)`` of one namespace and dimensions:
        one clock read and one lock (an invocation records five)."""
        second = int(time.time() if timestamp is None else timestamp.timestamp())
        ordered = tuple(sorted(dimensions.items()))
        with self._lock:
            for name, value, unit in samples:
                values = self._values_of((namespace, name, ordered, unit, second))
                if values is not None:
                    values[value] = values.get(value, 0.0) + 1.0

    def add_counted(
        self,
        namespace: str,
        dimensions: Mapping[str, str],
        samples: Sequence[tuple[str, Mapping[float, float], str]],
    ) -> None:
        """Values already counted, ``(name, {value: count}, unit)``, in the current second
        (many invocations summed elsewhere: a shadow instance's tallies)."""
        second = int(time.time())
        ordered = tuple(sorted(dimensions.items()))
        with self._lock:
            for name, counts, unit in samples:
                values = self._values_of((namespace, name, ordered, unit, second))
                if values is None:
                    continue
                for value, count in counts.items():
                    if count:
                        values[value] = values.get(value, 0.0) + count

    def _values_of(self, key: BufferKey) -> dict[float, float] | None:
        """The counts of ``key`` (under the lock); None, counted as dropped, when the
        buffer already holds ``max_pending`` keys."""
        values = self._pending.get(key)
        if values is None:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                return None
            values = self._pending[key] = {}
        return values

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what was added so far; returns how many data were stored."""
        from shipyard.monitoring.metrics.service import put_platform_metrics

        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return 0
            by_namespace: dict[str, list[MetricDatum]] = {}
            for (namespace, name, dimensions, unit, second), values in taken.items():
                by_namespace.setdefault(namespace, []).extend(
                    _data(name, dict(dimensions), unit, second, values)
                )
            try:
                with self.db.session_scope() as session:
                    return sum(
                        put_platform_metrics(session, namespace, data)
                        for namespace, data in by_namespace.items()
                    )
            except ValidationError:  # it would fail again: drop it, loudly
                log.exception("buffered metrics were refused; dropping %d", len(taken))
                self.dropped += len(taken)
                return 0
            except Exception:
                log.exception("writing %d buffered metrics failed; keeping them", len(taken))
                self._restore(taken)
                return 0

    def _restore(self, taken: dict[BufferKey, dict[float, float]]) -> None:
        with self._lock:
            for key, values in taken.items():
                into = self._pending.get(key)
                if into is None:
                    if len(self._pending) >= self.max_pending:
                        self.dropped += 1
                        continue
                    into = self._pending[key] = {}
                for value, count in values.items():
                    into[value] = into.get(value, 0.0) + count


def _data(
    name: str, dimensions: dict[str, str], unit: str, second: int, values: dict[float, float]
) -> list[MetricDatum]:
    at = datetime.fromtimestamp(second, UTC)
    items = list(values.items())
    return [
        MetricDatum.model_construct(
            metric_name=name,
            dimensions=dimensions,
            value=None,
            values=[v for v, _ in items[start : start + MAX_VALUES]],
            counts=[c for _, c in items[start : start + MAX_VALUES]],
            statistic_values=None,
            unit=unit,
            timestamp=at,
            storage_resolution=1,
        )
        for start in range(0, len(items), MAX_VALUES)
    ]
