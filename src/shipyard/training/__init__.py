"""Training jobs. Inside a script-mode job, ``log_metric`` reports a metric to Shipyard."""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING

from shipyard.compute.events import emit_metric, emit_stop

if TYPE_CHECKING:
    from shipyard.tuning.pruning import TrialPruner


class EarlyStopped(SystemExit):
    """Raised by :func:`log_metric` in a tuning trial that its tuning job stops early.

    It ends the script with exit code 0 and the job is recorded ``Stopped`` with the
    reason; a script that wants to save its model first catches it, saves, and re-raises.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(0)
        self.reason = reason


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record ``value`` of metric ``name`` (optionally at ``step``) for the running job.

    Works in any process started by a Shipyard training job: it writes one event line to
    standard output, which the worker stores as a metric point instead of a log line. In
    a tuning trial with early stopping, the objective metric reported with a step may end
    the script: see :class:`EarlyStopped`.
    """
    emit_metric(name, value, step)
    pruner = _trial_pruner()
    if pruner is None or step is None or name != pruner.plan.objective_metric:
        return
    reason = pruner.report(step, float(value))
    if reason is not None:
        emit_stop(reason)
        raise EarlyStopped(reason)


@functools.cache
def _trial_pruner() -> TrialPruner | None:
    """The pruner of this tuning trial (from ``SHIPYARD_PRUNING``), or None outside one."""
    document = os.environ.get("SHIPYARD_PRUNING")
    if not document:
        return None
    from shipyard.tuning.pruning import pruner_from_payload

    return pruner_from_payload(json.loads(document))


__all__ = ["EarlyStopped", "log_metric"]
