"""The built-in rules: what each checks, its parameters (SageMaker's names and defaults)
and its verdict on the statistics the hook records.

A rule is plain Python over numbers — no torch — so it is deterministic and tested on
synthetic statistics. The hook feeds it three kinds of observation; each ``observe_*``
method returns why the rule found an issue, or None:

- ``observe_loss(step, mode, value)``: a training loss, or the mean validation loss of
  one evaluation (``mode="eval"``);
- ``observe_tensors(step, tensors)``: gradient and weight statistics, every
  ``save_interval`` steps;
- ``observe_activations(step, variances)``: the variance of each activation module's
  input, during the steps for which ``wants_activations(step)`` is true.

``checks`` counts the observations a rule could judge; a rule that ends with none says
why in ``idle_reason``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shipyard.core.errors import ValidationError

LossMode = Literal["train", "eval"]
TensorKind = Literal["gradient", "weight"]


@dataclass(frozen=True)
class TensorStatistics:
    """Summary statistics of one parameter tensor (its weights or its gradient) at a step.

    The floats are NaN when the tensor holds NaN (the counts say how many).
    """

    name: str
    kind: TensorKind
    mean: float
    std: float
    abs_mean: float
    l2_norm: float
    max_abs: float
    nan_count: int
    inf_count: int

    def to_json(self) -> dict[str, Any]:
        """A JSON document: non-finite floats become null (JSON has no NaN)."""
        document = asdict(self)
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in document.items()}  # fmt: skip


class RuleParameters(BaseModel):
    """A rule's parameters: JSON values of the right type, none unknown, no NaN."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


P = TypeVar("P", bound=RuleParameters)


class BaseRule(Generic[P]):
    """One rule's state over a training run. Subclasses set ``name``, ``Parameters`` and
    ``idle_reason`` and override the ``observe_*`` methods they need; each returns the
    finding (a sentence) when it sees an issue, else None, and counts what it judged in
    ``checks``. A rule that raises is put in ``Error`` by the engine."""

    name: ClassVar[str]
    Parameters: ClassVar[type[RuleParameters]]
    idle_reason: ClassVar[str]

    def __init__(self, parameters: P) -> None:
        self.parameters = parameters
        self.checks = 0

    def observe_loss(self, step: int, mode: LossMode, value: float) -> str | None:
        return None

    def observe_tensors(self, step: int, tensors: Sequence[TensorStatistics]) -> str | None:
        return None

    def wants_activations(self, step: int) -> bool:
        return False

    def observe_activations(self, step: int, variances: Sequence[tuple[str, float]]) -> str | None:
        return None


# ---- vanishing_gradient ---------------------------------------------------------------
class VanishingGradientParameters(RuleParameters):
    threshold: float = Field(default=1e-7, gt=0)


class VanishingGradient(BaseRule[VanishingGradientParameters]):
    """Issue when the mean absolute value of a gradient tensor drops below ``threshold``."""

    name = "vanishing_gradient"
    Parameters = VanishingGradientParameters
    idle_reason = "no gradient was recorded"

    def observe_tensors(self, step: int, tensors: Sequence[TensorStatistics]) -> str | None:
        gradients = [t for t in tensors if t.kind == "gradient" and math.isfinite(t.abs_mean)]
        if not gradients:
            return None
        self.checks += 1
        threshold = self.parameters.threshold
        below = [t for t in gradients if t.abs_mean < threshold]
        if not below:
            return None
        worst = min(below, key=lambda t: t.abs_mean)
        return (
            f"mean |gradient| of {worst.name} was {worst.abs_mean:.3g} < {threshold:g} "
            f"({len(below)} of {len(gradients)} gradient tensors below)"
        )


# ---- exploding_tensor -----------------------------------------------------------------
class ExplodingTensorParameters(RuleParameters):
    only_nan: bool = False
    threshold: float | None = Field(default=1e8, gt=0)


