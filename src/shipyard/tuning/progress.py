"""What the reconciler decides from the trials: their outcomes, whether the tuning job is
done, the best trial, and the early-stopping plan a new trial gets.

Pure functions of the trial rows (and, for running peers, their metric points), so each
rule is tested without a worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.core.clock import utcnow
from shipyard.training import service as training
from shipyard.training.schemas import TrainingJobOut
from shipyard.tuning.models import TuningJob, TuningTrial
from shipyard.tuning.pruning import PeerTrial, PruningPlan
from shipyard.tuning.schemas import (
    BestTrainingJob,
    ObjectiveStatus,
    StatusCounters,
    TrainingJobDefinition,
    TuningJobConfig,
)
from shipyard.tuning.search import PastTrial
from shipyard.tuning.validation import ITERATION_HYPERPARAMETERS

MAX_CURVE_POINTS = 100
FAILURES_BEFORE_GIVING_UP = 3
MEDIAN_STARTUP_TRIALS = 3
WARMUP_FRACTION = 10


# ---- a trial's outcome ----------------------------------------------------------------
def mark_ended(
    trial: TuningTrial,
    job: TrainingJobOut,
    metric: str,
    curve: dict[int, float],
    config: TuningJobConfig,
) -> None:
    """Record a trial whose training job ended: its objective (its final value of the
    metric) when it completed or was stopped early, and its objective curve, thinned."""
    trial.training_job_status = job.status
    trial.ended_at = job.ended_at or utcnow()
    trial.failure_reason = job.failure_reason
    value = job.final_metrics.get(metric)
    counts = job.status == "Completed" or trial.early_stopped
    trial.objective_value = value if counts and value is not None and math.isfinite(value) else None
    if job.status == "Completed" and trial.objective_value is None:
        trial.failure_reason = f"the training job did not report the objective metric {metric}"
    trial.intermediate = {str(step): v for step, v in thin(curve).items()}


def mark_lost(trial: TuningTrial) -> None:
    trial.training_job_status, trial.ended_at = "Failed", utcnow()
    trial.failure_reason = "the trial's training job no longer exists"


def objective_status(trial: TuningTrial) -> ObjectiveStatus:
    if not trial.ended:
        return "Pending"
    return "Succeeded" if trial.objective_value is not None else "Failed"


def past_trial(trial: TuningTrial) -> PastTrial:
    """The trial as the search learns from it."""
    if not trial.ended:
        state = "running"
    elif trial.early_stopped:
        state = "pruned"
    elif trial.objective_value is not None:
        state = "complete"
    else:
        state = "failed"
    return PastTrial(
        number=trial.number,
        params=trial.params,
        state=state,
        value=trial.objective_value,
        intermediate=curve_of(trial),
    )


def curve_of(trial: TuningTrial) -> dict[int, float]:
    return {int(step): value for step, value in (trial.intermediate or {}).items()}


# ---- the tuning job's verdict -----------------------------------------------------------
def verdict(
    config: TuningJobConfig, trials: Sequence[TuningTrial]
) -> tuple[str | None, str | None]:
    """(completion reason, failure reason) once the tuning job should start no more
    trials, else (None, None). A failure reason means it ends Failed."""
    scored = [t for t in trials if t.objective_value is not None]
    failed = [  # a trial someone stopped has not failed
        t
        for t in trials
        if t.ended and t.objective_value is None and t.training_job_status != "Stopped"
    ]
    max_jobs = config.resource_limits.max_number_of_training_jobs or 0
    if not scored and len(failed) >= min(FAILURES_BEFORE_GIVING_UP, max_jobs):
        return "TrialsFailed", (
            f"{len(failed)} trials failed and none reported the objective; the last: "
            f"{failed[-1].failure_reason or 'no reason given'}"
        )
    criteria = config.tuning_job_completion_criteria
    if criteria is not None and scored:
        if criteria.target_objective_metric_value is not None and _reached(
            config, scored, criteria.target_objective_metric_value
        ):
            return "TargetObjectiveReached", None
        patience = criteria.best_objective_not_improving
        if patience is not None and _not_improving(config, trials) >= (
            patience.max_number_of_training_jobs_not_improving
        ):
            return "BestObjectiveNotImproving", None
    if len(trials) >= max_jobs and all(t.ended for t in trials):
        if scored:
            return "MaxNumberOfTrainingJobsReached", None
        return "NoTrialSucceeded", (
            f"no trial reported the objective {config.objective.metric_name}; the last: "
            f"{trials[-1].failure_reason if trials else 'no trial ran'}"
        )
    return None, None


def _better(config: TuningJobConfig, a: float, b: float) -> bool:
    return a > b if config.objective.type == "Maximize" else a < b


def _reached(config: TuningJobConfig, scored: Sequence[TuningTrial], target: float) -> bool:
    values = [t.objective_value for t in scored if t.objective_value is not None]
    return any(v == target or _better(config, v, target) for v in values)


def _not_improving(config: TuningJobConfig, trials: Sequence[TuningTrial]) -> int:
    """How many ended trials in a row, by number, have not beaten the best before them."""
    best: float | None = None
    streak = 0
    for trial in (t for t in trials if t.ended):
        value = trial.objective_value
        if value is not None and (best is None or _better(config, value, best)):
            best, streak = value, 0
        else:
            streak += 1
    return streak


def best(config: TuningJobConfig, trials: Sequence[TuningTrial]) -> BestTrainingJob | None:
    """The trial with the best objective; the lowest number wins a tie."""
    winner: tuple[float, TuningTrial] | None = None
    for trial in trials:
        value = trial.objective_value
        if value is not None and (winner is None or _better(config, value, winner[0])):
            winner = (value, trial)
    if winner is None:
        return None
    value, trial = winner
    return BestTrainingJob(
        training_job_name=trial.training_job_name,
        number=trial.number,
        final_objective_value=value,
        tuned_hyperparameters=trial.hyperparameters,
    )


def counters(trials: Sequence[TuningTrial]) -> StatusCounters:
    counts = StatusCounters()
    for trial in trials:
        if not trial.ended:
            if trial.training_job_status == "Pending":
                counts.pending += 1
            else:
                counts.in_progress += 1
        elif trial.early_stopped:
            counts.early_stopped += 1
        elif trial.training_job_status == "Completed":
            counts.completed += 1
        elif trial.training_job_status == "Stopped":
            counts.stopped += 1
        else:
            counts.failed += 1
    return counts


# ---- early stopping -------------------------------------------------------------------
def pruning_plan(
    session: Session,
    row: TuningJob,
    config: TuningJobConfig,
    trials: Sequence[TuningTrial],
    number: int,
) -> dict[str, Any] | None:
    """The plan trial `number` decides its early stopping by (see tuning.pruning), with
    its peers' curves as they are now; None unless the job stops trials early (Auto)."""
    if config.training_job_early_stopping_type != "Auto":
        return None
    plan = PruningPlan(
        study_name=row.name,
        trial_number=number,
        objective_metric=config.objective.metric_name,
        direction="maximize" if config.objective.type == "Maximize" else "minimize",
        n_startup_trials=MEDIAN_STARTUP_TRIALS,
        n_warmup_steps=_warmup_steps(row, config),
        peers=[peer for t in trials if (peer := _peer(session, t, config)) is not None],
    )
    return plan.model_dump(mode="json")


