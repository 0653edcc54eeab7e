"""Data-parallel script mode: run N ranks of a script and treat them as one job.

The contract a script sees is the environment of :func:`rank_environment`, the same on
every executor: SageMaker-style hosts (``algo-1`` … ``algo-N``) and the variables that
``torch.distributed``'s ``env://`` rendezvous reads. On one machine the ranks are
children of the job process, so they share its process group (a stop of the job kills
them all), are counted in its memory, and die with it (``PR_SET_PDEATHSIG``).

:func:`run_ranks` relays their output and ends them as one: rank 0 reports, a rank that
fails fails the job, and a rank that stops the job on purpose stops the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

from shipyard.compute.child import THREAD_VARIABLES, bind_cpus, die_with_parent
from shipyard.compute.events import PREFIX, parse_event

LOOPBACK = "127.0.0.1"
TERMINATE_GRACE_SECONDS = 5.0
READ_BYTES = 1 << 16
EVENT_PREFIX = PREFIX.encode()
RELAYED_EVENTS = ("failure", "stop")  # the events of ranks other than 0 that count


class RankFailed(Exception):
    """A rank exited non-zero or was killed; ``message`` is the job's failure reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def host_name(rank: int) -> str:
    """The SageMaker name of the instance that runs ``rank``: ``algo-1`` for rank 0."""
    return f"algo-{rank + 1}"