class ExplodingTensor(BaseRule[ExplodingTensorParameters]):
    """Issue when a gradient, weight or loss is NaN, infinite (unless ``only_nan``) or,
    with a ``threshold``, larger in absolute value than it."""

    name = "exploding_tensor"
    Parameters = ExplodingTensorParameters
    idle_reason = "no loss or tensor was recorded"

    def observe_loss(self, step: int, mode: LossMode, value: float) -> str | None:
        self.checks += 1
        return self._judge(f"the {mode} loss", value, 1 if math.isnan(value) else 0,
                           1 if math.isinf(value) else 0)  # fmt: skip

    def observe_tensors(self, step: int, tensors: Sequence[TensorStatistics]) -> str | None:
        self.checks += 1
        for tensor in tensors:
            label = f"{tensor.kind} {tensor.name}"
            finding = self._judge(label, tensor.max_abs, tensor.nan_count, tensor.inf_count)
            if finding is not None:
                return finding
        return None

    def _judge(self, label: str, max_abs: float, nan_count: int, inf_count: int) -> str | None:
        if nan_count:
            return f"{label} holds {nan_count} NaN value{'s' * (nan_count > 1)}"
        if self.parameters.only_nan:
            return None
        if inf_count:
            return f"{label} holds {inf_count} infinite value{'s' * (inf_count > 1)}"
        threshold = self.parameters.threshold
        if threshold is not None and math.isfinite(max_abs) and abs(max_abs) > threshold:
            return f"|{label}| reached {abs(max_abs):.3g} > {threshold:g}"
        return None


# ---- loss_not_decreasing --------------------------------------------------------------
class LossNotDecreasingParameters(RuleParameters):
    num_steps: int = Field(default=10, ge=1, le=100_000)
    diff_percent: float = Field(default=0.0, ge=0, lt=100)
    mode: LossMode = "train"


class LossNotDecreasing(BaseRule[LossNotDecreasingParameters]):
    """Issue when the mean loss of the last ``num_steps`` recorded losses (of ``mode``) is
    not below that of the ``num_steps`` before by more than ``diff_percent`` percent.

    Windows of means rather than single values, so that the noise of mini-batch losses
    does not decide.
    """

    name = "loss_not_decreasing"
    Parameters = LossNotDecreasingParameters
    idle_reason = "fewer than two windows of num_steps losses were recorded"

    def __init__(self, parameters: LossNotDecreasingParameters) -> None:
        super().__init__(parameters)
        self._window: list[tuple[int, float]] = []
        self._previous: tuple[int, int, float] | None = None  # first step, last step, mean

    def observe_loss(self, step: int, mode: LossMode, value: float) -> str | None:
        if mode != self.parameters.mode or not math.isfinite(value):
            return None
        self._window.append((step, value))
        if len(self._window) < self.parameters.num_steps:
            return None
        first, last = self._window[0][0], self._window[-1][0]
        mean = fmean(v for _, v in self._window)
        self._window = []
        previous, self._previous = self._previous, (first, last, mean)
        if previous is None:
            return None
        self.checks += 1
        decrease = _percent_decrease(previous[2], mean)
        wanted = self.parameters.diff_percent
        if decrease > 0 and decrease >= wanted:
            return None
        by = f"by {wanted:g}%" if wanted else "at all"
        return (
            f"the mean {mode} loss of steps {first}-{last} ({mean:.4g}) did not fall {by} "
            f"below that of steps {previous[0]}-{previous[1]} ({previous[2]:.4g})"
        )


def _percent_decrease(before: float, after: float) -> float:
    if before == 0:
        return math.inf if after < 0 else (0.0 if after == 0 else -math.inf)
    return (before - after) / abs(before) * 100


# ---- overfit --------------------------------------------------------------------------
class OverfitParameters(RuleParameters):
    start_step: int = Field(default=0, ge=0)
    patience: int = Field(default=1, ge=1, le=100_000)
    ratio_threshold: float = Field(default=0.1, gt=0)


