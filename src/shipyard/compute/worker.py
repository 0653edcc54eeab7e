"""The worker: claims pending jobs, runs them on the executor, records everything they say.

One loop thread claims jobs, heartbeats and enforces limits (max runtime, memory, stop
requests); one thread per running job streams its output into the DB in batches.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil
from pydantic import ValidationError as PydanticValidationError

from shipyard.compute import service
from shipyard.compute.events import parse_event
from shipyard.compute.executors import BaseExecutor, RunningJob
from shipyard.compute.schemas import JobSpec
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
FLUSH_LINES = 500
MAX_EVENTS_PER_ATTEMPT = 10_000  # record events beyond this are kept as log lines
SAMPLE_SECONDS = 1.0  # CPU and memory of a running job, for the metric listeners

MetricSample = tuple[str, float, str, datetime]  # (name, value, unit, timestamp)
MetricListener = Callable[[str, str, list[MetricSample]], None]
"""Called with (job kind, job name, samples): what the job logged (unit "None") and its
CPUUtilization / MemoryUtilization ("Percent") while it runs."""


@dataclass
class JobRun:
    """One attempt in flight: its process, its buffered output, why it was stopped."""

    job_id: str
    name: str
    spec: JobSpec
    started: float
    max_runtime_seconds: int
    running: RunningJob | None = None
    stop_reason: str | None = None
    failure_reason: str | None = None
    self_stop_reason: str | None = None
    seq: int = 0
    lines: list[tuple[int, datetime, str]] = field(default_factory=list)
    metrics: list[tuple[str, int | None, float, datetime]] = field(default_factory=list)
    events: list[service.EventRecord] = field(default_factory=list)
    event_count: int = 0
    regex_counts: dict[str, int] = field(default_factory=dict)
    last_flush: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Held across a whole flush (swap and write), so the final flush of an attempt waits
    # for one in flight on the loop thread and finish_job sees every metric point.
    flush_lock: threading.Lock = field(default_factory=threading.Lock)
    patterns: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    kind: str = ""
    last_sample: tuple[float, float] | None = None  # (monotonic time, CPU seconds)

    def __post_init__(self) -> None:
        self.patterns = [
            (d.name, re.compile(d.regex)) for d in self.spec.metric_definitions if d.regex
        ]


class JobWorker:
    def __init__(self, settings: Settings, db: Database, executor: BaseExecutor) -> None:
        self.settings = settings
        self.db = db
        self.executor = executor
        self.hostname = socket.gethostname()
        self.worker_id = f"{self.hostname[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.runs: dict[str, JobRun] = {}
        self.job_end_listeners: list[Callable[[str], None]] = []
        """Called with the job id after each attempt is recorded (a tuning job may go on)."""
        self.metric_listeners: list[MetricListener] = []
        self._runs_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        service.register_worker(self.db, self.worker_id, self.hostname, os.getpid())
        service.reap_lost_jobs(self.db, self.hostname, self.settings.heartbeat_timeout_seconds)
        self._thread = threading.Thread(target=self._loop, name="shipyard-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for pending jobs now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, stop running attempts (they are failed with a reason), unregister."""
        self._stopping.set()
        self._wake.set()
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            self._stop_run(run, "WorkerShutdown")
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self.runs and time.monotonic() < deadline:
            time.sleep(0.05)
        self.executor.close()
        service.unregister_worker(self.db, self.worker_id)

    # ---- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        last_beat = 0.0
        while not self._stopping.is_set():
            try:
                now = time.monotonic()
                if now - last_beat >= self.settings.heartbeat_seconds:
                    self._heartbeat()
                    last_beat = now
                self._enforce_limits()
                while len(self.runs) < self.settings.worker_slots and self._claim_one():
                    pass
            except Exception:  # keep the worker alive through a DB hiccup
                log.exception("worker loop iteration failed")
            self._wake.wait(self.settings.worker_poll_seconds)
            self._wake.clear()

    def _heartbeat(self) -> None:
        if not service.heartbeat(self.db, self.worker_id):
            self._rejoin()
            return
        for job_id in service.stop_requested_ids(self.db, self.worker_id):
            run = self.runs.get(job_id)
            if run is not None and run.stop_reason is None:
                self._stop_run(run, "StoppedByUser")

    def _rejoin(self) -> None:
        """Reaped while alive (a long pause): its jobs were failed or requeued elsewhere,
        so stop running them and register again to go on claiming."""
        log.warning("worker %s was reaped while running; rejoining", self.worker_id)
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            self._stop_run(run, "WorkerLost")
        service.register_worker(self.db, self.worker_id, self.hostname, os.getpid())

    def _enforce_limits(self) -> None:
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            self._flush(run, force=False)
            if run.running is None or run.stop_reason is not None:
                continue
            if self.metric_listeners:
                self._sample_usage(run)
            if time.monotonic() - run.started > run.max_runtime_seconds:
                self._stop_run(run, "MaxRuntimeExceeded")
                continue
            limit_mb = run.spec.resources.memory_limit_mb
            used = run.running.memory_bytes() if limit_mb else None
            if limit_mb and used and used > limit_mb * 1024 * 1024:
                run.failure_reason = (
                    f"MemoryLimitExceeded: the job used {used // (1024 * 1024)} MB, "
                    f"over its memory_limit_mb of {limit_mb}"
                )
                self._stop_run(run, "MemoryLimitExceeded")

    def _claim_one(self) -> bool:
        job = service.claim_next_job(self.db, self.worker_id)
        if job is None:
            return False
        try:
            spec = JobSpec.model_validate(job.spec)
        except PydanticValidationError as exc:  # else it would stay InProgress on a live worker
            reason = f"InvalidJobSpec: {str(exc).splitlines()[0]}"
            service.finish_job(
                self.db,
                job.id,
                status="Failed",
                failure_reason=reason,
                exit_code=None,
                worker_id=self.worker_id,
            )
            return True
        run = JobRun(
            job_id=job.id,
            name=job.name,
            kind=job.kind,
            spec=spec,
            started=time.monotonic(),
            max_runtime_seconds=job.max_runtime_seconds,
            last_flush=time.monotonic(),
        )
        with self._runs_lock:
            self.runs[job.id] = run
        threading.Thread(
            target=self._execute, args=(run,), name=f"job-{job.name}", daemon=True
        ).start()
        return True

    def _stop_run(self, run: JobRun, reason: str) -> None:
        run.stop_reason = reason
        if run.running is not None:
            threading.Thread(target=run.running.kill, daemon=True).start()

    # ---- one attempt -----------------------------------------------------------------
    def _execute(self, run: JobRun) -> None:
        exit_code: int | None = None
        try:
            run.running = self.executor.start(run.job_id, run.spec)
            if run.stop_reason is not None:
                run.running.kill()
            self._sample_usage(run)  # at once: a short job may end before the loop samples
            for line in run.running.lines():
                self._consume(run, line)
            exit_code = run.running.wait()
        except Exception as exc:
            log.exception("job %s failed to run", run.name)
            run.failure_reason = run.failure_reason or f"ExecutorError: {exc}"
            if run.running is not None:  # nobody reads its output any more: end it
                run.running.kill()
        finally:
            try:
                self._flush(run, force=True)
                self._record_end(run, exit_code)
            finally:
                self.executor.cleanup(run.job_id)
                with self._runs_lock:
                    self.runs.pop(run.job_id, None)
                self._wake.set()
                self._tell_listeners(run.job_id)

    def _tell_listeners(self, job_id: str) -> None:
        for listener in self.job_end_listeners:
            try:
                listener(job_id)
            except Exception:
                log.exception("a job-end listener failed for job %s", job_id)

    def _record_end(self, run: JobRun, exit_code: int | None) -> None:
        if run.stop_reason == "WorkerShutdown":
            shutdown = "WorkerShutdown: the worker stopped while the job was running"
            service.release_job(self.db, run.job_id, self.worker_id, shutdown)
            return
        status, reason = _outcome(run, exit_code)
        service.finish_job(
            self.db,
            run.job_id,
            status=status,
            failure_reason=reason,
            exit_code=exit_code,
            worker_id=self.worker_id,
        )

    def _consume(self, run: JobRun, line: str) -> None:
        now = utcnow()
        event = parse_event(line)
        if event is None or not self._handle_event(run, event, now):
            with run.lock:
                run.lines.append((run.seq, now, line))
                run.seq += 1
                for name, pattern in run.patterns:
                    _match_metric(run, name, pattern, line, now)
        if len(run.lines) >= FLUSH_LINES or time.monotonic() - run.last_flush >= FLUSH_SECONDS:
            self._flush(run, force=True)

    def _handle_event(self, run: JobRun, event: dict[str, Any], now: datetime) -> bool:
        """Act on an event line; False when it is malformed (it is then kept as a log line)."""
        try:
            if event["event"] == "metric":
                step = event.get("step")
                if step is not None and (type(step) is not int or not -(2**31) <= step < 2**31):
                    return False
                value = float(event["value"])
                if not math.isfinite(value):
                    return False
                with run.lock:
                    run.metrics.append((str(event["name"])[:128], step, value, now))
            elif event["event"] == "status":
                secondary_status = str(event["secondary_status"])[:32]
                self._flush(run, force=True)
                service.set_secondary_status(self.db, run.job_id, secondary_status)
            elif event["event"] == "failure":
                run.failure_reason = str(event["reason"])
            elif event["event"] == "stop":
                run.self_stop_reason = str(event["reason"])[:2000]
            elif event["event"] == "record":
                return self._keep_record(run, event, now)
            else:
                return False
        except (KeyError, TypeError, ValueError):
            return False
        return True

    def _keep_record(self, run: JobRun, event: dict[str, Any], now: datetime) -> bool:
        kind, data, step = event["kind"], event["data"], event.get("step")
        if not isinstance(kind, str) or not isinstance(data, dict):
            return False
        if step is not None and (type(step) is not int or not -(2**31) <= step < 2**31):
            return False
        if run.event_count >= MAX_EVENTS_PER_ATTEMPT:
            return False
        with run.lock:
            run.events.append(service.EventRecord(kind[:64], step, data, now))
            run.event_count += 1
        return True

    def _flush(self, run: JobRun, *, force: bool) -> None:
        if not force and time.monotonic() - run.last_flush < FLUSH_SECONDS:
            return
        with run.flush_lock:
            with run.lock:
                lines, metrics, events = run.lines, run.metrics, run.events
                run.lines, run.metrics, run.events = [], [], []
                run.last_flush = time.monotonic()
            service.append_output(self.db, run.job_id, lines, metrics, events)
        if metrics and self.metric_listeners:
            self._tell_metric_listeners(run, [(n, v, "None", at) for n, _s, v, at in metrics])

    def _tell_metric_listeners(self, run: JobRun, samples: list[MetricSample]) -> None:
        for listener in self.metric_listeners:
            try:
                listener(run.kind, run.name, samples)
            except Exception:
                log.exception("a metric listener failed for job %s", run.name)

    def _sample_usage(self, run: JobRun) -> None:
        """CPUUtilization (percent of one core, summed over cores as SageMaker reports it)
        and MemoryUtilization (percent of the machine) of the job's process tree."""
        now = time.monotonic()
        if run.last_sample is not None and now - run.last_sample[0] < SAMPLE_SECONDS:
            return
        usage = _process_tree_usage(getattr(run.running, "pid", None))
        if usage is None:
            return
        cpu_seconds, memory_percent = usage
        previous, run.last_sample = run.last_sample, (now, cpu_seconds)
        at = utcnow()
        samples: list[MetricSample] = [("MemoryUtilization", memory_percent, "Percent", at)]
        if previous is not None and now > previous[0]:
            cpu = max(0.0, (cpu_seconds - previous[1]) / (now - previous[0]) * 100)
            samples.append(("CPUUtilization", cpu, "Percent", at))
        self._tell_metric_listeners(run, samples)


