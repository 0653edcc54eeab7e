"""Hyperband's decisions from trial rows: the rungs, the brackets, and who goes up next."""

from __future__ import annotations

from collections import Counter

import pytest

from shipyard.tuning.hyperband import Segment, bracket_of, next_segment, resources
from shipyard.tuning.models import TuningTrial
from shipyard.tuning.schemas import HyperbandStrategyConfig

SETTINGS = HyperbandStrategyConfig(min_resource=1, max_resource=9, reduction_factor=3)


def segment(number: int, configuration: int, rung: int, value: float | None) -> TuningTrial:
    return TuningTrial(
        number=number,
        configuration=configuration,
        rung=rung,
        training_job_name=f"hb-{number:03d}",
        hyperparameters={},
        params={},
        training_job_status="Completed" if value is not None else "InProgress",
        objective_value=value,
        intermediate={},
    )


@pytest.mark.parametrize(
    ("low", "high", "factor", "ladder"),
    [(1, 81, 3, [1, 3, 9, 27, 81]), (2, 60, 3, [2, 6, 18, 54, 60]), (10, 100, 4, [10, 40, 100])],
)
def test_the_rungs_multiply_by_the_reduction_factor_up_to_the_budget(
    low: int, high: int, factor: int, ladder: list[int]
) -> None:
    settings = HyperbandStrategyConfig(min_resource=low, max_resource=high, reduction_factor=factor)
    assert resources(settings) == ladder


def test_configurations_are_dealt_to_brackets_in_hyperbands_proportions() -> None:
    # bracket s gets ceil(3 * 3^(2-s) / (3-s)) of every 17 configurations: 9, 5 and 3
    assert [bracket_of(c, 3, 3) for c in range(17)] == [0] * 9 + [1] * 5 + [2] * 3
    dealt = Counter(bracket_of(c, brackets=3, factor=3) for c in range(34))
    assert dealt == Counter({0: 18, 1: 10, 2: 6})


def test_a_configuration_goes_up_only_once_it_beats_enough_of_its_rung() -> None:
    first = next_segment([], SETTINGS, maximize=True)
    assert first == Segment(configuration=0, rung=0, resource=1, new=True)

    two_done = [segment(0, 0, 0, 0.7), segment(1, 1, 0, 0.9)]
    assert next_segment(two_done, SETTINGS, maximize=True).new  # 2 // 3 promote nobody

    three_done = [*two_done, segment(2, 2, 0, 0.8)]
    promotion = next_segment(three_done, SETTINGS, maximize=True)
    assert promotion == Segment(configuration=1, rung=1, resource=3, new=False)

    promoted = [*three_done, segment(3, 1, 1, None)]  # running at rung 1
    assert next_segment(promoted, SETTINGS, maximize=True).new  # nobody else in the top third

    minimized = next_segment(three_done, SETTINGS, maximize=False)
    assert minimized.configuration == 0


def test_the_highest_rung_goes_first_and_failures_do_not_count() -> None:
    trials = [segment(n, n, 0, 0.5 + n / 100) for n in range(6)]  # bracket 0: configs 0-5
    trials += [segment(6, 5, 1, 0.95), segment(7, 4, 1, 0.7), segment(8, 3, 1, 0.6)]
    trials += [segment(9, 6, 0, None)]  # still running: not among those done
    nxt = next_segment(trials, SETTINGS, maximize=True)
    assert nxt == Segment(configuration=5, rung=2, resource=9, new=False)


def test_configurations_of_another_bracket_do_not_compete() -> None:
    # bracket 1 starts at rung 1: its one configuration is alone there, so nobody goes up
    bracket_one = next(c for c in range(20) if bracket_of(c, 3, 3) == 1)
    trials = [segment(0, 0, 0, 0.5), segment(1, 1, 0, 0.6), segment(2, 2, 0, 0.55)]
    trials += [segment(3, 1, 1, 0.8), segment(4, bracket_one, 1, 0.99)]
    nxt = next_segment(trials, SETTINGS, maximize=True)
    assert nxt.new  # config 1 is alone at rung 1 of bracket 0; bracket 1's is alone too
