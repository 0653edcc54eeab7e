"""Helpers of the tests that run the ``shipyard`` command: its real entry point in a
process of its own, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys

ENTRY_POINT = [sys.executable, "-m", "shipyard.cli.main"]


def shipyard_cli(
    *args: str, env: dict[str, str], expect: int = 0, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``shipyard <args>``; it exits ``expect``, and never with a traceback."""
    completed = subprocess.run(
        [*ENTRY_POINT, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == expect, (args, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def assert_one_line_error(
    completed: subprocess.CompletedProcess[str], code: str, *needles: str
) -> str:
    """The command exited 1 with ``error (<code>): ...`` on one line, naming ``needles``."""
    assert completed.returncode == 1
    line = completed.stderr.strip()
    assert "\n" not in line, completed.stderr
    assert line.startswith(f"error ({code}): "), completed.stderr
    for needle in needles:
        assert needle in line, (needle, line)
    return line
