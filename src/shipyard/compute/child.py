"""The first code a job process runs: it binds the process to its limits, then the job.

Run as ``python -m shipyard.compute.child job.json``. It dies with its worker
(``PR_SET_PDEATHSIG``), keeps to its CPU share, and calls ``<entrypoint>.main(payload)``;
an exception becomes a failure event with a one-line reason and exit code 1.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

PR_SET_PDEATHSIG = 1
# what OpenMP, OpenBLAS and MKL read for their thread count, set to a process's CPU share
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(137)


def bind_cpus(cpus: list[int] | None) -> None:
    """Keep to the CPUs the executor granted (all of them when it granted none)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def main(argv: list[str], parent_pid: int | None = None) -> int:
    """Run the job described by ``argv[1]``; ``parent_pid`` is who it must die with."""
    spec = json.loads(Path(argv[1]).read_text())
    die_with_parent(parent_pid if parent_pid is not None else int(spec["parent_pid"]))
    bind_cpus(spec.get("cpus"))
    from shipyard.compute.events import emit_failure

    try:
        module = importlib.import_module(spec["entrypoint"])
        module.main(spec["payload"])
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # sys.exit() in the job: its code, as a script's would be
        return exit_code_of(exc)
    except Exception as exc:  # the job's own error: report it, do not crash noisily
        traceback.print_exc()
        emit_failure(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def exit_code_of(exc: SystemExit) -> int:
    """The process exit code ``sys.exit(code)`` asks for (a message means 1)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
