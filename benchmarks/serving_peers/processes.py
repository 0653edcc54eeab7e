"""The benchmark's servers: started pinned to a core, watched and stopped through /proc.

A server's processes are its process tree, not its process group: BentoML's workers start
sessions of their own. CPU time comes from /proc/<pid>/stat, each core's from /proc/stat.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime,
    [19] start time."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def core_ticks() -> dict[int, tuple[int, int]]:
    """Per core: (busy, all) clock ticks since boot, from /proc/stat (steal counts as busy:
    time the core was not ours)."""
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            ticks = [int(v) for v in values[:8]]
            found[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return found


def core_busy(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict:
    return {
        core: (after[core][0] - before[core][0]) / max(1, after[core][1] - before[core][1])
        for core in after
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tree(self) -> list[int]:
        return process_tree(self.process.pid)

    def affinity(self) -> dict[str, list[int]]:
        found = {}
        for pid in self.tree():
            with contextlib.suppress(OSError):
                found[str(pid)] = sorted(os.sched_getaffinity(pid))
        return found

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM to the server (which stops its own workers), then SIGKILL to whatever of
        its process tree is still there."""
        started = {pid: fields[19] for pid in self.tree() if (fields := _stat(pid))}
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        for pid, start_time in started.items():
            fields = _stat(pid)
            if fields is not None and fields[19] == start_time:  # the same process, not a reuse
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


@dataclass
class ServerPool:
    """Every server this run started; each one is stopped on the way out, error or not."""

    core: int
    logs: Path
    servers: list[Server] = field(default_factory=list)

    def start(
        self, name: str, command: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> Server:
        log = self.logs / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this script, which stops them
                preexec_fn=functools.partial(os.sched_setaffinity, 0, {self.core}),
            )
        server = Server(name, process, log)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        while self.servers:
            self.servers.pop().stop()


def wait_for(condition: Callable[[], Any], what: str, server: Server, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        if result := condition():
            return result
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: no {what} after {timeout:.0f} s:\n{server.log_tail()}")


def wait_until_idle(server: Server, timeout: float = 90.0) -> float:
    """Until the server's processes use under 5 % of a core (a start's imports, a job
    forkserver's preloads are over); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pids = server.tree()
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if (cpu_seconds(pids) - before) / 0.5 < 0.05:
            break
    return round(time.monotonic() - started, 1)


def wait_for_quiet_cores(cores: tuple[int, ...], timeout: float = 120.0) -> tuple[float, bool]:
    """Until, over one second, every core of ``cores`` is under 10 % busy (the machine may be
    shared: another program's work would land in the figures); the seconds waited and
    whether they got quiet."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = core_ticks()
        time.sleep(1.0)
        busy = core_busy(before, core_ticks())
        if all(busy[core] < 0.10 for core in cores):
            return round(time.monotonic() - started, 1), True
    return round(time.monotonic() - started, 1), False


@contextlib.contextmanager
def pinned(core: int) -> Iterator[None]:
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)
