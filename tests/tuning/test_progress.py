"""What the reconciler decides from trial rows: when a tuning job is done, the best trial,
the counters, and the curves it keeps."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.tuning.models import TuningTrial
from shipyard.tuning.progress import best, counters, past_trial, thin, verdict
from shipyard.tuning.schemas import TuningJobConfig


def config(max_jobs: int = 10, objective_type: str = "Maximize", **extra: Any) -> TuningJobConfig:
    return TuningJobConfig.model_validate(
        {
            "objective": {"metric_name": "validation:auc", "type": objective_type},
            "resource_limits": {"max_number_of_training_jobs": max_jobs},
            **extra,
        }
    )


def trial(number: int, value: float | None = None, status: str = "Completed", **fields: Any):
    early = fields.pop("early_stopped", False)
    reason = "EarlyStopped: worse than its peers" if early else None
    return TuningTrial(
        number=number,
        configuration=number,
        rung=None,
        training_job_name=f"t-{number:03d}",
        hyperparameters={"eta": 0.1},
        params={"eta": 0.1},
        training_job_status=status,
        objective_value=value,
        intermediate=fields.pop("intermediate", {}),
        failure_reason=fields.pop("failure_reason", reason),
    )


def done(*values: float | None) -> list[TuningTrial]:
    return [
        trial(n, v, "Completed" if v is not None else "Failed", failure_reason="boom")
        for n, v in enumerate(values)
    ]


CASES = [
    ("still running", config(), [trial(0, None, "InProgress")], (None, None)),
    ("room for more", config(), done(0.8, 0.9), (None, None)),
    ("all jobs done", config(max_jobs=2), done(0.8, 0.9), ("MaxNumberOfTrainingJobsReached", None)),
    ("last one running", config(max_jobs=2), [*done(0.8), trial(1, None, "InProgress")],
     (None, None)),
    ("three failures, no success", config(), done(None, None, None), ("TrialsFailed", "fail")),
    ("two failures of two", config(max_jobs=2), done(None, None), ("TrialsFailed", "fail")),
    ("failures after a success", config(), done(0.7, None, None, None), (None, None)),
    ("target reached", config(tuning_job_completion_criteria={
        "target_objective_metric_value": 0.85}), done(0.8, 0.9), ("TargetObjectiveReached", None)),
    ("target missed", config(tuning_job_completion_criteria={
        "target_objective_metric_value": 0.95}), done(0.8, 0.9), (None, None)),
    ("target minimized", config(objective_type="Minimize", tuning_job_completion_criteria={
        "target_objective_metric_value": 0.5}), done(0.7, 0.4), ("TargetObjectiveReached", None)),
    ("not improving", config(tuning_job_completion_criteria={
        "best_objective_not_improving": {"max_number_of_training_jobs_not_improving": 3}}),
     done(0.9, 0.8, 0.85, 0.7), ("BestObjectiveNotImproving", None)),
    ("improving again", config(tuning_job_completion_criteria={
        "best_objective_not_improving": {"max_number_of_training_jobs_not_improving": 3}}),
     done(0.9, 0.8, 0.95, 0.7), (None, None)),
    ("none ever scored", config(max_jobs=2), [trial(0, None, "Stopped"), trial(1, None, "Stopped")],
     ("NoTrialSucceeded", "fail")),
]  # fmt: skip


@pytest.mark.parametrize(("case", "job", "trials", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_verdict_on_a_tuning_job(
    case: str, job: TuningJobConfig, trials: list[TuningTrial], expected: tuple[Any, Any]
) -> None:
    completion, failure = verdict(job, trials)
    assert completion == expected[0]
    assert (failure is not None) == (expected[1] is not None)


def test_the_best_trial_follows_the_objective_and_the_first_wins_a_tie() -> None:
    trials = done(0.8, 0.9, 0.9, None, 0.7)
    top = best(config(), trials)
    assert top is not None and (top.number, top.final_objective_value) == (1, 0.9)
    low = best(config(objective_type="Minimize"), trials)
    assert low is not None and low.number == 4
    assert best(config(), done(None)) is None


def test_an_early_stopped_trial_counts_with_its_objective() -> None:
    stopped = trial(1, 0.95, "Stopped", early_stopped=True)
    assert best(config(), [*done(0.9), stopped]).number == 1  # type: ignore[union-attr]
    running = trial(3, None, "InProgress")
    waiting = trial(4, None, "Pending")
    counts = counters([*done(0.9, None), stopped, running, waiting, trial(5, None, "Stopped")])
    assert counts.model_dump() == {
        "completed": 1, "in_progress": 1, "stopped": 1, "early_stopped": 1, "failed": 1,
        "pending": 1,
    }  # fmt: skip


def test_a_trial_as_the_search_learns_from_it() -> None:
    assert past_trial(trial(0, 0.9)).state == "complete"
    pruned = past_trial(trial(1, 0.5, "Stopped", early_stopped=True, intermediate={"3": 0.5}))
    assert (pruned.state, pruned.intermediate) == ("pruned", {3: 0.5})
    assert past_trial(trial(2, None, "Failed")).state == "failed"
    assert past_trial(trial(3, None, "InProgress")).state == "running"


def test_curves_are_thinned_but_keep_the_last_step() -> None:
    curve = {step: step / 1000 for step in range(1000)}
    thinned = thin(curve)
    assert len(thinned) <= 101
    assert 0 in thinned and 999 in thinned
    assert all(thinned[step] == curve[step] for step in thinned)
    short = {0: 0.5, 1: 0.6}
    assert thin(short) == short
