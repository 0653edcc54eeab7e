"""Runs each job attempt as a local process in its own session and scratch directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

from shipyard.compute.executors.base import BaseExecutor, RunningJob
from shipyard.compute.schemas import JobSpec
from shipyard.core.config import Settings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class LocalRunningJob(RunningJob):
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._kill_lock = threading.Lock()

    def lines(self) -> Iterator[str]:
        assert self.process.stdout is not None
        with self.process.stdout:  # closed at the end of the output, not left to the GC
            for line in self.process.stdout:
                yield line.rstrip("\n")

    def wait(self) -> int:
        code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def poll(self) -> int | None:
        return self.process.poll()

    def kill(self, grace_seconds: float = 5.0) -> None:
        with self._kill_lock:
            if self.process.poll() is not None:
                return
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def memory_bytes(self) -> int | None:
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in processes if p.is_running())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None


class LocalExecutor(BaseExecutor):
    """Each attempt: ``python -m shipyard.compute.child job.json`` in ``home/work/<job id>``."""

    def __init__(self, settings: Settings) -> None:
        self.work_root = settings.home / "work"

    def start(self, job_id: str, spec: JobSpec) -> RunningJob:
        workdir = self.work_root / job_id
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        document = spec.model_dump(mode="json") | {"parent_pid": os.getpid()}
        (workdir / "job.json").write_text(json.dumps(document))
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.compute.child", "job.json"],
            cwd=workdir,
            env=_job_environment(spec, workdir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        return LocalRunningJob(process)

    def cleanup(self, job_id: str) -> None:
        shutil.rmtree(self.work_root / job_id, ignore_errors=True)


def _job_environment(spec: JobSpec, workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["SHIPYARD_WORK_DIR"] = str(workdir)
    if spec.resources.cpu_count:
        for variable in THREAD_VARIABLES:
            env[variable] = str(spec.resources.cpu_count)
    env.update(spec.env)
    return env
