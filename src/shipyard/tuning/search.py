"""The search space and the strategies: from parameter ranges to Optuna distributions,
and from the trials so far to the hyperparameters of the next ones.

Each time a tuning job needs trials, an in-memory Optuna study is rebuilt from its trials
(finished ones with their outcome, running ones as running, so parallel asks differ) and
asked. The sampler is seeded with the tuning job's seed and the trial's number, so the
same history always yields the same next trial.

Strategies: `Bayesian` is Optuna's TPE (multivariate, with the constant liar for trials
in flight); `Random` and `Hyperband` sample at random (a Random and a Hyperband job of the
same seed try the same configurations); `Grid` walks the grid in a seeded order.

Scaling: `Logarithmic` samples uniformly in log space; `ReverseLogarithmic` (continuous
ranges in [0, 1) only) samples 1 - x in log space, which crowds values near 1; `Auto`
is Logarithmic for a positive range that spans three orders of magnitude or more, else
Linear.
"""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from shipyard.tuning.schemas import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    IntegerParameterRange,
    ParameterRanges,
    TuningJobConfig,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
AUTO_LOG_SPAN = 1000.0
# Hyperband samples at random, as in its paper: its strength is in spending little on the
# many configurations it tries, and a model of the objective fitted to short runs would
# mislead TPE. (It asks by configuration, not trial, number: see tuning.hyperband.)
RANDOM_STRATEGIES = ("Random", "Hyperband")
MAX_GRID_POINTS = 10_000


@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter: its Optuna distribution and how to map values."""

    name: str
    distribution: BaseDistribution
    reversed: bool = False

    def to_hyperparameter(self, internal: Any) -> Any:
        return 1.0 - internal if self.reversed else internal


@dataclass(frozen=True)
class PastTrial:
    """A trial the study learns from: its Optuna params and its outcome so far."""

    number: int
    params: dict[str, Any]
    state: str  # "complete" | "pruned" | "failed" | "running"
    value: float | None = None
    intermediate: dict[int, float] | None = None


def dimensions(ranges: ParameterRanges) -> list[Dimension]:
    """The search space, in the order the ranges were given (continuous, integer, categorical)."""
    return [
        *(_continuous(r) for r in ranges.continuous_parameter_ranges),
        *(_integer(r) for r in ranges.integer_parameter_ranges),
        *(_categorical(r) for r in ranges.categorical_parameter_ranges),
    ]


def _continuous(spec: ContinuousParameterRange) -> Dimension:
    scaling = _resolved_scaling(spec.scaling_type, spec.min_value, spec.max_value)
    if scaling == "ReverseLogarithmic":
        return Dimension(
            spec.name,
            FloatDistribution(1.0 - spec.max_value, 1.0 - spec.min_value, log=True),
            reversed=True,
        )
    log = scaling == "Logarithmic"
    return Dimension(spec.name, FloatDistribution(spec.min_value, spec.max_value, log=log))


def _integer(spec: IntegerParameterRange) -> Dimension:
    scaling = _resolved_scaling(spec.scaling_type, spec.min_value, spec.max_value)
    log = scaling == "Logarithmic"
    return Dimension(spec.name, IntDistribution(spec.min_value, spec.max_value, log=log))


def _categorical(spec: CategoricalParameterRange) -> Dimension:
    return Dimension(spec.name, CategoricalDistribution(spec.values))


def _resolved_scaling(scaling: str, low: float, high: float) -> str:
    if scaling != "Auto":
        return scaling
    return "Logarithmic" if low > 0 and high / low >= AUTO_LOG_SPAN else "Linear"


def grid(ranges: ParameterRanges, seed: int) -> list[dict[str, Any]]:
    """Every combination of the categorical values and integers, in a seeded order."""
    axes: list[tuple[str, list[Any]]] = [
        (r.name, list(range(r.min_value, r.max_value + 1))) for r in ranges.integer_parameter_ranges
    ]
    axes += [(r.name, list(r.values)) for r in ranges.categorical_parameter_ranges]
    points = [dict(zip([n for n, _ in axes], combo, strict=True)) for combo in _product(axes)]
    random.Random(seed).shuffle(points)
    return points


def grid_size(ranges: ParameterRanges) -> int:
    sizes = [r.max_value - r.min_value + 1 for r in ranges.integer_parameter_ranges]
    sizes += [len(r.values) for r in ranges.categorical_parameter_ranges]
    return math.prod(sizes) if sizes else 0


def _product(axes: Sequence[tuple[str, list[Any]]]) -> Iterable[tuple[Any, ...]]:
    return itertools.product(*(values for _, values in axes))


class Search:
    """Asks the strategy for the hyperparameters of new trials, given the past ones."""

    def __init__(self, config: TuningJobConfig, past: Sequence[PastTrial]) -> None:
        self.config = config
        self.dimensions = dimensions(config.parameter_ranges)
        self.distributions = {d.name: d.distribution for d in self.dimensions}
        self._grid = (
            grid(config.parameter_ranges, config.random_seed) if config.strategy == "Grid" else []
        )
        self._study = optuna.create_study(
            direction="maximize" if config.objective.type == "Maximize" else "minimize"
        )
        for trial in past:
            frozen = self._frozen(trial)
            if frozen is not None:
                self._study.add_trial(frozen)

    def ask(self, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Optuna params and the hyperparameters of trial `number`."""
        if self.config.strategy == "Grid":
            point = self._grid[number]
            return point, dict(point)
        self._study.sampler = self._sampler(number)
        trial = self._study.ask(self.distributions)
        params = dict(trial.params)
        hyperparameters = {
            d.name: _plain(d.to_hyperparameter(params[d.name])) for d in self.dimensions
        }
        return params, hyperparameters

    def _sampler(self, number: int) -> optuna.samplers.BaseSampler:
        seed = (self.config.random_seed * 100_003 + number) % 2**31
        if self.config.strategy in RANDOM_STRATEGIES:
            return optuna.samplers.RandomSampler(seed=seed)
        limit = self.config.resource_limits.max_number_of_training_jobs or 100
        with warnings.catch_warnings():  # multivariate and constant_liar are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=max(3, min(10, limit // 5)),
                multivariate=True,
                constant_liar=True,
            )

    def _frozen(self, trial: PastTrial) -> optuna.trial.FrozenTrial | None:
        """The trial as Optuna sees it; None when its params do not fit this search space
        (a warm-start parent searched other ranges)."""
        params = {name: trial.params[name] for name in self.distributions if name in trial.params}
        if not params or not all(_fits(self.distributions[n], v) for n, v in params.items()):
            return None
        distributions = {name: self.distributions[name] for name in params}
        intermediate = trial.intermediate or {}
        if trial.state == "complete" and trial.value is not None and math.isfinite(trial.value):
            return create_trial(
                params=params,
                distributions=distributions,
                value=trial.value,
                intermediate_values=intermediate,
            )
        state = {"pruned": TrialState.PRUNED, "running": TrialState.RUNNING}.get(
            trial.state, TrialState.FAIL
        )
        return create_trial(
            params=params,
            distributions=distributions,
            state=state,
            intermediate_values=intermediate if state == TrialState.PRUNED else None,
        )


def _fits(distribution: BaseDistribution, value: Any) -> bool:
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except ValueError:  # a categorical value that is not among the choices
        return False


def _plain(value: Any) -> Any:
    """Python scalars for JSON (Optuna may hand back numpy numbers)."""
    return value.item() if hasattr(value, "item") else value
