"""The debugger hook of a PyTorch training script: it records, and the rules judge.

Usage (see docs/debugger.md)::

    hook = shipyard.debugger.Hook(model, optimizer)   # rules: the job's configuration
    for x, y in batches:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        hook.record_loss(loss)        # the loss of this step, before optimizer.step()
        optimizer.step()              # the hook reads gradients and weights just before
    hook.record_loss(validation_loss, mode="eval")
    hook.close()                      # or atexit does it; or `with Hook(...) as hook:`

A step is one ``optimizer.step()``; steps count from 0. Every ``save_interval`` steps
(0, N, 2N…) the hook records per-tensor statistics of each parameter's gradient and
weights (to ``$SHIPYARD_OUTPUT_DIR/debugger/tensor-statistics.jsonl``, uploaded with the
job's output) and the training loss as the metric ``debug:loss``; validation losses
become ``debug:eval_loss``. In a data-parallel job only rank 0 (``SHIPYARD_RANK`` or
``RANK``) records; the hook does nothing on the others.

Torch is imported only here, and only when a hook is made, so ``import shipyard.debugger``
stays light; PyTorch comes with the ``shipyard[torch]`` extra.
"""

from __future__ import annotations

import atexit
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from shipyard.compute.events import emit_metric
from shipyard.debugger.engine import RuleEngine
from shipyard.debugger.rules import LossMode, TensorKind, TensorStatistics
from shipyard.debugger.schemas import (
    DebuggerConfiguration,
    DebuggerHookConfig,
    RuleConfiguration,
)

if TYPE_CHECKING:
    import torch

CONFIG_VARIABLE = "SHIPYARD_DEBUGGER_CONFIG"
STATISTICS_FILE = "tensor-statistics.jsonl"
LOSS_METRIC = "debug:loss"
EVAL_LOSS_METRIC = "debug:eval_loss"
# The modules whose inputs are "activation inputs" (poor_weight_initialization).
ACTIVATION_MODULES = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "Softplus", "Softsign",
)  # fmt: skip


