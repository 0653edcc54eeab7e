"""Shadow tests: a shadow variant answers a copy of a share of production requests after
their answer went out, and what it answered is compared with production's.

The request path only puts a task on a bounded queue (``ShadowRunner.submit``; a full
queue drops the copy and counts it): the shadow never delays or changes a production
answer. A worker thread takes the copies in bursts (those of ``GATHER_SECONDS``), sends
each shadow its copies in one round trip to one of its instances (which run at idle CPU
priority), and tallies them, a minute at a time: the rows compared, how many agreed, the
absolute difference of numeric predictions, the shadow's errors, and both latencies as
histograms. A flusher writes the tallies to ``shadow_comparisons`` about once a second;
:func:`shadow_report` sums them over a range.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc
from shipyard.core.db import Database
from shipyard.core.errors import ValidationError
from shipyard.core.flusher import Flusher
from shipyard.monitoring.metrics import service as metrics
from shipyard.serving import wire
from shipyard.serving.fleet import InstanceRequest, VariantFleet
from shipyard.serving.models import ShadowComparison
from shipyard.serving.schemas import LatencySummary, ShadowReportOut, ShadowVariantReport

log = logging.getLogger(__name__)
BUCKET_BASE = 1.2
"""Latency histograms count microseconds in buckets of ×1.2: percentiles are within 10%."""
MAX_BUCKET = 120  # 1.2**120 µs is about 9 hours
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
TallyKey = tuple[str, str, str, datetime]  # endpoint, shadow, production variant, minute
GATHER_SECONDS = 0.05
"""How long the worker lets copies gather once one came: it then sends each shadow all of
them in one round trip and tallies them together, so production's process and core are
interrupted once per burst, not once per copy."""
MAX_BURST = 256


@dataclass(frozen=True)
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
    at: datetime


@dataclass
class Tally:
    requests: int = 0
    shadow_errors: int = 0
    rows: int = 0
    agreed_rows: int = 0
    numeric_rows: int = 0
    absolute_difference: float = 0.0
    production_latency: dict[int, int] = field(default_factory=dict)
    shadow_latency: dict[int, int] = field(default_factory=dict)

    def add_request(self, production_us: float, shadow_us: float) -> None:
        self.requests += 1
        _count(self.production_latency, production_us)
        _count(self.shadow_latency, shadow_us)

    def compare(self, production: list[Any], shadow: list[Any]) -> None:
        for ours, theirs in zip(production, shadow, strict=False):
            self.rows += 1
            self.agreed_rows += ours == theirs
            if _is_number(ours) and _is_number(theirs):
                self.numeric_rows += 1
                self.absolute_difference += abs(float(ours) - float(theirs))


class ShadowRunner(Flusher):
    """The shadow variants' worker and the flusher of their tallies, one per process."""

    def __init__(
        self,
        db: Database,
        metric_buffer: metrics.MetricBuffer | None = None,
        *,
        queue_size: int = 1000,
        flush_seconds: float = 1.0,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        super().__init__(flush_seconds, "shadow-tallies")
        self.db = db
        self.metric_buffer = metric_buffer
        self.gather_seconds = gather_seconds
        self.dropped = 0
        self._queue: queue.Queue[ShadowTask | None] = queue.Queue(maxsize=queue_size)
        self._tallies: dict[TallyKey, Tally] = {}
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, task: ShadowTask) -> None:
        """Queue a copy for the shadow; never blocks (a full queue drops it, counted)."""
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            self.dropped += 1

    def drain(self) -> None:
        """Wait until every queued copy was answered and tallied (shutdown, tests)."""
        self._queue.join()

    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="shadow-worker", daemon=True)
            self._worker.start()
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None
        super().stop(timeout)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is not None:
                time.sleep(self.gather_seconds)  # the copies of the next moments join it
            burst, stopping = self._take_burst(first)
            try:
                self.run(burst)
            except Exception:  # a surprise in the tally: keep answering the next copies
                log.exception("a shadow burst failed")
            finally:
                for _ in range(len(burst) + stopping):
                    self._queue.task_done()
            if stopping:
                return

    def _take_burst(self, first: ShadowTask | None) -> tuple[list[ShadowTask], bool]:
        """``first`` and the copies queued after it (up to MAX_BURST); whether the runner
        is stopping (a None among them)."""
        if first is None:
            return [], True
        burst = [first]
        while len(burst) < MAX_BURST:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                return burst, True
            burst.append(task)
        return burst, False

    def run(self, tasks: list[ShadowTask]) -> None:
        """Answer copies with their shadow models, each shadow's in one round trip to one
        of its instances, and tally them."""
        by_fleet: dict[int, list[ShadowTask]] = {}
        for task in tasks:
            by_fleet.setdefault(id(task.fleet), []).append(task)
        for group in by_fleet.values():
            started = time.perf_counter()
            try:
                replies: list[wire.Reply | None] = list(
                    group[0].fleet.call_blocking_many([task.request for task in group])
                )
            except Exception:
                log.exception(
                    "shadow %s of %s failed to answer", group[0].shadow_variant, group[0].endpoint
                )
                replies = [None] * len(group)
            waited_us = (time.perf_counter() - started) * 1e6
            for task, reply in zip(group, replies, strict=True):
                self._tally(task, reply, waited_us)

    def _tally(self, task: ShadowTask, reply: wire.Reply | None, waited_us: float) -> None:
        answer: list[Any] | None = None
        if reply is not None and reply.status == 200:
            try:
                answer = predictions_of(reply.body, reply.content_type)
            except Exception:
                log.exception(
                    "shadow %s of %s answered nonsense", task.shadow_variant, task.endpoint
                )
        model_us = reply.model_latency_us if reply is not None else None
        shadow_us = model_us if model_us is not None else waited_us
        minute = task.at.replace(second=0, microsecond=0)
        key = (task.endpoint, task.shadow_variant, task.production_variant, minute)
        with self._lock:
            tally = self._tallies.setdefault(key, Tally())
            tally.add_request(task.production_latency_us, shadow_us)
            if answer is None:
                tally.shadow_errors += 1
            else:
                tally.compare(predictions_of(*task.production), answer)
        if self.metric_buffer is not None:
            metrics.record_invocation(
                self.metric_buffer,
                task.endpoint,
                task.shadow_variant,
                model_latency_us=shadow_us,
                overhead_latency_us=0.0,
                status_code=200 if answer is not None else 500,
            )

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
                kept = self._tallies.get(key)
                self._tallies[key] = tally if kept is None else _merged(kept, tally)


