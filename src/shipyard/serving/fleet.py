"""The instances of one variant: model-serving processes, started, watched and replaced.

An :class:`Instance` is a process running :mod:`shipyard.serving.instance`, forked warm by
the serving forkserver, listening on a Unix socket in a directory only this user can
read. The host reaches it over one multiplexed connection per event loop (the server's)
and one blocking socket per thread (shadows, async workers).

A :class:`VariantFleet` keeps ``desired`` instances of one model: it starts them, sends
each request to the instance with the fewest in flight, and when an instance dies (a
crash, ``kill -9``) it starts a replacement and sends that instance's requests to another,
or to the replacement once it is up: predictions are safe to repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from shipyard.compute.events import parse_event
from shipyard.compute.executors.local import LocalExecutor, LocalRunningJob
from shipyard.compute.schemas import JobSpec
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.errors import ShipyardError, Throttled
from shipyard.serving import instance as instance_program
from shipyard.serving import wire
from shipyard.serving.loading import ModelSource
from shipyard.serving.schemas import ServerlessConfig

log = logging.getLogger(__name__)
START_TIMEOUT_SECONDS = 300.0
"""How long an instance may take to load its model."""
REPLACEMENT_WAIT_SECONDS = 60.0
"""How long a request waits for an instance when its variant has none up."""
INVOCATION_TIMEOUT_SECONDS = 60.0
CALL_ATTEMPTS = 4
InstanceRequest = tuple[str, str, bytes]
"""A request to an instance: its content type, its Accept and its body."""
LogLine = Callable[[str, str], None]
"""``(stream, message)``: a line for the endpoint's log group."""


class InstanceLost(Exception):
    """The instance went away before it answered (the request can go to another)."""


class InstanceStartError(Exception):
    """An instance could not start; the message is the endpoint's failure reason."""


class NoInstanceAnswers(ShipyardError):
    """A variant has no instance up within the wait (all lost, or being replaced): worth
    another try later, unlike a model that raised."""


class InvocationTimeout(ShipyardError):
    status_code = 504
    code = "ModelTimeout"