class Hook:
    """Records a model's training for the debugger and evaluates the job's rules on it.

    ``save_interval`` and ``rules`` default to the training job's debugger configuration
    (``SHIPYARD_DEBUGGER_CONFIG``); outside a job, to 10 and no rules — pass ``rules``
    (:class:`shipyard.debugger.Rule` objects) to try rules locally. ``out_dir`` is where
    the statistics file goes (default ``$SHIPYARD_OUTPUT_DIR/debugger``; none outside a
    job). A rule with a ``StopTraining`` action ends the script by raising
    :class:`shipyard.debugger.StoppedByRule` out of ``optimizer.step()`` or
    :meth:`record_loss`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        save_interval: int | None = None,
        rules: Sequence[RuleConfiguration] | None = None,
        out_dir: str | Path | None = None,
    ) -> None:
        configuration = configuration_from_environment()
        if save_interval is not None:  # checked as the server checks the job's
            configuration.hook_config = DebuggerHookConfig(save_interval=save_interval)
        self.model = model
        self.save_interval = configuration.hook_config.save_interval
        self.rank = current_rank()
        self.step = 0
        self._finished = False
        self._pending_eval: tuple[int, list[float]] | None = None
        self._loss_metric_step: int | None = None
        self._activations: list[tuple[str, float]] = []
        self._step_handles: list[Any] = []
        self._activation_handles: list[Any] = []
        self._statistics: TextIO | None = None
        if self.rank != 0:  # rank 0 records for the job; its copies would count twice
            self._engine = RuleEngine([])
            self._engine.closed = True
            return
        self._engine = RuleEngine(
            configuration.rule_configurations if rules is None else list(rules)
        )
        self._engine.start()
        self._step_handles = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]
        if self._engine.wants_activations(0):
            self._watch_activations()
        self._open_statistics(out_dir)
        atexit.register(self.close)

    # ---- what the script calls -------------------------------------------------------
    def record_loss(self, loss: float | torch.Tensor, mode: LossMode = "train") -> None:
        """Record the loss of the current step (``mode="train"``: call it before
        ``optimizer.step()``) or a validation loss (``mode="eval"``: several at one step
        are averaged, e.g. one per validation batch)."""
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', not {mode!r}")
        if not self.recording:
            return
        value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if mode == "eval":
            if self._pending_eval is None or self._pending_eval[0] != self.step:
                self._flush_eval()
                self._pending_eval = (self.step, [])
            self._pending_eval[1].append(value)
            return
        self._flush_eval()
        if self.step % self.save_interval == 0 and self._loss_metric_step != self.step:
            self._loss_metric_step = self.step
            emit_metric(LOSS_METRIC, value, self.step)
        self._engine.loss(self.step, "train", value)

    @property
    def recording(self) -> bool:
        """False once closed, once a rule stopped the training, and on ranks but 0."""
        return not self._finished and not self._engine.closed

    def close(self) -> None:
        """Finish: rules still InProgress end NoIssuesFound; the hook records no more.

        Called at exit when the script does not; calling it again does nothing.
        """
        if self._finished:
            return
        self._finished = True
        atexit.unregister(self.close)
        try:
            if not self._engine.closed:
                self._flush_eval(may_stop=False)
        finally:
            self._engine.close(self.step)
            for handle in [*self._step_handles, *self._activation_handles]:
                handle.remove()
            if self._statistics is not None:
                self._statistics.close()

    def __enter__(self) -> Hook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the optimizer's hooks -------------------------------------------------------
    def _before_step(self, _optimizer: Any, _args: Any, _kwargs: Any) -> None:
        if not self.recording:
            return
        step = self.step
        self._flush_eval()
        if self._activations:
            variances, self._activations = self._activations, []
            self._engine.activations(step, variances)
        if step % self.save_interval == 0:
            tensors = parameter_statistics(self.model)
            self._write_statistics(step, tensors)
            self._engine.tensors(step, tensors)

    def _after_step(self, _optimizer: Any, _args: Any, _kwargs: Any) -> None:
        if not self.recording:
            return
        self.step += 1
        if self._activation_handles and not self._engine.wants_activations(self.step):
            for handle in self._activation_handles:
                handle.remove()
            self._activation_handles = []

    # ---- helpers ---------------------------------------------------------------------
    def _flush_eval(self, *, may_stop: bool = True) -> None:
        """Hand the rules the mean of the validation losses recorded at one step."""
        if self._pending_eval is None:
            return
        step, values = self._pending_eval
        self._pending_eval = None
        mean = math.fsum(values) / len(values)
        emit_metric(EVAL_LOSS_METRIC, mean, step)
        self._engine.loss(step, "eval", mean, may_stop=may_stop)

    def _watch_activations(self) -> None:
        import torch

        kinds = tuple(getattr(torch.nn, name) for name in ACTIVATION_MODULES)
        for name, module in self.model.named_modules():
            if isinstance(module, kinds):
                label = name or type(module).__name__
                self._activation_handles.append(
                    module.register_forward_pre_hook(self._activation_recorder(label))
                )

    def _activation_recorder(self, label: str) -> Any:
        def record(_module: Any, inputs: tuple[Any, ...]) -> None:
            if inputs and hasattr(inputs[0], "detach") and inputs[0].numel() > 1:
                self._activations.append((label, float(inputs[0].detach().float().var())))

        return record

    def _open_statistics(self, out_dir: str | Path | None) -> None:
        if out_dir is None and os.environ.get("SHIPYARD_OUTPUT_DIR"):
            out_dir = Path(os.environ["SHIPYARD_OUTPUT_DIR"]) / "debugger"
        if out_dir is None:
            return
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self._statistics = (directory / STATISTICS_FILE).open("a", encoding="utf-8")

    def _write_statistics(self, step: int, tensors: Sequence[TensorStatistics]) -> None:
        if self._statistics is None:
            return
        line = {"step": step, "tensors": [t.to_json() for t in tensors]}
        self._statistics.write(json.dumps(line) + "\n")
        self._statistics.flush()


def parameter_statistics(model: torch.nn.Module) -> list[TensorStatistics]:
    """Statistics of each parameter's gradient (when it has one) and weights."""
    statistics = []
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            statistics += tensor_statistics(name, "gradient", parameter.grad)
        statistics += tensor_statistics(name, "weight", parameter)
    return statistics


def tensor_statistics(name: str, kind: TensorKind, tensor: torch.Tensor) -> list[TensorStatistics]:
    """One tensor's statistics, in one read from its device; none for an empty or a
    non-floating-point tensor."""
    import torch

    values = tensor.detach()
    if values.is_sparse:
        values = values.to_dense()
    if values.numel() == 0 or not values.is_floating_point():
        return []
    if values.dtype in (torch.float16, torch.bfloat16):
        values = values.float()
    magnitudes = values.abs()
    nan_count = torch.isnan(values).sum().to(values.dtype)
    inf_count = torch.isinf(values).sum().to(values.dtype)
    row = torch.stack([
        values.mean(), values.std(correction=0), magnitudes.mean(),
        torch.linalg.vector_norm(values), magnitudes.max(), nan_count, inf_count,
    ]).tolist()  # fmt: skip
    mean, std, abs_mean, l2_norm, max_abs, nans, infs = row
    return [
        TensorStatistics(name, kind, mean, std, abs_mean, l2_norm, max_abs, int(nans), int(infs))
    ]


def configuration_from_environment() -> DebuggerConfiguration:
    """The job's debugger configuration (``SHIPYARD_DEBUGGER_CONFIG``); the defaults and
    no rules outside a job."""
    document = os.environ.get(CONFIG_VARIABLE)
    if not document:
        return DebuggerConfiguration()
    return DebuggerConfiguration.model_validate_json(document)


def current_rank() -> int:
    """This process's rank in a data-parallel job (``SHIPYARD_RANK``, else ``RANK``); 0."""
    for variable in ("SHIPYARD_RANK", "RANK"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit():
            return int(value)
    return 0