def predictions_of(body: bytes, content_type: str) -> list[Any]:
    """The predictions of an answer: a JSON answer's ``predictions``, or a CSV answer's
    lines (as numbers where they are)."""
    if content_type.startswith("text/csv"):
        return [_number_or_text(line) for line in body.decode().splitlines()]
    document = json.loads(body)
    predictions = document.get("predictions", []) if isinstance(document, dict) else []
    return list(predictions)


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


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
    row.production_latency = _sum_histograms(row.production_latency, tally.production_latency)
    row.shadow_latency = _sum_histograms(row.shadow_latency, tally.shadow_latency)


def _merged(a: Tally, b: Tally) -> Tally:
    return Tally(
        a.requests + b.requests,
        a.shadow_errors + b.shadow_errors,
        a.rows + b.rows,
        a.agreed_rows + b.agreed_rows,
        a.numeric_rows + b.numeric_rows,
        a.absolute_difference + b.absolute_difference,
        {int(k): v for k, v in _sum_histograms(a.production_latency, b.production_latency).items()},
        {int(k): v for k, v in _sum_histograms(a.shadow_latency, b.shadow_latency).items()},
    )


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
        total = _sum_histograms(total, histogram)
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
def _count(histogram: dict[int, int], microseconds: float) -> None:
    bucket = min(MAX_BUCKET, max(0, int(math.log(max(microseconds, 1.0), BUCKET_BASE))))
    histogram[bucket] = histogram.get(bucket, 0) + 1


def _sum_histograms(a: Mapping[Any, int], b: Mapping[Any, int]) -> dict[str, int]:
    """Histograms as stored (JSON: string keys)."""
    total = {str(k): v for k, v in a.items()}
    for bucket, count in b.items():
        total[str(bucket)] = total.get(str(bucket), 0) + count
    return total


def _minute_floor(moment: datetime) -> datetime:
    utc = as_utc(moment) or moment.replace(tzinfo=UTC)
    return utc.replace(second=0, microsecond=0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
