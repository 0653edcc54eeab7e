"""The Hyperband strategy: asynchronous successive halving over several brackets.

A configuration starts at the bottom rung of its bracket with few iterations (a booster's
rounds, a script's epochs: the resource). It goes up a rung — a new trial of the same
configuration with `reduction_factor` times the iterations — only once it is among the
best 1/`reduction_factor` of the configurations that finished its rung; otherwise it
stays where it ended and new configurations are tried. So no configuration trains long
before others have shown what a short run of theirs is worth (asynchronous successive
halving, Li et al. 2020). Brackets start at higher rungs and hedge against short runs
that mislead; trials are dealt to brackets in Hyperband's proportions.

Each rung's trial trains from scratch: Shipyard's trials are independent training jobs.
That spends a little more than resuming (at most 1/(reduction_factor - 1) more), and
needs nothing of an algorithm but a hyperparameter that sets its iterations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.tuning.models import TuningTrial
from shipyard.tuning.schemas import HyperbandStrategyConfig


@dataclass(frozen=True)
class Segment:
    """What to run next: `configuration` at `rung`, with `resource` iterations; `new`
    when the configuration is yet to be drawn."""

    configuration: int
    rung: int
    resource: int
    new: bool


def resources(settings: HyperbandStrategyConfig) -> list[int]:
    """The iterations of each rung: min_resource × factor^k, then max_resource."""
    assert settings.max_resource is not None
    steps, resource = [], settings.min_resource
    while resource < settings.max_resource:
        steps.append(resource)
        resource *= settings.reduction_factor
    return [*steps, settings.max_resource]


def bracket_of(configuration: int, brackets: int, factor: int) -> int:
    """The bracket (its bottom rung) of a configuration, dealt in Hyperband's proportions:
    bracket s gets ceil(B * factor^(B-1-s) / (B-s)) of every sum-of-those configurations."""
    shares = [
        math.ceil(brackets * factor ** (brackets - 1 - s) / (brackets - s)) for s in range(brackets)
    ]
    position = configuration % sum(shares)
    for bracket, share in enumerate(shares):
        if position < share:
            return bracket
        position -= share
    raise AssertionError("unreachable: the shares cover every position")


def next_segment(
    trials: Sequence[TuningTrial], settings: HyperbandStrategyConfig, maximize: bool
) -> Segment:
    """The promotion due now, highest rung first, else a new configuration."""
    ladder = resources(settings)
    brackets = len(ladder)
    for rung in range(len(ladder) - 2, -1, -1):
        promoted = _promotion(trials, rung, settings.reduction_factor, maximize)
        if promoted is not None:
            return Segment(promoted, rung + 1, ladder[rung + 1], new=False)
    configuration = 1 + max((t.configuration for t in trials), default=-1)
    bottom = bracket_of(configuration, brackets, settings.reduction_factor)
    return Segment(configuration, bottom, ladder[bottom], new=True)


def _promotion(trials: Sequence[TuningTrial], rung: int, factor: int, maximize: bool) -> int | None:
    """A configuration that finished `rung` among the best 1/factor of those that did (its
    bracket's: they started at the same rung), and has not gone up yet."""
    done = [t for t in trials if t.rung == rung and t.objective_value is not None]
    higher = {t.configuration for t in trials if t.rung is not None and t.rung > rung}
    bottoms = _bottoms(trials)
    for bracket in sorted({bottoms[t.configuration] for t in done}):
        peers = [t for t in done if bottoms[t.configuration] == bracket]
        ranked = sorted(peers, key=lambda t: (_loss(t, maximize), t.number))
        for trial in ranked[: len(peers) // factor]:
            if trial.configuration not in higher:
                return trial.configuration
    return None


def _loss(trial: TuningTrial, maximize: bool) -> float:
    """Lower is better, whichever way the objective goes."""
    value = trial.objective_value
    assert value is not None
    return -value if maximize else value


def _bottoms(trials: Sequence[TuningTrial]) -> dict[int, int]:
    """Each configuration's first rung (its bracket)."""
    bottoms: dict[int, int] = {}
    for trial in trials:
        if trial.rung is not None:
            bottoms[trial.configuration] = min(
                trial.rung, bottoms.get(trial.configuration, trial.rung)
            )
    return bottoms
