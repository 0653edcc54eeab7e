"""Early stopping inside a trial: the median rule over a snapshot of its peers."""

from __future__ import annotations

import pytest

from shipyard.tuning.pruning import PeerTrial, PruningPlan, TrialPruner, pruner_from_payload


def curve(final: float, steps: int = 20, start: float = 0.5) -> dict[int, float]:
    """A learning curve rising from `start` to `final`."""
    return {s: start + (final - start) * (s + 1) / steps for s in range(steps)}


def median_plan(peers: list[PeerTrial], number: int, **options: object) -> PruningPlan:
    return PruningPlan(
        study_name="study",
        trial_number=number,
        objective_metric="validation:auc",
        direction="maximize",
        n_startup_trials=3,
        peers=peers,
        **options,  # type: ignore[arg-type]
    )


GOOD_PEERS = [
    PeerTrial(number=n, state="complete", value=f, intermediate=curve(f))
    for n, f in enumerate((0.90, 0.92, 0.94, 0.91))
]


def test_a_trial_below_the_median_of_its_peers_is_stopped_with_a_reason() -> None:
    pruner = TrialPruner(median_plan(GOOD_PEERS, 4))
    reasons = [pruner.report(step, value) for step, value in curve(0.6).items()]

    first = next(i for i, reason in enumerate(reasons) if reason is not None)
    assert first == 0
    assert reasons[first].startswith("EarlyStopped: validation:auc was")
    assert "median stopping rule" in reasons[first]
    assert pruner.reason == reasons[first]
    assert reasons[-1] == reasons[first]  # once stopped, it stays stopped


def test_a_trial_as_good_as_its_peers_runs_to_the_end() -> None:
    pruner = TrialPruner(median_plan(GOOD_PEERS, 4))
    assert all(pruner.report(step, value) is None for step, value in curve(0.95).items())


def test_the_warm_up_and_the_startup_trials_hold_the_rule_back() -> None:
    warm = TrialPruner(median_plan(GOOD_PEERS, 4, n_warmup_steps=5))
    reasons = [warm.report(step, value) for step, value in curve(0.6).items()]
    assert next(i for i, r in enumerate(reasons) if r is not None) == 5

    few = TrialPruner(median_plan(GOOD_PEERS[:2], 2))
    assert all(few.report(step, value) is None for step, value in curve(0.6).items())


def test_a_minimized_objective_prunes_the_high_values() -> None:
    peers = [
        PeerTrial(number=n, state="complete", value=0.2, intermediate={s: 0.2 for s in range(5)})
        for n in range(4)
    ]
    plan = median_plan(peers, 4).model_copy(update={"direction": "minimize"})
    assert TrialPruner(plan).report(1, 0.9) is not None
    assert TrialPruner(plan).report(1, 0.1) is None


def test_as_a_training_stop_check_it_reads_the_objective_out_of_a_steps_metrics() -> None:
    pruner = TrialPruner(median_plan(GOOD_PEERS, 4))
    assert pruner(0, {"train:auc": 0.99}) is None  # no objective at this step: nothing to judge
    assert pruner(0, {"train:auc": 0.99, "validation:auc": 0.3}) is not None


def test_peers_the_trial_never_heard_of_are_placeholders() -> None:
    pruner = TrialPruner(median_plan([GOOD_PEERS[0], GOOD_PEERS[2]], 7))
    assert len(pruner._study.trials) == 8  # numbers 0..6 and the trial itself


def test_the_plan_comes_from_the_job_payload() -> None:
    assert pruner_from_payload(None) is None
    assert pruner_from_payload({}) is None
    pruner = pruner_from_payload(median_plan(GOOD_PEERS, 4).model_dump(mode="json"))
    assert pruner is not None and pruner.plan.peers[0].intermediate[0] == pytest.approx(0.52)
