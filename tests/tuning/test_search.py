"""The search space and strategies: scaling, the grid, and asks that depend on the history."""

from __future__ import annotations

import math

import pytest
from optuna.distributions import FloatDistribution, IntDistribution

from shipyard.tuning.schemas import ParameterRanges, TuningJobConfig
from shipyard.tuning.search import PastTrial, Search, dimensions, grid, grid_size


def config(strategy: str = "Bayesian", seed: int = 0, **ranges: list) -> TuningJobConfig:
    return TuningJobConfig.model_validate(
        {
            "strategy": strategy,
            "objective": {"metric_name": "validation:auc", "type": "Maximize"},
            "parameter_ranges": ranges,
            "resource_limits": {"max_number_of_training_jobs": 20},
            "random_seed": seed,
        }
    )


CONTINUOUS = [
    {"name": "eta", "min_value": 0.001, "max_value": 0.3, "scaling_type": "Logarithmic"},
    {"name": "subsample", "min_value": 0.5, "max_value": 0.999,
     "scaling_type": "ReverseLogarithmic"},
]  # fmt: skip
INTEGER = [{"name": "max_depth", "min_value": 2, "max_value": 10}]
CATEGORICAL = [{"name": "booster", "values": ["gbtree", "dart"]}]


@pytest.mark.parametrize(
    ("low", "high", "scaling", "log"),
    [
        (0.001, 10.0, "Auto", True),  # four orders of magnitude
        (0.01, 5.0, "Auto", False),
        (0.0, 10.0, "Auto", False),  # not positive: linear
        (0.5, 1e6, "Linear", False),
        (0.1, 1.0, "Logarithmic", True),
    ],
)
def test_auto_scaling_is_logarithmic_for_wide_positive_ranges(
    low: float, high: float, scaling: str, log: bool
) -> None:
    ranges = ParameterRanges.model_validate(
        {"continuous_parameter_ranges": [
            {"name": "x", "min_value": low, "max_value": high, "scaling_type": scaling}
        ]}
    )  # fmt: skip
    (dimension,) = dimensions(ranges)
    assert isinstance(dimension.distribution, FloatDistribution)
    assert dimension.distribution.log is log


def test_reverse_logarithmic_samples_crowd_near_one_and_stay_in_range() -> None:
    search = Search(config(continuous_parameter_ranges=CONTINUOUS[1:]), [])
    values = [search.ask(n)[1]["subsample"] for n in range(200)]
    assert all(0.5 <= v <= 0.999 for v in values)
    assert sum(v > 0.95 for v in values) > sum(v < 0.75 for v in values)


def test_integer_ranges_sample_integers_in_both_ends() -> None:
    (dimension,) = dimensions(ParameterRanges.model_validate({"integer_parameter_ranges": INTEGER}))
    assert dimension.distribution == IntDistribution(2, 10)
    search = Search(config(strategy="Random", integer_parameter_ranges=INTEGER), [])
    seen = {search.ask(n)[1]["max_depth"] for n in range(200)}
    assert seen == set(range(2, 11))


def test_the_same_history_and_number_give_the_same_hyperparameters() -> None:
    ranges = {"continuous_parameter_ranges": CONTINUOUS, "integer_parameter_ranges": INTEGER}
    history = [
        PastTrial(n, {"eta": 0.01 * (n + 1), "subsample": 0.9, "max_depth": 3 + n}, "complete", 0.8)
        for n in range(6)
    ]
    first = Search(config(**ranges), history).ask(6)
    again = Search(config(**ranges), history).ask(6)
    other_seed = Search(config(seed=1, **ranges), history).ask(6)
    assert first == again
    assert first != other_seed


def test_parallel_asks_in_one_pass_differ() -> None:
    search = Search(config(continuous_parameter_ranges=CONTINUOUS[:1]), [])
    assert search.ask(0) != search.ask(1)


def test_a_warm_start_trial_outside_the_ranges_is_left_out() -> None:
    ranges = {
        "continuous_parameter_ranges": CONTINUOUS[:1],
        "categorical_parameter_ranges": CATEGORICAL,
    }
    inside = PastTrial(0, {"eta": 0.1, "booster": "dart"}, "complete", 0.9)
    outside = PastTrial(1, {"eta": 0.9, "booster": "dart"}, "complete", 0.99)
    unknown_value = PastTrial(2, {"eta": 0.1, "booster": "gblinear"}, "complete", 0.99)
    search = Search(config(**ranges), [inside, outside, unknown_value])
    assert len(search._study.trials) == 1


def test_the_grid_covers_every_combination_once_in_a_seeded_order() -> None:
    ranges = ParameterRanges.model_validate(
        {"integer_parameter_ranges": INTEGER, "categorical_parameter_ranges": CATEGORICAL}
    )
    points = grid(ranges, seed=3)
    assert grid_size(ranges) == len(points) == 18
    assert {(p["max_depth"], p["booster"]) for p in points} == {
        (d, b) for d in range(2, 11) for b in ("gbtree", "dart")
    }
    assert points == grid(ranges, seed=3)
    assert points != grid(ranges, seed=4)


def test_pruned_and_failed_trials_join_the_study_as_such() -> None:
    ranges = {"continuous_parameter_ranges": CONTINUOUS[:1]}
    past = [
        PastTrial(0, {"eta": 0.1}, "complete", 0.9, {0: 0.7, 1: 0.9}),
        PastTrial(1, {"eta": 0.01}, "pruned", None, {0: 0.5}),
        PastTrial(2, {"eta": 0.02}, "failed"),
        PastTrial(3, {"eta": 0.2}, "running"),
        PastTrial(4, {"eta": 0.2}, "complete", math.nan),
    ]
    search = Search(config(**ranges), past)
    states = [t.state.name for t in search._study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "FAIL"]