class Overfit(BaseRule[OverfitParameters]):
    """Issue when, for ``patience`` evaluations in a row from ``start_step`` on, the
    validation loss exceeds the mean training loss since the previous evaluation by more
    than ``ratio_threshold`` of it: ``(validation - train) / train > ratio_threshold``."""

    name = "overfit"
    Parameters = OverfitParameters
    idle_reason = (
        "no validation loss was recorded after a training loss; report it with "
        "hook.record_loss(value, mode='eval')"
    )

    def __init__(self, parameters: OverfitParameters) -> None:
        super().__init__(parameters)
        self._train: list[float] = []
        self._exceeded = 0

    def observe_loss(self, step: int, mode: LossMode, value: float) -> str | None:
        if not math.isfinite(value):
            return None
        if mode == "train":
            self._train.append(value)
            return None
        train, self._train = self._train, []
        if step < self.parameters.start_step or not train:
            return None
        self.checks += 1
        mean_train = fmean(train)
        ratio = (value - mean_train) / abs(mean_train) if mean_train else math.inf
        threshold = self.parameters.ratio_threshold
        self._exceeded = self._exceeded + 1 if ratio > threshold else 0
        if self._exceeded < self.parameters.patience:
            return None
        times = f" for {self._exceeded} evaluations in a row" if self._exceeded > 1 else ""
        return (
            f"the validation loss {value:.4g} exceeded the mean training loss {mean_train:.4g} "
            f"by {ratio:.0%} > {threshold:.0%}{times}"
        )


# ---- poor_weight_initialization -------------------------------------------------------
class PoorWeightInitializationParameters(RuleParameters):
    threshold: float = Field(default=10.0, gt=1)
    steps: int = Field(default=10, ge=1, le=100_000)


class PoorWeightInitialization(BaseRule[PoorWeightInitializationParameters]):
    """Issue when, in the first ``steps`` steps, the variance of the activations' inputs
    differs across layers by more than a factor of ``threshold`` (largest / smallest).

    Good initialization keeps activation variances commensurate across layers; too small
    weights shrink them layer after layer (vanishing gradients), too large ones grow them.
    """

    name = "poor_weight_initialization"
    Parameters = PoorWeightInitializationParameters
    idle_reason = (
        "no activation input was seen: the rule reads the inputs of the model's torch.nn "
        "activation modules (ReLU, Sigmoid, Tanh, GELU, ...) during its first steps"
    )

    def wants_activations(self, step: int) -> bool:
        return step < self.parameters.steps

    def observe_activations(self, step: int, variances: Sequence[tuple[str, float]]) -> str | None:
        finite = [(name, v) for name, v in variances if math.isfinite(v)]
        if step >= self.parameters.steps or not finite:
            return None
        self.checks += 1
        low_name, low = min(finite, key=lambda item: item[1])
        high_name, high = max(finite, key=lambda item: item[1])
        if high == 0:
            return f"every activation input had zero variance at step {step}"
        ratio = high / low if low > 0 else math.inf
        if ratio <= self.parameters.threshold:
            return None
        return (
            f"activation-input variance ranged from {low:.3g} ({low_name}) to {high:.3g} "
            f"({high_name}) at step {step}: a ratio of {ratio:.3g} > {self.parameters.threshold:g}"
        )


RULES: dict[str, type[BaseRule[Any]]] = {
    rule.name: rule
    for rule in (
        VanishingGradient,
        ExplodingTensor,
        LossNotDecreasing,
        Overfit,
        PoorWeightInitialization,
    )
}


def checked_parameters(rule: str, parameters: dict[str, Any], field: str) -> dict[str, Any]:
    """``parameters`` of the built-in ``rule``, checked and with every default filled in;
    a ValidationError names the bad one under ``field`` (``….parameters.threshold``)."""
    if rule not in RULES:
        raise ValidationError(
            f"unknown rule {rule!r}; the built-in rules are {', '.join(sorted(RULES))}",
            f"{field}.rule",
        )
    model = RULES[rule].Parameters
    try:
        return model.model_validate(parameters).model_dump()
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields) or "none"
            message = f"unknown parameter of {rule}; its parameters are {known}"
        else:
            message = error["msg"]
        raise ValidationError(message, f"{field}.parameters.{name}") from None


def make_rule(rule: str, parameters: dict[str, Any]) -> BaseRule[Any]:
    """A fresh instance of the built-in ``rule`` with (checked) ``parameters``."""
    cls = RULES[rule]
    return cls(cls.Parameters.model_validate(parameters))
