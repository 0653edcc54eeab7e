"""Training jobs. Inside a script-mode job, ``log_metric`` reports a metric to Shipyard."""

from __future__ import annotations

from shipyard.compute.events import emit_metric


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record ``value`` of metric ``name`` (optionally at ``step``) for the running job.

    Works in any process started by a Shipyard training job: it writes one event line to
    standard output, which the worker stores as a metric point instead of a log line.
    """
    emit_metric(name, value, step)


__all__ = ["log_metric"]