# ---- one instance ---------------------------------------------------------------------
class HostConnection(asyncio.Protocol):
    """The host's end of one connection to an instance, on one event loop."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: dict[int, asyncio.Future[wire.Reply]] = {}
        self.lost = False
        self.outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's are not subclasses of asyncio's)
        self.transport = cast(asyncio.Transport, transport)
        self.loop = asyncio.get_running_loop()

    def send(self, frame: bytes) -> None:
        """Queue a request frame: what is queued in one turn of the loop goes out together
        at its end, in one write: one system call and one wake-up of the instance for
        all of them (which then answers them together, batched if its variant batches)."""
        if not self.outgoing:
            self.loop.call_soon(self._write_out)
        self.outgoing.append(frame)

    def _write_out(self) -> None:
        frames, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def close_soon(self) -> None:
        """Close the connection on its own loop (from any thread)."""
        if self.transport is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.transport.close)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for frame in wire.take_frames(self.buffer):
            reply = wire.decode_reply(frame)
            future = self.pending.pop(reply.id, None)
            if future is not None and not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(InstanceLost("the instance closed its connection"))


class Instance:
    """One serving process of a variant."""

    def __init__(self, instance_id: str, job: LocalRunningJob, socket_path: str) -> None:
        self.id = instance_id
        self.job = job
        self.socket_path = socket_path
        self.started_at = utcnow()
        self.in_flight = 0
        self.copies = 0
        """Shadow copies sent to it: the next burst goes to the instance with the fewest."""
        self.ready = threading.Event()
        self.failure: str | None = None
        self.lost = False
        """Could not be reached: no request goes to it while it is being replaced."""
        self._ids = itertools.count(1)
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HostConnection] = (
            weakref.WeakKeyDictionary()
        )
        self._opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._local = threading.local()
        self._sockets: list[socket.socket] = []  # every thread's, to close them all
        self._sockets_lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.job.pid

    async def call(self, content_type: str, accept: str, body: bytes) -> wire.Reply:
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is None or connection.lost:
            connection = await self._connection()
        request_id = next(self._ids)
        future: asyncio.Future[wire.Reply] = loop.create_future()
        connection.pending[request_id] = future
        connection.send(wire.request_frame(request_id, content_type, accept, body))
        self.in_flight += 1
        # a timer on the future itself: asyncio.wait_for would wrap it in a second future
        # and callbacks, tens of microseconds on every invocation
        timer = loop.call_later(INVOCATION_TIMEOUT_SECONDS, _expire, future)
        try:
            return await future
        except TimeoutError:
            connection.pending.pop(request_id, None)
            raise self._timed_out() from None
        finally:
            timer.cancel()
            self.in_flight -= 1

    async def _connection(self) -> HostConnection:
        """This loop's connection, opened by the first request that needs it (the others
        of that moment wait for it)."""
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is not None and not connection.lost:
            return connection
        opening = self._opening.setdefault(loop, asyncio.Lock())
        async with opening:
            connection = self._connections.get(loop)
            if connection is None or connection.lost:
                try:
                    _, connection = await loop.create_unix_connection(
                        HostConnection, self.socket_path
                    )
                except OSError as exc:
                    raise InstanceLost(f"cannot reach instance {self.id}: {exc}") from None
                self._connections[loop] = connection
        return connection

    def call_blocking(
        self,
        content_type: str,
        accept: str,
        body: bytes,
        timeout: float = INVOCATION_TIMEOUT_SECONDS,
    ) -> wire.Reply:
        """One request over this thread's socket; InvocationTimeout after ``timeout``."""
        return self.call_blocking_many([(content_type, accept, body)], timeout)[0]

    def call_blocking_many(
        self, requests: list[InstanceRequest], timeout: float = INVOCATION_TIMEOUT_SECONDS
    ) -> list[wire.Reply]:
        """Requests ``(content type, accept, body)`` sent in one write over this thread's
        socket, their replies in the same order; InvocationTimeout when none comes for
        ``timeout`` seconds."""
        ids = [next(self._ids) for _ in requests]
        frames = b"".join(
            wire.request_frame(request_id, *request)
            for request_id, request in zip(ids, requests, strict=True)
        )
        return self._exchange(frames, ids, timeout)

    def take_tallies(self, timeout: float = INVOCATION_TIMEOUT_SECONDS) -> bytes:
        """The tallies of the shadow copies this instance answered since the last time
        (JSON, see :mod:`shipyard.serving.comparison`): asked over this thread's socket,
        so they hold every copy this thread sent before."""
        request_id = next(self._ids)
        frame = wire.request_frame(request_id, "", "", b"", wire.TALLIES)
        (reply,) = self._exchange(frame, [request_id], timeout)
        return reply.body

    def send_copies(self, frames: bytes, count: int) -> None:
        """``count`` shadow copies in one write over this thread's socket (none is
        answered: the instance tallies them); InvocationTimeout when the instance takes
        none of it for the invocation timeout."""
        self._exchange(frames, [], INVOCATION_TIMEOUT_SECONDS)  # no reply to wait for
        self.copies += count

    def _exchange(self, frames: bytes, ids: list[int], timeout: float) -> list[wire.Reply]:
        """Send ``frames`` over this thread's socket and wait for the replies to ``ids``;
        InvocationTimeout when the instance takes the frames or answers none of them for
        ``timeout`` seconds (it is up, but behind), InstanceLost when it is gone."""
        sock = self._socket()
        sock.settimeout(timeout)
        self.in_flight += len(ids)
        try:
            sock.sendall(frames)
            replies: dict[int, wire.Reply] = {}
            waiting = set(ids)
            while waiting:  # a reply to a request this thread gave up on may come first
                reply = wire.decode_reply(wire.receive_frame(sock))
                if reply.id in waiting:
                    waiting.discard(reply.id)
                    replies[reply.id] = reply
            return [replies[request_id] for request_id in ids]
        except TimeoutError:
            self._forget_socket()
            raise self._timed_out(timeout) from None
        except OSError as exc:
            self._forget_socket()
            raise InstanceLost(f"instance {self.id} went away: {exc}") from None
        finally:
            self.in_flight -= len(ids)

    def _timed_out(self, timeout: float = INVOCATION_TIMEOUT_SECONDS) -> InvocationTimeout:
        return InvocationTimeout(
            f"ModelError: instance {self.id} did not answer within {timeout:g} s"
        )

    def _socket(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "socket", None)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(INVOCATION_TIMEOUT_SECONDS)
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                sock.close()
                raise InstanceLost(f"cannot reach instance {self.id}: {exc}") from None
            self._local.socket = sock
            with self._sockets_lock:
                self._sockets.append(sock)
        return sock

    def _forget_socket(self) -> None:
        sock = getattr(self._local, "socket", None)
        self._local.socket = None
        if sock is not None:
            with self._sockets_lock:
                if sock in self._sockets:
                    self._sockets.remove(sock)
            sock.close()

    def close_connections(self) -> None:
        for connection in list(self._connections.values()):
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                connection.close_soon()
        with self._sockets_lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _expire(future: asyncio.Future[wire.Reply]) -> None:
    """An invocation's time is up: its caller gets a TimeoutError (unless it was answered)."""
    if not future.done():
        future.set_exception(TimeoutError())


