"""The executor contract: start an attempt, stream its output, stop it, measure it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from shipyard.compute.schemas import JobSpec


class RunningJob(ABC):
    """One running attempt. ``lines()`` yields stdout and stderr, merged, until it exits."""

    @abstractmethod
    def lines(self) -> Iterator[str]: ...

    @abstractmethod
    def wait(self) -> int:
        """Block until the attempt exits; its exit code (negative: killed by that signal)."""

    @abstractmethod
    def poll(self) -> int | None:
        """The exit code if it has exited, else None; never blocks."""

    @abstractmethod
    def kill(self, grace_seconds: float = 5.0) -> None:
        """Ask the attempt and everything it started to stop; force it after the grace."""

    @abstractmethod
    def memory_bytes(self) -> int | None:
        """Resident memory of the attempt and its children, when the backend can tell."""


class BaseExecutor(ABC):
    """Starts job attempts. Implementations must not share state between attempts."""

    @abstractmethod
    def start(self, job_id: str, spec: JobSpec) -> RunningJob: ...

    def cleanup(self, job_id: str) -> None:  # noqa: B027 - optional; most backends need nothing
        """Remove what the attempt left on the executor (scratch space)."""

    def close(self) -> None:  # noqa: B027 - optional; most backends hold nothing
        """Release what the executor holds (helper processes); called when the worker stops."""