def _process_tree_usage(pid: object) -> tuple[float, float] | None:
    """(CPU seconds used, memory percent) of a local job's process and its children."""
    if not isinstance(pid, int):
        return None  # an executor without a local process (Ray) reports nothing here
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        cpu = memory = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = process.cpu_times()
                cpu += times.user + times.system
                memory += process.memory_percent()
        return cpu, memory
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _match_metric(
    run: JobRun, name: str, pattern: re.Pattern[str], line: str, now: datetime
) -> None:
    match = pattern.search(line)
    if not match:
        return
    try:
        value = float(match.group(1))
    except (TypeError, ValueError):
        return
    if not math.isfinite(value):  # as emit_metric: NaN is not JSON, so not a final metric
        return
    step = run.regex_counts.get(name, 0)
    run.regex_counts[name] = step + 1
    run.metrics.append((name, step, value, now))


def _outcome(run: JobRun, exit_code: int | None) -> tuple[str, str | None]:
    """The final status and reason of an attempt, from why it stopped and how it exited."""
    if run.stop_reason == "MaxRuntimeExceeded":
        return "Stopped", (
            f"MaxRuntimeExceeded: the job ran longer than its max_runtime_seconds "
            f"({run.max_runtime_seconds} s)"
        )
    if run.stop_reason == "StoppedByUser":
        return "Stopped", "Stopped by user"
    if run.stop_reason == "MemoryLimitExceeded":
        return "Failed", run.failure_reason
    if run.self_stop_reason is not None:  # the job ended itself on purpose
        return "Stopped", run.self_stop_reason
    if exit_code == 0:
        return "Completed", None
    if run.failure_reason:
        return "Failed", run.failure_reason
    return "Failed", f"AlgorithmError: the job process exited with code {exit_code}"