# ---- starting instances ---------------------------------------------------------------
@dataclass(frozen=True)
class InstanceSpec:
    """What an instance of a variant serves."""

    endpoint: str
    variant: str
    source: ModelSource
    batching: dict[str, Any] | None = None
    idle_priority: bool = False
    """A shadow's instances: they predict only on CPU time that production leaves free."""


class InstanceLauncher:
    """Starts instance processes: warm from a forkserver of its own (which has imported
    the libraries and this package's instance program), cold when that is off."""

    def __init__(self, settings: Settings) -> None:
        preload = settings.job_preload_modules
        if preload:
            preload = [*preload, instance_program.__name__]
        self.executor = LocalExecutor(
            settings, work_root=settings.home / "instances", preload=preload
        )
        self.store = {
            "uri": settings.resolved_artifact_uri,
            "endpoint_url": settings.s3_endpoint_url,
        }
        # socket paths are short (108 bytes at most) and private to this user
        self.socket_dir = Path(tempfile.mkdtemp(prefix="shipyard-"))

    def launch(self, spec: InstanceSpec, on_line: LogLine) -> Instance:
        """Start an instance and return it once it answers; InstanceStartError otherwise."""
        instance_id = f"i-{uuid.uuid4().hex[:12]}"
        socket_path = str(self.socket_dir / f"{instance_id}.sock")
        payload = {
            "store": self.store,
            "model": spec.source.to_payload(),
            "socket": socket_path,
            "batching": spec.batching,
            "idle_priority": spec.idle_priority,
        }
        job = self.executor.start(
            instance_id, JobSpec(entrypoint=instance_program.__name__, payload=payload)
        )
        assert isinstance(job, LocalRunningJob)
        started = Instance(instance_id, job, socket_path)
        threading.Thread(
            target=self._follow,
            args=(started, on_line),
            name=f"instance-{instance_id}",
            daemon=True,
        ).start()
        if not started.ready.wait(START_TIMEOUT_SECONDS):
            job.kill()
            raise InstanceStartError(
                f"ModelLoadError: instance {instance_id} was not ready within "
                f"{START_TIMEOUT_SECONDS:g} s"
            )
        if started.failure is not None:
            raise InstanceStartError(started.failure)
        return started

    def _follow(self, instance: Instance, on_line: LogLine) -> None:
        """Copy the instance's output to its log stream until it ends; tell its readiness
        (or why it could not start) on the way."""
        try:
            for line in instance.job.lines():
                event = parse_event(line)
                if event is None:
                    on_line(instance.id, line)
                elif (
                    event["event"] == "status"
                    and event.get("secondary_status") == instance_program.READY
                ):
                    instance.ready.set()
                elif event["event"] == "failure":
                    instance.failure = str(event.get("reason"))
        finally:
            code = instance.job.wait()
            if not instance.ready.is_set():
                instance.failure = instance.failure or (
                    f"ModelLoadError: instance {instance.id} exited with code {code} "
                    "before it was ready"
                )
                instance.ready.set()
            self.executor.cleanup(instance.id)
            with contextlib.suppress(FileNotFoundError):
                Path(instance.socket_path).unlink()

    def close(self) -> None:
        self.executor.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def is_ready(event: dict[str, Any]) -> bool:
    """The instance program's event that it answers."""
    return event["event"] == "status" and event.get("secondary_status") == instance_program.READY


