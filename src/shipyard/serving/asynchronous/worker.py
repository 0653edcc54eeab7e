"""The async inference worker: threads in the server process that answer queued requests.

One loop thread claims requests (at most ``max_concurrent_invocations_per_instance`` ×
the endpoint's instances up in this process in flight per endpoint: each serving process
has instances of its own), renews their leases, times out the overdue, ends the expired
and reports the backlog metrics; each claimed request is answered on a thread of its own
through :meth:`ModelHost.invoke_blocking`. A request accepted here wakes the loop; others
(another process's) are found by polling.

Stopping drains what is in flight for a while, then gives the rest back to the queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from shipyard.core.artifacts import key_from_uri
from shipyard.core.clock import utcnow
from shipyard.core.errors import NotFound, ShipyardError
from shipyard.core.web import Context
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import ENDPOINTS_NAMESPACE
from shipyard.serving.asynchronous import outcomes, queue
from shipyard.serving.asynchronous.capacity import backlogs, capacity_of
from shipyard.serving.asynchronous.outcomes import Failure
from shipyard.serving.asynchronous.queue import Claimed, WorkerIdentity
from shipyard.serving.host import ModelHost
from shipyard.serving.invocation import Invocation

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
LEASE_SECONDS = 30.0
RECOVER_SECONDS = 5.0
BACKLOG_SECONDS = 5.0
SOCKET_GRACE_SECONDS = 5.0
"""How long past a request's invocation timeout its instance call may still wait: the
worker's own deadline ends the request (InvocationTimeout) first, and the socket's limit
only frees the thread of a call that never answers."""
MAX_IN_FLIGHT = 256
"""Requests in flight in one process, over all its endpoints."""
DELIVERY_DUTY = "topics"  # shipyard.duties.DELIVER_NOTIFICATIONS


@dataclass
class Flight:
    """A request being answered here. ``settled`` once its end is decided (its answer, or
    a timeout): the other side then leaves it alone."""

    item: Claimed
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False

    def settle(self) -> bool:
        """Claim the right to end it; False when that was taken already."""
        with self.lock:
            if self.settled:
                return False
            self.settled = True
            return True


class AsyncInferenceWorker:
    def __init__(
        self,
        context: Context,
        *,
        poll_seconds: float = POLL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        max_in_flight: int = MAX_IN_FLIGHT,
        backlog_seconds: float = BACKLOG_SECONDS,
    ) -> None:
        self.context = context
        self.db = context.db
        self.store = context.store
        self.host: ModelHost = context.extras["model_host"]
        self.metrics: MetricBuffer | None = context.extras.get("metrics")
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.max_in_flight = max_in_flight
        self.backlog_seconds = backlog_seconds
        hostname = socket.gethostname()
        self.identity = WorkerIdentity(
            f"{hostname[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}", hostname, os.getpid()
        )
        self._flights: dict[str, Flight] = {}
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, float] = {}
        self._reported: set[str] = set()

    # ---- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="async-inference", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for requests now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout`` for what is in flight, then give the rest
        back to the queue (Queued again, for the next process to take)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        with self._drained:
            while self._unsettled() and time.monotonic() < deadline:
                self._drained.wait(max(0.0, deadline - time.monotonic()))
            left = [f for f in self._flights.values() if f.settle()]
        if left:
            ids = [f.item.inference_id for f in left]
            try:
                released = queue.release(self.db, self.identity.worker_id, ids, utcnow())
                log.info("async inference: gave %d request(s) back to the queue", released)
            except Exception:  # their leases lapse instead
                log.exception("async inference: giving %d request(s) back failed", len(ids))

    def in_flight(self, endpoint_name: str | None = None) -> int:
        """Requests being answered here (of one endpoint)."""
        with self._lock:
            flights = self._flights.values()
            return sum(1 for f in flights if endpoint_name in (None, f.item.endpoint_name))

    def _unsettled(self) -> bool:
        return any(not flight.settled for flight in self._flights.values())

    # ---- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # keep the worker alive through a DB hiccup
                log.exception("async inference: a pass of the worker failed")
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        with self._lock:
            deadlines = [f.deadline for f in self._flights.values() if not f.settled]
        if not deadlines:
            return self.poll_seconds
        return max(0.01, min(self.poll_seconds, min(deadlines) - time.monotonic()))

    def run_once(self, now: datetime | None = None) -> int:
        """One pass: leases, timeouts, expiries, the dead's requests, metrics, then claims;
        how many requests it claimed. (The loop runs it; tests may call it.)"""
        now = now or utcnow()
        if self._due("renew", self.lease_seconds / 3):
            self._renew(now)
        self._time_out(now)
        self._expire(now)
        if self._due("recover", RECOVER_SECONDS):
            queue.recover_dead(self.db, self.identity, now)
            self._fail_exhausted(now)
        if self.metrics is not None and self._due("backlog", self.backlog_seconds):
            self.report_backlog()
        if self._stopping.is_set():
            return 0
        return self._claim(now)

    def _due(self, what: str, every: float) -> bool:
        at = time.monotonic()
        if at - self._last.get(what, float("-inf")) < every:
            return False
        self._last[what] = at
        return True

    def _renew(self, now: datetime) -> None:
        with self._lock:
            ids = list(self._flights)  # settled ones too: an answer being written
        queue.renew(self.db, self.identity.worker_id, ids, now, self.lease_seconds)

    def _time_out(self, now: datetime) -> None:
        at = time.monotonic()
        with self._lock:
            overdue = [f for f in self._flights.values() if not f.settled and f.deadline <= at]
        for flight in overdue:
            if flight.settle():  # its call goes on, and keeps its slot, until it returns
                seconds = flight.item.invocation_timeout_seconds
                failure = Failure(
                    "InvocationTimeout", f"InvocationTimeout: no answer within {seconds} s"
                )
                self._end(flight.item, failure, now)

    def _expire(self, now: datetime) -> None:
        with self.db.session_scope() as session:
            expired = queue.expired(session, now)
        for inference_id in expired:
            outcomes.expire(self.db, self.store, inference_id, now)
        if expired:
            self._notified()

    def _fail_exhausted(self, now: datetime) -> None:
        with self.db.session_scope() as session:
            lapsed = queue.lapsed_without_attempts(session, now)
        reason = (
            f"WorkerLost: the process answering it stopped while it was in flight, "
            f"{queue.MAX_ATTEMPTS} times"
        )
        for inference_id in lapsed:
            outcomes.fail(self.db, self.store, inference_id, Failure("WorkerLost", reason), now)
        if lapsed:
            self._notified()

    def _claim(self, now: datetime) -> int:
        with self.db.session_scope() as session:
            waiting = queue.endpoints_with_work(session, now)
            capacities = {name: capacity_of(session, name) for name in waiting}
        claimed = 0
        for name, capacity in capacities.items():
            if capacity is None:  # deleted: nothing will answer its requests
                self._fail_orphans(name, now)
                continue
            if not capacity.serving:
                continue
            instances = self.instance_count(name)
            # not served here yet: one request loads it here, the others wait
            limit = 1 if instances is None else capacity.limit_for(instances)
            with self._lock:
                busy = Counter(f.item.endpoint_name for f in self._flights.values())
                free = min(limit - busy[name], self.max_in_flight - len(self._flights))
            for item in queue.claim(self.db, name, self.identity, free, now, self.lease_seconds):
                self._dispatch(item, now)
                claimed += 1
        return claimed

    def instance_count(self, endpoint_name: str) -> int | None:
        """The instances of the endpoint's production variants up here now (autoscaling
        moves them); None when this process does not serve it (yet)."""
        deployment = self.host.deployment(endpoint_name)
        if deployment is None:
            return None
        return max(1, sum(variant.fleet.current for variant in deployment.variants))

    def _fail_orphans(self, endpoint_name: str, now: datetime) -> None:
        items = queue.claim(self.db, endpoint_name, self.identity, 100, now, self.lease_seconds)
        failure = Failure(
            "EndpointNotFound", f"EndpointNotFound: endpoint '{endpoint_name}' was deleted"
        )
        for item in items:
            outcomes.fail(
                self.db, self.store, item.inference_id, failure, now,
                worker_id=self.identity.worker_id,
            )  # fmt: skip
        if items:
            self._notified()

    # ---- one request -----------------------------------------------------------------
    def _dispatch(self, item: Claimed, now: datetime) -> None:
        if self.metrics is not None and item.attempts == 1:
            waited_ms = max(0.0, (now - item.created_at).total_seconds() * 1000)
            self.metrics.add(
                ENDPOINTS_NAMESPACE,
                "TimeInBacklog",
                {"EndpointName": item.endpoint_name},
                round(waited_ms),
                "Milliseconds",
            )
        flight = Flight(item, time.monotonic() + item.invocation_timeout_seconds)
        with self._lock:
            self._flights[item.inference_id] = flight
        thread = threading.Thread(
            target=self._answer,
            args=(flight,),
            name=f"async-{item.endpoint_name}",
            daemon=True,
        )
        thread.start()

    def _answer(self, flight: Flight) -> None:
        item = flight.item
        try:
            outcome = self._invoke(item)
            if flight.settle():
                self._end(item, outcome, utcnow())
        finally:
            with self._drained:
                self._flights.pop(item.inference_id, None)
                self._drained.notify_all()
            self._wake.set()  # a slot is free

    def _invoke(self, item: Claimed) -> Invocation | Failure:
        """The answer, or why there is none (``retryable`` when another attempt may do)."""
        try:
            body = self.store.get_bytes(key_from_uri(item.input_location))
        except NotFound:
            return Failure("InputNotFound", f"InputNotFound: no object at {item.input_location}")
        except Exception as exc:  # the store is away: it may come back
            reason = f"InputReadError: {type(exc).__name__}: {exc}"
            return Failure("InputReadError", reason, retryable=True)
        try:
            return self.host.invoke_blocking(
                item.endpoint_name,
                body,
                item.content_type,
                item.accept,
                timeout=item.invocation_timeout_seconds + SOCKET_GRACE_SECONDS,
            )
        except ShipyardError as exc:
            return outcomes.failure_of(exc)
        except Exception as exc:  # a bug of ours, not the request's
            log.exception("async inference %s: the invocation raised", item.inference_id)
            reason = f"InternalError: {type(exc).__name__}: {exc}"
            return Failure("InternalError", reason, retryable=True)

    def _end(self, item: Claimed, outcome: Invocation | Failure, now: datetime) -> None:
        worker_id = self.identity.worker_id
        try:
            if isinstance(outcome, Invocation):
                try:
                    outcomes.complete(
                        self.db, self.store, worker_id, item.inference_id, outcome, now
                    )
                except Exception as exc:  # the answer could not be kept: try again later
                    log.exception(
                        "async inference %s: keeping the answer failed", item.inference_id
                    )
                    reason = f"OutputWriteError: {type(exc).__name__}: {exc}"
                    failure = Failure("OutputWriteError", reason, retryable=True)
                    outcomes.retry(self.db, self.store, worker_id, item.inference_id, failure, now)
            elif outcome.retryable:
                outcomes.retry(self.db, self.store, worker_id, item.inference_id, outcome, now)
            else:
                outcomes.fail(
                    self.db, self.store, item.inference_id, outcome, now, worker_id=worker_id
                )
        except Exception:  # the row stays InProgress: its lease lapses and it is taken again
            log.exception("async inference %s: recording its end failed", item.inference_id)
            return
        self._notified()

    def _notified(self) -> None:
        """Deliver the notifications just published now, not at the duty's next tick."""
        self.context.run_soon(DELIVERY_DUTY)

    # ---- metrics ---------------------------------------------------------------------
    def report_backlog(self) -> None:
        """``ApproximateBacklogSize`` (Queued + InProgress), per instance, the age of the
        oldest request and ``HasBacklogWithoutCapacity``, per endpoint with a backlog (and
        0 once for one whose backlog emptied), into the metrics buffer."""
        assert self.metrics is not None
        now = utcnow()
        with self.db.session_scope() as session:
            found = backlogs(session)
            capacities = {b.endpoint_name: capacity_of(session, b.endpoint_name) for b in found}
        reported = set()
        for backlog in found:
            capacity = capacities[backlog.endpoint_name]
            live = self.instance_count(backlog.endpoint_name)
            instances = live or (capacity.instances if capacity is not None else 1)
            oldest = backlog.oldest_created_at or now
            self._put(backlog.endpoint_name, backlog.size, backlog.size / instances,
                      max(0.0, (now - oldest).total_seconds()),
                      capacity is None or not capacity.serving)  # fmt: skip
            reported.add(backlog.endpoint_name)
        for name in self._reported - reported:
            self._put(name, 0, 0.0, 0.0, False)
        self._reported = reported

    def _put(self, endpoint: str, size: int, per_instance: float, age: float, stuck: bool) -> None:
        assert self.metrics is not None
        dimensions = {"EndpointName": endpoint}
        for name, value, unit in (
            ("ApproximateBacklogSize", float(size), "Count"),
            ("ApproximateBacklogSizePerInstance", per_instance, "Count"),
            ("ApproximateAgeOfOldestRequest", round(age, 3), "Seconds"),
            ("HasBacklogWithoutCapacity", float(size > 0 and stuck), "Count"),
        ):
            self.metrics.add(ENDPOINTS_NAMESPACE, name, dimensions, value, unit)
