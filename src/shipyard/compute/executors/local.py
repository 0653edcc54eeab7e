"""Runs each job attempt as a local process in its own session and scratch directory.

A job starts warm — forked by the forkserver, with the heavy libraries already imported
(the first job starts the forkserver and waits for it) — or, when warm starts are off or
the forkserver failed, as a fresh ``python -m shipyard.compute.child``. Both behave the
same to the worker. Jobs that state a ``cpu_count`` get that many CPUs, the least busy
ones, so two one-CPU jobs do not share a core while another sits idle.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import psutil

from shipyard.compute.child import THREAD_VARIABLES
from shipyard.compute.executors.base import BaseExecutor, RunningJob
from shipyard.compute.executors.forkserver import Forkserver
from shipyard.compute.schemas import JobSpec
from shipyard.core.config import Settings

# Idle OpenMP threads sleep rather than spin: a job may come to share its cores with another
# at any time, and two spinning boosters on two cores ran 20 times slower than one
# (benchmarks/tuning.py measures parallel trials). Libraries read this when they load, so
# the forkserver starts with it too. A user's own OMP_WAIT_POLICY wins.
SLEEPING_OPENMP = ("OMP_WAIT_POLICY", "PASSIVE")


ExitWaiter = Callable[[float | None], int | None]
"""Waits up to a timeout (None: forever) for the exit code; None if it has not exited."""


class LocalRunningJob(RunningJob):
    """A job process: its pid, its output pipe, and how to learn its exit code."""

    def __init__(self, pid: int, output: IO[str], wait_exit: ExitWaiter) -> None:
        self.pid = pid
        self.output = output
        self._wait_exit = wait_exit
        self._code: int | None = None
        self._kill_lock = threading.Lock()

    @classmethod
    def from_popen(cls, process: subprocess.Popen[str]) -> LocalRunningJob:
        """A cold start: our own child, so ``Popen.wait`` knows its exit code."""

        def wait_exit(timeout: float | None) -> int | None:
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None

        assert process.stdout is not None
        return cls(process.pid, process.stdout, wait_exit)

    @classmethod
    def from_fork(cls, pid: int, output_fd: int, forkserver: Forkserver) -> LocalRunningJob:
        """A warm start: the forkserver's child, whose exit code the forkserver reports."""
        output = open(output_fd, encoding="utf-8", errors="replace")  # noqa: SIM115
        return cls(pid, output, lambda timeout: forkserver.exit_code(pid, timeout))

    def lines(self) -> Iterator[str]:
        with self.output:  # closed at the end of the output, not left to the GC
            for line in self.output:
                yield line.rstrip("\n")

    def wait(self) -> int:
        code = self._wait(None)
        assert code is not None
        self.output.close()
        return code

    def poll(self) -> int | None:
        return self._wait(0)

    def _wait(self, timeout: float | None) -> int | None:
        if self._code is None:
            self._code = self._wait_exit(timeout)
        return self._code

    def kill(self, grace_seconds: float = 5.0) -> None:
        with self._kill_lock:
            if self.poll() is not None:
                return
            self._signal_group(signal.SIGTERM)
            if self._wait(grace_seconds) is None:
                self._signal_group(signal.SIGKILL)
                self._wait(None)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def memory_bytes(self) -> int | None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in processes if p.is_running())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None


class LocalExecutor(BaseExecutor):
    """Each attempt runs in ``home/work/<job id>``, warm-started when it can be."""

    def __init__(
        self,
        settings: Settings,
        *,
        work_root: Path | None = None,
        preload: list[str] | None = None,
    ) -> None:
        """``work_root`` and ``preload`` default to the job settings' (``home/work``)."""
        self.work_root = work_root or settings.home / "work"
        preload = settings.job_preload_modules if preload is None else preload
        environment = {**os.environ}
        environment.setdefault(*SLEEPING_OPENMP)
        self.forkserver = Forkserver(preload, environment) if preload else None
        self._cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._granted: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, spec: JobSpec) -> RunningJob:
        workdir = self.work_root / job_id
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        resources = spec.resources
        wanted = resources.cpu_count and resources.cpu_count * resources.instance_count
        cpus = self._grant_cpus(job_id, wanted)
        document = spec.model_dump(mode="json") | {"parent_pid": os.getpid(), "cpus": cpus}
        (workdir / "job.json").write_text(json.dumps(document))
        threads = min(len(cpus), resources.cpu_count) if resources.cpu_count else None
        env = _job_environment(spec, workdir, threads)
        if self.forkserver is not None and self.forkserver.wait_ready():
            try:
                pid, output_fd = self.forkserver.spawn(str(workdir), env)
                return LocalRunningJob.from_fork(pid, output_fd, self.forkserver)
            except RuntimeError:
                pass  # the forkserver went away: start cold
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.compute.child", "job.json"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        return LocalRunningJob.from_popen(process)

    def cleanup(self, job_id: str) -> None:
        with self._lock:
            self._granted.pop(job_id, None)
        shutil.rmtree(self.work_root / job_id, ignore_errors=True)

    def close(self) -> None:
        if self.forkserver is not None:
            self.forkserver.close()

    def _grant_cpus(self, job_id: str, cpu_count: int | None) -> list[int]:
        """The least used CPUs (all when ``cpu_count`` is unset)."""
        with self._lock:
            load = Counter(cpu for cpus in self._granted.values() for cpu in cpus)
            if cpu_count is None or not self._cpus:
                cpus = list(self._cpus)
            else:
                ranked = sorted(self._cpus, key=lambda cpu: (load[cpu], cpu))
                cpus = sorted(ranked[: min(cpu_count, len(ranked))])
            self._granted[job_id] = cpus
            return cpus


def _job_environment(spec: JobSpec, workdir: Path, threads: int | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["SHIPYARD_WORK_DIR"] = str(workdir)
    if threads:
        for variable in THREAD_VARIABLES:
            env[variable] = str(threads)
    env.setdefault(*SLEEPING_OPENMP)
    env.update(spec.env)
    return env