# ---- a variant's instances ------------------------------------------------------------
class VariantFleet:
    """The instances of one variant of one endpoint, kept at ``desired`` in number.

    A serverless fleet (``serverless``) goes down to none after its idle timeout, starts
    one again on the next request (``on_cold_start`` gets how long that took, in
    seconds), and throttles requests beyond its max concurrency."""

    def __init__(
        self,
        launcher: InstanceLauncher,
        spec: InstanceSpec,
        on_line: LogLine,
        serverless: ServerlessConfig | None = None,
        on_cold_start: Callable[[float], None] | None = None,
    ) -> None:
        self.launcher = launcher
        self.spec = spec
        self.on_line = on_line
        self.serverless = serverless
        self.on_cold_start = on_cold_start
        self.desired = 0
        self.instances: list[Instance] = []
        self.in_flight = 0
        self.last_request = time.monotonic()
        self._cold_since: float | None = None
        self._starting = 0
        self._stopped = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    @property
    def name(self) -> str:
        return self.spec.variant

    @property
    def current(self) -> int:
        """Instances up and answering."""
        with self._lock:
            return len(self.instances)

    # ---- life cycle ----------------------------------------------------------------
    def start(self, count: int) -> None:
        """Start ``count`` instances and wait for all of them; InstanceStartError (with the
        others stopped) when one cannot start."""
        with self._lock:
            self.desired = count
        started: list[Instance] = []
        try:
            for _ in range(count):
                started.append(self._launch())
        except InstanceStartError:
            for instance in started:
                instance.job.kill()
            raise
        with self._changed:
            self.instances.extend(started)
            self._changed.notify_all()
        for instance in started:
            self._watch(instance)

    def scale_to(self, count: int) -> None:
        """Grow or shrink to ``count`` instances (new ones start in the background)."""
        with self._lock:
            self.desired = count
            surplus = self.instances[count:] if len(self.instances) > count else []
            self.instances = self.instances[: len(self.instances) - len(surplus)]
            missing = count - len(self.instances) - self._starting
        for instance in surplus:
            self._retire(instance)
        for _ in range(max(0, missing)):
            self._start_in_background()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self.desired = 0
            stopping, self.instances = self.instances, []
            self._changed.notify_all()
        for instance in stopping:
            self._retire(instance)

    def _launch(self) -> Instance:
        instance = self.launcher.launch(self.spec, self._log_instance)
        self.on_line(self.spec.variant, f"instance {instance.id} (pid {instance.pid}) is up")
        return instance

    def _log_instance(self, stream: str, line: str) -> None:
        self.on_line(f"{self.spec.variant}/{stream}", line)

    def _retire(self, instance: Instance) -> None:
        instance.close_connections()
        threading.Thread(
            target=instance.job.kill, name=f"retire-{instance.id}", daemon=True
        ).start()
        self.on_line(self.spec.variant, f"instance {instance.id} stopped")

    def _watch(self, instance: Instance) -> None:
        threading.Thread(
            target=self._replace_when_gone,
            args=(instance,),
            name=f"watch-{instance.id}",
            daemon=True,
        ).start()

    def _replace_when_gone(self, instance: Instance) -> None:
        code = instance.job.wait()
        with self._lock:
            if instance not in self.instances or self._stopped:
                return  # retired on purpose
            self.instances.remove(instance)
            wanted = self.desired - len(self.instances) - self._starting
        self.on_line(
            self.spec.variant,
            f"instance {instance.id} exited with code {code}; starting a replacement",
        )
        instance.close_connections()
        if wanted > 0:
            self._start_in_background()

    def _start_in_background(self) -> None:
        with self._lock:
            self._starting += 1
        threading.Thread(target=self._start_one, name="instance-start", daemon=True).start()

    def _start_one(self) -> None:
        try:
            instance = self._launch()
        except InstanceStartError as exc:
            self.on_line(self.spec.variant, f"an instance failed to start: {exc}")
            with self._lock:
                self._starting -= 1
            return
        with self._changed:
            self._starting -= 1
            keep = not self._stopped and len(self.instances) < self.desired
            if keep:
                self.instances.append(instance)
                self._changed.notify_all()
            cold_since, self._cold_since = self._cold_since, None
        if keep and cold_since is not None:
            took = time.monotonic() - cold_since
            self.on_line(self.spec.variant, f"cold start: instance {instance.id} in {took:.3f} s")
            if self.on_cold_start is not None:
                self.on_cold_start(took)
        if keep:
            self._watch(instance)
        else:
            self._retire(instance)

    def pick(
        self, fewest: Callable[[Instance], int] = lambda one: one.in_flight
    ) -> Instance | None:
        """The reachable instance with the fewest requests in flight (or of ``fewest``)."""
        with self._lock:
            reachable = [instance for instance in self.instances if not instance.lost]
            return min(reachable, key=fewest) if reachable else None

    @staticmethod
    def _drop(instance: Instance) -> None:
        """An instance that could not be reached: no more requests go to it (its watcher
        replaces it once its process is gone)."""
        instance.lost = True

    # ---- serverless ----------------------------------------------------------------
    def _admit(self) -> None:
        """Count a request in; a serverless fleet throttles past its max concurrency and
        starts an instance when it has none (a cold start)."""
        with self._lock:
            config = self.serverless
            if config is not None and self.in_flight >= config.max_concurrency:
                raise Throttled(
                    f"variant '{self.spec.variant}' has {self.in_flight} requests in flight, "
                    f"its max_concurrency is {config.max_concurrency}; retry later"
                )
            self.in_flight += 1
            self.last_request = time.monotonic()
            cold = config is not None and self.desired == 0 and not self._stopped
            if cold:
                self._cold_since = self.last_request
        if cold:
            self.scale_to(1)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.last_request = time.monotonic()

    def tend(self, now: float | None = None) -> None:
        """A serverless fleet's upkeep: down to none after its idle timeout; an instance
        over its memory size is replaced."""
        config = self.serverless
        if config is None:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = now - self.last_request
            asleep = (
                self.desired > 0 and self.in_flight == 0 and idle >= config.idle_timeout_seconds
            )
            instances = list(self.instances)
        if asleep:
            self.on_line(self.spec.variant, f"no request for {idle:.0f} s: scaling to zero")
            self.scale_to(0)
            return
        limit = config.memory_size_in_mb * 1024 * 1024
        for instance in instances:
            used = instance.job.memory_bytes()
            if used is not None and used > limit:
                self.on_line(
                    self.spec.variant,
                    f"instance {instance.id} uses {used // 2**20} MiB, over the variant's "
                    f"memory_size_in_mb of {config.memory_size_in_mb}: replacing it",
                )
                instance.job.kill()

    # ---- calls ---------------------------------------------------------------------
    async def call(self, content_type: str, accept: str, body: bytes) -> wire.Reply:
        self._admit()
        try:
            return await self._call(content_type, accept, body)
        finally:
            self._release()

    async def _call(self, content_type: str, accept: str, body: bytes) -> wire.Reply:
        deadline = time.monotonic() + REPLACEMENT_WAIT_SECONDS
        for _ in range(CALL_ATTEMPTS):
            instance = self.pick()
            while instance is None:
                if time.monotonic() > deadline or self._stopped:
                    raise self._none_up()
                await asyncio.sleep(0.02)
                instance = self.pick()
            try:
                return await instance.call(content_type, accept, body)
            except InstanceLost:
                self._drop(instance)
                await asyncio.sleep(0)
        raise self._none_up()

    def call_blocking(
        self,
        content_type: str,
        accept: str,
        body: bytes,
        timeout: float = INVOCATION_TIMEOUT_SECONDS,
    ) -> wire.Reply:
        """:meth:`call` from a thread off any event loop; an instance that does not answer
        within ``timeout`` seconds is an InvocationTimeout."""
        self._admit()
        try:
            return self._call_blocking((content_type, accept, body), timeout)
        finally:
            self._release()

    def _call_blocking(self, request: InstanceRequest, timeout: float) -> wire.Reply:
        deadline = time.monotonic() + REPLACEMENT_WAIT_SECONDS
        for _ in range(CALL_ATTEMPTS):
            with self._changed:
                while not any(not instance.lost for instance in self.instances):
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stopped:
                        raise self._none_up()
                    self._changed.wait(left)
            instance = self.pick()
            if instance is None:
                continue
            try:
                return instance.call_blocking(*request, timeout)
            except InstanceLost:
                self._drop(instance)
        raise self._none_up()

    def send_copies(self, frames: bytes, count: int) -> Instance:
        """A shadow's burst of ``count`` copies to one of its instances (the one that got
        the fewest so far), at once: a variant with none up is NoInstanceAnswers. The
        instance that has them (and will have their tallies)."""
        for _ in range(CALL_ATTEMPTS):
            instance = self.pick(fewest=lambda one: one.copies)
            if instance is None:
                break
            try:
                instance.send_copies(frames, count)
            except InstanceLost:
                self._drop(instance)
                continue
            return instance
        raise self._none_up()

    def _none_up(self) -> NoInstanceAnswers:
        return NoInstanceAnswers(
            f"ModelError: variant '{self.spec.variant}' has no instance that answers"
        )
