"""Shadow tests: a shadow variant answers a copy of a share of production requests after
their answer went out, and what it answered is compared with production's.

The request path only appends a copy to a bounded queue (``ShadowRunner.submit``: no lock,
no wake-up; a full queue drops the copy and counts it): the shadow never delays or changes
a production answer. A worker thread takes the copies every ``GATHER_SECONDS`` and sends
each shadow its burst, with production's answers, in one write to one of its instances
(which run at idle CPU priority). The instance answers each copy, compares, and keeps the
tallies (:mod:`shipyard.serving.comparison`); no reply comes back, so production's process
reads no shadow answer. About once a second the worker collects the tallies of every
instance it sent copies to, adds the shadow's invocation metrics, and a flusher writes the
tallies to ``shadow_comparisons``; :func:`shadow_report` sums them over a range.

A shadow that stops with its deployment hands its tallies over first (the host drains the
runner); a shadow instance that dies takes the tallies it had not handed over yet with it
(at most about a second of copies).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc
from shipyard.core.db import Database
from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.core.flusher import Flusher
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import record_invocations
from shipyard.serving import wire
from shipyard.serving.comparison import (
    BUCKET_BASE,
    ComparisonKey,
    Tally,
    bucket_microseconds,
    sum_histograms,
    tallies_of,
)
from shipyard.serving.fleet import (
    INVOCATION_TIMEOUT_SECONDS,
    Instance,
    InstanceLost,
    InstanceRequest,
    InvocationTimeout,
    VariantFleet,
)
from shipyard.serving.models import ShadowComparison
from shipyard.serving.schemas import LatencySummary, ShadowReportOut, ShadowVariantReport

log = logging.getLogger(__name__)
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
TallyKey = tuple[str, str, str, datetime]  # endpoint, shadow, production variant, minute
ShadowKey = tuple[str, str]  # endpoint, shadow
GATHER_SECONDS = 0.05
"""How often the worker takes the copies that gathered: each shadow gets all of them in
one write, so production's process and core are interrupted once per burst, not once per
copy."""
MAX_BURST = 256
"""The most copies in one write."""


@dataclass(slots=True)
class ShadowTask:
    endpoint: str
    production_variant: str
    shadow_variant: str
    fleet: VariantFleet
    request: InstanceRequest
    """The production request: its content type, its Accept and its body."""
    production: tuple[bytes, str]
    """Production's answer and its content type."""
    production_latency_us: float
    at: float
    """When production answered, in seconds since the epoch."""


