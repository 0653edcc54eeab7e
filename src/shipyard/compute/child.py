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


def die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(137)


def bind_cpus(cpu_count: int | None) -> None:
    if not cpu_count or not hasattr(os, "sched_setaffinity"):
        return
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[: max(1, min(cpu_count, len(allowed)))])


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    die_with_parent(int(spec["parent_pid"]))
    bind_cpus(spec["resources"].get("cpu_count"))
    from shipyard.compute.events import emit_failure

    try:
        module = importlib.import_module(spec["entrypoint"])
        module.main(spec["payload"])
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the job's own error: report it, do not crash noisily
        traceback.print_exc()
        emit_failure(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
