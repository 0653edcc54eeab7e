"""A warm start for job processes: a server that has imported the heavy libraries forks them.

Importing pandas, pyarrow and XGBoost costs a new Python process one to three seconds;
the forkserver pays it once. The worker talks to it over a ``SOCK_SEQPACKET`` socket:

    worker → server   {"workdir": ..., "env": {...}}          (one spawn request)
    server → worker   {"started": pid}  + the read end of the job's output pipe (SCM_RIGHTS)
    server → worker   {"exited": pid, "code": n}              (when a job process ends)

The server is single-threaded and only forks, so the children start clean. When the
worker goes away the socket closes and the server exits; its children are bound to it
with ``PR_SET_PDEATHSIG``, so a killed worker takes its jobs with it, as with plain
processes. Environment variables read when a library loads (``OMP_*``) keep the server's
values in a forked job; everything else in ``env`` applies.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import json
import os
import queue
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

MESSAGE_BYTES = 1 << 20
READY_TIMEOUT_SECONDS = 300.0
KEPT_EXITS = 10_000  # exit codes remembered after the job ended, for late askers


# ---- the server, in its own process ---------------------------------------------------
def serve(sock: socket.socket, preload: list[str]) -> None:
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception as exc:  # a missing optional library must not stop warm starts
            print(f"forkserver: cannot preload {module}: {exc}", file=sys.stderr)
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        watched: list[Any] = [sock, wakeup_read]
        readable, _, _ = select.select(watched, [], [])
        if wakeup_read in readable:
            os.read(wakeup_read, 4096)
            _report_exits(sock)
        if sock in readable:
            message = sock.recv(MESSAGE_BYTES)
            if not message:  # the worker is gone
                return
            _spawn(sock, json.loads(message), wakeup_read, wakeup_write)


def _report_exits(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(json.dumps({"exited": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def _spawn(sock: socket.socket, request: dict, *server_fds: int) -> None:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sock.close()
            for fd in (read_end, *server_fds):
                os.close(fd)
            code = _become_job(request, write_end)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    socket.send_fds(sock, [json.dumps({"started": pid}).encode()], [read_end])
    os.close(read_end)


def _become_job(request: dict, output: int) -> int:
    from shipyard.compute import child

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdout.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    os.chdir(request["workdir"])
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()
    return child.main(["child", "job.json"], parent_pid=os.getppid())


# ---- the client, in the worker ------------------------------------------------------
@dataclass
class _Exit:
    done: threading.Event = field(default_factory=threading.Event)
    code: int | None = None


class Forkserver:
    """The worker's handle on the server: started on first use, ``spawn`` forks a job."""

    def __init__(self, preload: list[str], env: dict[str, str] | None = None) -> None:
        """`env`: the server's environment (this process's when None), which its preloaded
        libraries read once, when they load."""
        self.preload = preload
        self.env = env
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._closed = False
        self._spawn_lock = threading.Lock()
        self._started: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self._exits: dict[int, _Exit] = {}
        self._ended: collections.deque[int] = collections.deque()
        self._exits_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="forkserver", daemon=True)
                self._thread.start()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and not self._closed

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
        """Start the server if needed and wait until it has imported its modules."""
        self.ensure_started()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._closed or time.monotonic() > deadline:
                return False
        return not self._closed

    def spawn(self, workdir: str, env: dict[str, str]) -> tuple[int, int]:
        """Fork a job process; returns its pid and the read end of its output."""
        if not self.ready or self._sock is None:
            raise RuntimeError("the forkserver is not running")
        with self._spawn_lock:
            self._sock.send(json.dumps({"workdir": workdir, "env": env}).encode())
            started = self._started.get(timeout=60)
        if started is None:
            raise RuntimeError("the forkserver stopped while starting a job")
        return started

    def exit_code(self, pid: int, timeout: float | None = None) -> int | None:
        """The exit code of job ``pid`` within ``timeout`` (None: wait for it), else None.

        Exit codes stay known for the last ``KEPT_EXITS`` jobs that ended, so any number of
        callers may ask, in any order.
        """
        with self._exits_lock:
            record = self._exits[pid]
        if not record.done.wait(timeout):
            return None
        return record.code

    def close(self) -> None:
        """Stop the server (its running jobs die with it); never waits on its imports."""
        with self._start_lock:
            self._closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        process = self._process
        if process is None:
            return
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:  # still importing: it reads the socket only after
            process.kill()
            process.wait()

    def _run(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), *self.preload],
                env=self.env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        try:
            self._receive()
        finally:
            self._closed = True
            self._started.put(None)
            with self._exits_lock:
                for record in self._exits.values():
                    if not record.done.is_set():
                        record.code = -signal.SIGKILL
                        record.done.set()
            ours.close()
            if self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=10)

    def _receive(self) -> None:
        assert self._sock is not None
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._sock, MESSAGE_BYTES, 1)
            except OSError:
                return
            if not message:
                return
            event = json.loads(message)
            if "ready" in event:
                self._ready.set()
            elif "started" in event:
                pid = int(event["started"])
                with self._exits_lock:  # a new record, even for a reused pid
                    self._exits[pid] = _Exit()
                self._started.put((pid, fds[0]))
            elif "exited" in event:
                self._record_exit(int(event["exited"]), int(event["code"]))

    def _record_exit(self, pid: int, code: int) -> None:
        with self._exits_lock:
            record = self._exits.get(pid)
            if record is None:
                return
            self._ended.append(pid)
            while len(self._ended) > KEPT_EXITS:
                oldest = self._ended.popleft()
                stale = self._exits.get(oldest)
                if stale is not None and stale is not record and stale.done.is_set():
                    del self._exits[oldest]
        record.code = code
        record.done.set()


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2:])