class ShadowRunner(Flusher):
    """The shadow variants' worker and the flusher of their tallies, one per process."""

    def __init__(
        self,
        db: Database,
        metric_buffer: MetricBuffer | None = None,
        *,
        queue_size: int = 1000,
        flush_seconds: float = 1.0,
        gather_seconds: float = GATHER_SECONDS,
        tally_timeout: float = INVOCATION_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(flush_seconds, "shadow-tallies")
        self.db = db
        self.metric_buffer = metric_buffer
        self.queue_size = queue_size
        self.gather_seconds = gather_seconds
        self.tally_timeout = tally_timeout
        self.dropped = 0
        self._copies: deque[ShadowTask] = deque()
        self._tallies: dict[TallyKey, Tally] = {}
        self._lock = threading.Lock()
        self._sent_to: dict[ShadowKey, set[Instance]] = {}  # the worker's own
        self._last_collected = time.monotonic()
        self._wake = threading.Event()
        self._cycled = threading.Condition()
        self._cycles = 0
        self._draining = 0
        self._worker_stopping = threading.Event()
        self._worker: threading.Thread | None = None

    def submit(self, task: ShadowTask) -> None:
        """Queue a copy for the shadow; never blocks (a full queue drops it, counted)."""
        if len(self._copies) >= self.queue_size:
            self.dropped += 1
            return
        self._copies.append(task)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every copy submitted so far was answered by its shadow and its tally
        collected (shutdown, tests)."""
        if self._worker is None:
            self._cycle(collect=True)
            return
        with self._cycled:
            self._draining += 1
            # the turn under way may have taken its copies before they came: two more
            wanted = self._cycles + 2
            self._wake.set()
            try:
                self._cycled.wait_for(lambda: self._cycles >= wanted, timeout)
            finally:
                self._draining -= 1

    def start(self) -> None:
        if self._worker is None:
            self._worker_stopping.clear()
            self._worker = threading.Thread(target=self._work, name="shadow-worker", daemon=True)
            self._worker.start()
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._worker is not None:
            self._worker_stopping.set()
            self._wake.set()
            self._worker.join(timeout)
            self._worker = None
        super().stop(timeout)

    def _work(self) -> None:
        while not self._worker_stopping.is_set():
            self._wake.wait(self.gather_seconds)
            self._wake.clear()
            with self._cycled:
                collect = self._draining > 0
            due = time.monotonic() - self._last_collected >= self.flush_seconds
            try:
                self._cycle(collect or due)
            except Exception:  # a surprise: keep taking the next copies
                log.exception("a shadow burst failed")
            with self._cycled:
                self._cycles += 1
                self._cycled.notify_all()
        self._cycle(collect=True)  # what came before the stop

    def _cycle(self, collect: bool) -> None:
        """Send the copies that gathered; collect the tallies when ``collect``."""
        burst: list[ShadowTask] = []
        while self._copies:
            burst.append(self._copies.popleft())
        by_fleet: dict[int, list[ShadowTask]] = {}
        for task in burst:
            by_fleet.setdefault(id(task.fleet), []).append(task)
        for group in by_fleet.values():
            for start in range(0, len(group), MAX_BURST):
                self._send(group[start : start + MAX_BURST])
        if collect:
            self._collect()

    def _send(self, group: list[ShadowTask]) -> None:
        """One shadow's copies, in one write to one of its instances."""
        first = group[0]
        frames = b"".join(copy_frame(task) for task in group)
        try:
            instance = first.fleet.send_copies(frames, len(group))
        except ShipyardError as exc:
            log.warning(
                "shadow %s of %s missed %d copies: %s",
                first.shadow_variant,
                first.endpoint,
                len(group),
                exc.message,
            )
            self._count_missed(group)
            return
        self._sent_to.setdefault((first.endpoint, first.shadow_variant), set()).add(instance)

    def _collect(self) -> None:
        """The tallies of every instance that got copies since the last time."""
        sent_to, self._sent_to = self._sent_to, {}
        self._last_collected = time.monotonic()
        for (endpoint, shadow), instances in sent_to.items():
            for instance in instances:
                try:
                    body = instance.take_tallies(self.tally_timeout)
                except InvocationTimeout:  # busy: its tallies wait for the next time
                    self._sent_to.setdefault((endpoint, shadow), set()).add(instance)
                    continue
                except InstanceLost as exc:
                    log.warning(
                        "the tallies of shadow %s of %s were lost: %s", shadow, endpoint, exc
                    )
                    continue
                self._add(endpoint, shadow, tallies_of(body))

    def _add(self, endpoint: str, shadow: str, found: list[tuple[ComparisonKey, Tally]]) -> None:
        with self._lock:
            for (production_variant, minute), tally in found:
                key = (endpoint, shadow, production_variant, datetime.fromtimestamp(minute, UTC))
                self._merge(key, tally)
        if self.metric_buffer is None or not found:
            return
        latency: dict[float, int] = {}
        for _, tally in found:
            for bucket, count in tally.shadow_latency.items():
                value = float(round(bucket_microseconds(bucket)))
                latency[value] = latency.get(value, 0) + count
        record_invocations(
            self.metric_buffer,
            endpoint,
            shadow,
            requests=sum(tally.requests for _, tally in found),
            errors=sum(tally.shadow_errors for _, tally in found),
            model_latency_us=latency,
        )

    def _count_missed(self, group: list[ShadowTask]) -> None:
        """Copies no instance of their shadow got: each an error of the shadow's."""
        missed: list[tuple[ComparisonKey, Tally]] = []
        for task in group:
            tally = Tally()
            tally.add_failure(task.production_latency_us)
            missed.append(((task.production_variant, minute_of(task.at)), tally))
        self._add(group[0].endpoint, group[0].shadow_variant, missed)

    def flush(self) -> int:
        with self._lock:
            taken, self._tallies = self._tallies, {}
        if not taken:
            return 0
        try:
            with self.db.session_scope() as session:
                for key, tally in taken.items():
                    _add_to_row(session, key, tally)
        except Exception:
            log.exception("writing %d shadow tallies failed; keeping them", len(taken))
            self._restore(taken)
            return 0
        return len(taken)

    def _restore(self, taken: dict[TallyKey, Tally]) -> None:
        with self._lock:
            for key, tally in taken.items():
                self._merge(key, tally)

    def _merge(self, key: TallyKey, tally: Tally) -> None:
        """Add ``tally`` to what ``key`` holds (under the lock)."""
        kept = self._tallies.get(key)
        self._tallies[key] = tally if kept is None else kept.merged(tally)


def copy_frame(task: ShadowTask) -> bytes:
    content_type, accept, body = task.request
    copy = wire.Copy(
        body,
        task.production_variant,
        task.production,
        task.production_latency_us,
        minute_of(task.at),
    )
    return wire.copy_frame(content_type, accept, copy)


def minute_of(at: float) -> int:
    """The start of the minute of ``at`` (seconds since the epoch)."""
    return int(at) // 60 * 60


def _add_to_row(session: Session, key: TallyKey, tally: Tally) -> None:
    endpoint, shadow, production, minute = key
    row = session.get(ShadowComparison, key, with_for_update=True)
    if row is None:
        row = ShadowComparison(
            endpoint_name=endpoint,
            shadow_variant=shadow,
            production_variant=production,
            minute=minute,
            requests=0,
            shadow_errors=0,
            rows=0,
            agreed_rows=0,
            numeric_rows=0,
            absolute_difference=0.0,
            production_latency={},
            shadow_latency={},
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another process wrote this minute first
            row = session.get(ShadowComparison, key, with_for_update=True, populate_existing=True)
            assert row is not None
    row.requests += tally.requests
    row.shadow_errors += tally.shadow_errors
    row.rows += tally.rows
    row.agreed_rows += tally.agreed_rows
    row.numeric_rows += tally.numeric_rows
    row.absolute_difference += tally.absolute_difference
    row.production_latency = sum_histograms(row.production_latency, tally.production_latency)
    row.shadow_latency = sum_histograms(row.shadow_latency, tally.shadow_latency)


# ---- the report -----------------------------------------------------------------------
def shadow_report(
    session: Session, endpoint: str, start: datetime, end: datetime
) -> ShadowReportOut:
    """What each shadow of ``endpoint`` answered between ``start`` and ``end``."""
    if end <= start:
        raise ValidationError("must be after start_time", "end_time")
    rows = session.scalars(
        select(ShadowComparison)
        .where(
            ShadowComparison.endpoint_name == endpoint,
            ShadowComparison.minute >= _minute_floor(start),
            ShadowComparison.minute < end,
        )
        .order_by(ShadowComparison.shadow_variant, ShadowComparison.production_variant)
    )
    by_shadow: dict[str, list[ShadowComparison]] = {}
    for row in rows:
        by_shadow.setdefault(row.shadow_variant, []).append(row)
    return ShadowReportOut(
        endpoint_name=endpoint,
        start_time=start,
        end_time=end,
        shadows=[_variant_report(name, found) for name, found in by_shadow.items()],
    )


def _variant_report(name: str, rows: list[ShadowComparison]) -> ShadowVariantReport:
    compared = sum(r.rows for r in rows)
    numeric = sum(r.numeric_rows for r in rows)
    return ShadowVariantReport(
        shadow_variant=name,
        production_variants=sorted({r.production_variant for r in rows}),
        requests=sum(r.requests for r in rows),
        shadow_errors=sum(r.shadow_errors for r in rows),
        rows_compared=compared,
        agreement_rate=sum(r.agreed_rows for r in rows) / compared if compared else None,
        mean_absolute_difference=(
            sum(r.absolute_difference for r in rows) / numeric if numeric else None
        ),
        production_latency_ms=_summary(r.production_latency for r in rows),
        shadow_latency_ms=_summary(r.shadow_latency for r in rows),
    )


def _summary(histograms: Iterable[Mapping[Any, int]]) -> LatencySummary:
    total: dict[str, int] = {}
    for histogram in histograms:
        total = sum_histograms(total, histogram)
    counts = sorted((int(bucket), count) for bucket, count in total.items())
    return LatencySummary(**{name: _quantile(counts, q) for name, q in QUANTILES.items()})


def _quantile(counts: list[tuple[int, int]], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``q`` quantile."""
    population = sum(count for _, count in counts)
    if population == 0:
        return None
    rank = q * population
    seen = 0
    for bucket, count in counts:
        seen += count
        if seen >= rank:
            return round(BUCKET_BASE ** (bucket + 1) / 1000, 4)
    return round(BUCKET_BASE ** (counts[-1][0] + 1) / 1000, 4)


# ---- helpers --------------------------------------------------------------------------
def _minute_floor(moment: datetime) -> datetime:
    utc = as_utc(moment) or moment.replace(tzinfo=UTC)
    return utc.replace(second=0, microsecond=0)
