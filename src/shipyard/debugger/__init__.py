"""The debugger (SageMaker Debugger's role): rules that watch a PyTorch script's training.

Inside a script-mode training job, :class:`Hook` records the loss and per-tensor gradient
and weight statistics and evaluates the job's rules as they arrive; a rule that finds an
issue can stop the training (:class:`StoppedByRule`) or have the server notify a webhook.
:class:`Rule` writes a rule configuration for ``Estimator(rules=[...])``. Importing this
package does not import torch; making a :class:`Hook` does.
"""

from __future__ import annotations

from shipyard.debugger.engine import StoppedByRule
from shipyard.debugger.hook import Hook
from shipyard.debugger.schemas import Rule

__all__ = ["Hook", "Rule", "StoppedByRule"]
