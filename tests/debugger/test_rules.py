"""The built-in rules on synthetic statistics: each fires on the case built for it and stays
quiet on a healthy one; parameters are checked with the bad one named."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shipyard.core.errors import ValidationError
from shipyard.debugger.rules import (
    RULES,
    ExplodingTensor,
    LossNotDecreasing,
    Overfit,
    PoorWeightInitialization,
    TensorStatistics,
    VanishingGradient,
    checked_parameters,
    make_rule,
)


def tensor(
    name: str = "layers.0.weight",
    kind: str = "gradient",
    abs_mean: float = 1e-2,
    max_abs: float = 0.1,
    nan_count: int = 0,
    inf_count: int = 0,
) -> TensorStatistics:
    return TensorStatistics(
        name, kind, 0.0, abs_mean, abs_mean, abs_mean * 10, max_abs, nan_count, inf_count
    )  # type: ignore[arg-type]


def rule(name: str, **parameters: Any) -> Any:
    return make_rule(name, checked_parameters(name, parameters, "rule"))


def feed_losses(subject: Any, losses: list[float], mode: str = "train") -> list[str]:
    """The findings of ``subject`` over one loss per step."""
    findings = [subject.observe_loss(step, mode, value) for step, value in enumerate(losses)]
    return [f for f in findings if f is not None]


# ---- vanishing_gradient ---------------------------------------------------------------
def test_vanishing_gradient_fires_below_the_threshold_naming_the_smallest_tensor() -> None:
    subject = rule("vanishing_gradient")
    tensors = [
        tensor("out.weight", abs_mean=1e-3),
        tensor("layers.3.weight", abs_mean=2e-9),
        tensor("layers.0.weight", abs_mean=5e-8),
        tensor("layers.0.weight", kind="weight", abs_mean=1e-12),  # weights do not count
    ]
    finding = subject.observe_tensors(40, tensors)
    assert finding is not None
    assert "layers.3.weight was 2e-09 < 1e-07" in finding
    assert "2 of 3 gradient tensors" in finding


def test_vanishing_gradient_is_quiet_on_healthy_gradients_and_honours_its_threshold() -> None:
    healthy = [tensor(abs_mean=1e-3), tensor("b", abs_mean=1e-5)]
    assert rule("vanishing_gradient").observe_tensors(0, healthy) is None
    assert rule("vanishing_gradient", threshold=1e-4).observe_tensors(0, healthy) is not None


def test_vanishing_gradient_leaves_nan_gradients_to_exploding_tensor() -> None:
    subject = rule("vanishing_gradient")
    assert subject.observe_tensors(0, [tensor(abs_mean=math.nan, nan_count=3)]) is None
    assert subject.checks == 0


# ---- exploding_tensor -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("statistics", "needle"),
    [
        (tensor(nan_count=3, abs_mean=math.nan, max_abs=math.nan), "3 NaN values"),
        (tensor(inf_count=1, max_abs=math.inf), "1 infinite value"),
        (tensor(kind="weight", max_abs=3e9), "reached 3e+09 > 1e+08"),
    ],
)
def test_exploding_tensor_fires_on_nan_inf_and_huge_tensors(
    statistics: TensorStatistics, needle: str
) -> None:
    finding = rule("exploding_tensor").observe_tensors(7, [tensor(), statistics])
    assert finding is not None and needle in finding


def test_exploding_tensor_fires_on_a_nan_loss_and_is_quiet_on_healthy_values() -> None:
    subject = rule("exploding_tensor")
    assert subject.observe_tensors(0, [tensor(), tensor(kind="weight", max_abs=5.0)]) is None
    assert feed_losses(subject, [0.9, 0.7, 0.5]) == []
    assert feed_losses(subject, [math.nan]) == ["the train loss holds 1 NaN value"]


def test_exploding_tensor_only_nan_ignores_infinities_and_no_threshold_ignores_size() -> None:
    only_nan = rule("exploding_tensor", only_nan=True, threshold=None)
    assert only_nan.observe_tensors(0, [tensor(inf_count=2, max_abs=math.inf)]) is None
    assert only_nan.observe_tensors(0, [tensor(max_abs=1e30)]) is None
    assert only_nan.observe_tensors(0, [tensor(nan_count=1)]) is not None


# ---- loss_not_decreasing --------------------------------------------------------------
def test_loss_not_decreasing_fires_on_a_plateau_after_two_windows() -> None:
    subject = rule("loss_not_decreasing", num_steps=5)
    falling, flat = [1.0, 0.9, 0.8, 0.7, 0.6], [0.65, 0.6, 0.62, 0.61, 0.63]
    findings = feed_losses(subject, falling + flat + [0.64, 0.62, 0.63, 0.6, 0.63])
    assert len(findings) == 1
    assert "steps 10-14 (0.624)" in findings[0] and "steps 5-9 (0.622)" in findings[0]


def test_loss_not_decreasing_is_quiet_while_the_loss_falls_despite_noise() -> None:
    noisy = [1.0 / (1 + 0.1 * step) + (0.02 if step % 2 else -0.02) for step in range(200)]
    subject = rule("loss_not_decreasing")
    assert feed_losses(subject, noisy) == []
    assert subject.checks == 19


def test_loss_not_decreasing_diff_percent_asks_for_enough_of_a_fall() -> None:
    slow = [1.0 - 0.001 * step for step in range(20)]  # about 1% per window of 10
    assert feed_losses(rule("loss_not_decreasing", diff_percent=0.5), slow) == []
    findings = feed_losses(rule("loss_not_decreasing", diff_percent=5.0), slow)
    assert len(findings) == 1 and "did not fall by 5%" in findings[0]


def test_loss_not_decreasing_watches_one_mode() -> None:
    subject = rule("loss_not_decreasing", num_steps=2, mode="eval")
    assert feed_losses(subject, [1.0, 1.0, 1.0, 1.0], mode="train") == []
    assert len(feed_losses(subject, [1.0, 1.0, 1.0, 1.0], mode="eval")) == 1


# ---- overfit --------------------------------------------------------------------------
def evaluate(subject: Any, rounds: list[tuple[list[float], float]]) -> list[str | None]:
    """Each round: training losses, then one validation loss; the findings at each eval."""
    findings, step = [], 0
    for train, validation in rounds:
        for value in train:
            subject.observe_loss(step, "train", value)
            step += 1
        findings.append(subject.observe_loss(step, "eval", validation))
    return findings


def test_overfit_fires_when_validation_loss_pulls_away_from_training_loss() -> None:
    rounds = [([1.0, 0.9], 0.95), ([0.6, 0.5], 0.6), ([0.3, 0.2], 0.7)]
    findings = evaluate(rule("overfit"), rounds)
    assert findings[:2] == [None, None]
    assert findings[2] is not None and "0.7 exceeded the mean training loss 0.25" in findings[2]


def test_overfit_is_quiet_when_validation_tracks_training() -> None:
    rounds = [([1.0, 0.9], 1.0), ([0.6, 0.5], 0.58), ([0.3, 0.2], 0.27)]
    assert evaluate(rule("overfit"), rounds) == [None, None, None]


def test_overfit_patience_and_start_step() -> None:
    rounds = [([1.0], 2.0), ([1.0], 1.0), ([1.0], 2.0), ([1.0], 2.0)]
    assert evaluate(rule("overfit", patience=2), rounds)[:3] == [None, None, None]
    assert evaluate(rule("overfit", patience=2), rounds)[3] is not None
    late = evaluate(rule("overfit", start_step=3), rounds)
    assert late[:2] == [None, None] and late[2] is not None


# ---- poor_weight_initialization -------------------------------------------------------
def test_poor_weight_initialization_fires_when_activation_variance_collapses() -> None:
    subject = rule("poor_weight_initialization")
    variances = [(f"layers.{i}", 0.5 * 1e-3**i) for i in range(4)]
    finding = subject.observe_activations(0, variances)
    assert finding is not None and "ratio of 1e+09 > 10" in finding
    assert "(layers.3)" in finding and "(layers.0)" in finding


def test_poor_weight_initialization_is_quiet_on_commensurate_variances_and_after_its_steps(
) -> None:  # fmt: skip
    subject = rule("poor_weight_initialization", steps=3)
    assert subject.observe_activations(0, [("a", 1.0), ("b", 2.5), ("c", 0.4)]) is None
    assert subject.wants_activations(2) and not subject.wants_activations(3)
    assert subject.observe_activations(3, [("a", 1.0), ("b", 1e-9)]) is None


def test_poor_weight_initialization_flags_dead_activations() -> None:
    finding = rule("poor_weight_initialization").observe_activations(1, [("a", 0.0), ("b", 0.0)])
    assert finding == "every activation input had zero variance at step 1"


# ---- parameters -----------------------------------------------------------------------
def test_every_rule_has_defaults_for_all_its_parameters() -> None:
    for name, cls in RULES.items():
        assert checked_parameters(name, {}, "rule") == cls.Parameters().model_dump()


@pytest.mark.parametrize(
    ("name", "parameters", "field", "needle"),
    [
        ("vanishing_gradient", {"threshold": -1}, "rule.parameters.threshold", "greater than 0"),
        ("vanishing_gradient", {"threshold": "small"}, "rule.parameters.threshold", "number"),
        ("vanishing_gradient", {"threshold": math.nan}, "rule.parameters.threshold", "finite"),
        ("vanishing_gradient", {"treshold": 1e-6}, "rule.parameters.treshold", "threshold"),
        ("loss_not_decreasing", {"num_steps": 2.5}, "rule.parameters.num_steps", "integer"),
        ("loss_not_decreasing", {"mode": "global"}, "rule.parameters.mode", "'train'"),
        ("overfit", {"patience": True}, "rule.parameters.patience", "integer"),
        ("poor_weight_initialization", {"threshold": 1}, "rule.parameters.threshold", "than 1"),
        ("dead_relu", {}, "rule.rule", "vanishing_gradient"),
    ],
)
def test_bad_parameters_name_the_field(
    name: str, parameters: dict[str, Any], field: str, needle: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        checked_parameters(name, parameters, "rule")
    assert raised.value.field == field
    assert needle in raised.value.message


def test_vanishing_gradient_and_the_others_are_the_catalogue() -> None:
    assert set(RULES) == {
        VanishingGradient.name,
        ExplodingTensor.name,
        LossNotDecreasing.name,
        Overfit.name,
        PoorWeightInitialization.name,
    }