def rank_environment(
    rank: int,
    world_size: int,
    master_port: int,
    *,
    master_addr: str = LOOPBACK,
    local_rank: int | None = None,
) -> dict[str, str]:
    """The variables that tell one rank where it stands and where to meet the others.

    ``SHIPYARD_*`` in Shipyard's vocabulary, and ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/
    ``MASTER_ADDR``/``MASTER_PORT`` for ``torch.distributed.init_process_group("gloo")``
    (rank 0 listens on ``master_addr:master_port``). ``local_rank``, the rank's index
    among those on its machine, defaults to ``rank``: every rank on one machine.
    """
    hosts = [host_name(r) for r in range(world_size)]
    local = str(rank if local_rank is None else local_rank)
    return {
        "SHIPYARD_HOSTS": json.dumps(hosts),
        "SHIPYARD_CURRENT_HOST": hosts[rank],
        "SHIPYARD_RANK": str(rank),
        "SHIPYARD_WORLD_SIZE": str(world_size),
        "SHIPYARD_LOCAL_RANK": local,
        "RANK": str(rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_RANK": local,
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
    }


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on now, for rank 0's rendezvous (as ``torchrun`` picks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cpu_shares(cpus: list[int], world_size: int, per_rank: int | None) -> list[list[int]]:
    """Each rank's CPUs out of the job's (``cpus``, not empty): ``per_rank`` each (an even
    split when unset), disjoint while the job has enough, shared round-robin when fewer."""
    size = min(per_rank or max(1, len(cpus) // world_size), len(cpus))
    return [
        sorted({cpus[(rank * size + i) % len(cpus)] for i in range(size)})
        for rank in range(world_size)
    ]


def run_ranks(
    argv: list[str], env: dict[str, str], cwd: str, world_size: int, cpu_count: int | None
) -> None:
    """Run ``world_size`` ranks of ``argv`` until they all end; relay their output.

    Rank 0's lines pass through unchanged, its events included. Another rank's lines are
    prefixed with its host (``[algo-2] ``) and its events dropped, except ``failure`` and
    ``stop``: metrics, records and statuses come from rank 0, as ``log_metric`` and the
    debugger have rank 0 report (every rank's copy would count N times), while a failure
    or a stop from any rank decides how the job ends.

    Returns when every rank exited 0, or when one ended the job on purpose (a ``stop``
    event: the others are stopped and the worker records the job ``Stopped``). Raises
    :class:`RankFailed` naming the first rank that exited non-zero or was killed, after
    stopping the others.
    """
    shares = cpu_shares(sorted(os.sched_getaffinity(0)), world_size, cpu_count)
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for rank, cpus in enumerate(shares):
            threads = str(len(cpus))
            rank_env = env | rank_environment(rank, world_size, port)
            rank_env |= {"SHIPYARD_NUM_CPUS": threads} | dict.fromkeys(THREAD_VARIABLES, threads)
            processes.append(_start_rank(argv, rank_env, cwd, cpus))
        group = RankGroup(processes)
    except BaseException:
        for process in processes:
            process.kill()
            process.wait()
        raise
    group.watch()


def _start_rank(
    argv: list[str], env: dict[str, str], cwd: str, cpus: list[int]
) -> subprocess.Popen[bytes]:
    parent = os.getpid()

    def bind() -> None:  # in the rank, before the script: die with us, keep to its CPUs
        die_with_parent(parent)
        bind_cpus(cpus)

    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=bind
    )


@dataclass
class Rank:
    """One rank's process, its exit, and the part of a line it has not finished yet."""

    index: int
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    pidfd: int
    prefix: bytes
    pending: bytes = b""
    exit_code: int | None = None
    output_open: bool = True

    @property
    def label(self) -> str:
        return f"rank {self.index} ({host_name(self.index)})"


class RankGroup:
    """The ranks of one job, watched from one thread: their output pipes and their exits
    (pidfds) in one selector, so an exit is seen the moment it happens, after its last
    output line."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.ranks: list[Rank] = []
        self.selector = selectors.DefaultSelector()
        self.failure: str | None = None
        self.stopped = False
        self.kill_at: float | None = None
        for index, process in enumerate(processes):
            assert process.stdout is not None
            os.set_blocking(process.stdout.fileno(), False)
            prefix = f"[{host_name(index)}] ".encode()
            rank = Rank(index, process, process.stdout, os.pidfd_open(process.pid), prefix)
            self.ranks.append(rank)
            self.selector.register(rank.output, selectors.EVENT_READ, (rank, "output"))
            self.selector.register(rank.pidfd, selectors.EVENT_READ, (rank, "exit"))

    def watch(self) -> None:
        """Relay output until every rank has exited; raise :class:`RankFailed` if one failed."""
        try:
            while any(rank.exit_code is None for rank in self.ranks):
                for key, _ in self.selector.select(self._until_kill()):
                    rank, what = key.data
                    if what == "output":
                        self._read(rank)
                    else:
                        self._reap(rank)
                self._kill_after_grace()
        finally:
            self._close()
        if self.failure is not None:
            raise RankFailed(self.failure)

    def _read(self, rank: Rank) -> bool:
        """Relay what the rank wrote; False when there is nothing more to read now."""
        if not rank.output_open:  # its exit came first in the same wake-up and drained it
            return False
        try:
            chunk = os.read(rank.output.fileno(), READ_BYTES)
        except BlockingIOError:
            return False
        if not chunk:
            self._end_output(rank)
            return False
        *lines, rank.pending = (rank.pending + chunk).split(b"\n")
        self._relay(rank, lines)
        return True

    def _end_output(self, rank: Rank) -> None:
        if rank.output_open:
            rank.output_open = False
            self.selector.unregister(rank.output)
            if rank.pending:  # a last line without its newline
                self._relay(rank, [rank.pending])
                rank.pending = b""

    def _relay(self, rank: Rank, lines: list[bytes]) -> None:
        relayed = [out for out in (self._relayed(rank, line) for line in lines) if out is not None]
        if relayed:
            sys.stdout.flush()  # our own prints first, in order
            sys.stdout.buffer.write(b"\n".join(relayed) + b"\n")
            sys.stdout.buffer.flush()

    def _relayed(self, rank: Rank, line: bytes) -> bytes | None:
        """The line as the worker should see it: rank 0's unchanged, another's prefixed,
        another's events dropped unless they decide the job's end."""
        event = (
            parse_event(line.decode(errors="replace")) if line.startswith(EVENT_PREFIX) else None
        )
        if event is None:
            return line if rank.index == 0 else rank.prefix + line
        if event["event"] == "stop":
            self._on_stop(rank)
        return line if rank.index == 0 or event["event"] in RELAYED_EVENTS else None

    def _reap(self, rank: Rank) -> None:
        """The rank has exited: relay what every rank wrote until now (a stop that caused
        this exit counts first), then judge the exit."""
        for each in self.ranks:
            while each.output_open and self._read(each):
                pass
        self._end_output(rank)
        self.selector.unregister(rank.pidfd)
        code = rank.exit_code = rank.process.wait()
        if code != 0 and self.failure is None and not self.stopped:
            running = self._stop_others(rank)
            self.failure = f"AlgorithmError: {rank.label} exited with code {describe_exit(code)}"
            if running:
                self.failure += "; the other ranks were stopped"

    def _on_stop(self, rank: Rank) -> None:
        """A rank ended the job on purpose; the others have nothing left to do."""
        if not self.stopped and self.failure is None:
            self.stopped = True
            self._stop_others(rank)

    def _stop_others(self, rank: Rank) -> bool:
        """SIGTERM every other running rank (SIGKILL after the grace); whether any ran."""
        others = [r for r in self.ranks if r is not rank and r.exit_code is None]
        for other in others:
            _signal(other, signal.SIGTERM)
        if others:
            self.kill_at = time.monotonic() + TERMINATE_GRACE_SECONDS
        return bool(others)

    def _until_kill(self) -> float | None:
        return None if self.kill_at is None else max(0.0, self.kill_at - time.monotonic())

    def _kill_after_grace(self) -> None:
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            self.kill_at = None
            for rank in self.ranks:
                if rank.exit_code is None:
                    _signal(rank, signal.SIGKILL)

    def _close(self) -> None:
        """Leave nothing behind, even when watching was interrupted."""
        for rank in self.ranks:
            if rank.exit_code is None:
                _signal(rank, signal.SIGKILL)
                rank.exit_code = rank.process.wait()
            os.close(rank.pidfd)
            rank.output.close()
        self.selector.close()


def _signal(rank: Rank, signum: int) -> None:
    """Signal a rank through its pidfd, which cannot reach a process that reused its pid."""
    with contextlib.suppress(ProcessLookupError):  # it has exited, not yet reaped
        signal.pidfd_send_signal(rank.pidfd, signum)


def describe_exit(code: int) -> str:
    """``3``, or ``-9 (SIGKILL)`` for a process killed by a signal."""
    if code >= 0:
        return str(code)
    try:
        return f"{code} ({signal.Signals(-code).name})"
    except ValueError:
        return str(code)