def _warmup_steps(row: TuningJob, config: TuningJobConfig) -> int:
    """The first tenth of a trial's iterations, when the definition says how many: the
    first trees or epochs say little about where a trial ends up."""
    statics = TrainingJobDefinition.model_validate(row.definition).static_hyperparameters
    tuned = {r.name: r.min_value for r in config.parameter_ranges.integer_parameter_ranges}
    for key in ITERATION_HYPERPARAMETERS:
        value = tuned.get(key, statics.get(key))
        if isinstance(value, int | float | str) and str(value).isdigit():
            return int(value) // WARMUP_FRACTION
    return 0


def _peer(session: Session, trial: TuningTrial, config: TuningJobConfig) -> PeerTrial | None:
    if trial.ended:
        if trial.early_stopped:
            return PeerTrial(number=trial.number, state="pruned", intermediate=curve_of(trial))
        if trial.objective_value is None:
            return None
        return PeerTrial(
            number=trial.number,
            state="complete",
            value=trial.objective_value,
            intermediate=curve_of(trial),
        )
    job_id = training.job_id_of(session, trial.training_job_name)
    points = compute.read_metrics(session, job_id, config.objective.metric_name)
    curve = {p.step: p.value for p in points if p.step is not None and math.isfinite(p.value)}
    return PeerTrial(number=trial.number, state="running", intermediate=thin(curve))


def thin(curve: dict[int, float]) -> dict[int, float]:
    """At most MAX_CURVE_POINTS evenly spaced steps of `curve`, and its last one: what a
    peer's curve needs for the median rule, which compares at the steps it has."""
    steps = sorted(curve)
    if len(steps) <= MAX_CURVE_POINTS:
        return dict(curve)
    stride = math.ceil(len(steps) / MAX_CURVE_POINTS)
    chosen = set(steps[::stride]) | {steps[-1]}
    return {step: curve[step] for step in sorted(chosen)}
