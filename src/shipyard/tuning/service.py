"""Tuning jobs: create, describe, stop; and the reconciler that runs them.

A tuning job holds no process of its own. The scheduler calls :func:`reconcile_all`
(every second, and whenever a job ends), which, for each running tuning job, in one
transaction with the tuning job's row locked: records the outcome of trials whose
training job ended, decides whether the tuning job is done, and starts new trials up to
the parallel limit. Every step reads the database afresh, so a restart loses nothing and
two schedulers against one PostgreSQL never start the same trial twice (the row lock,
and the unique trial number, see to that).

State machine: InProgress → Completed | Failed | Stopping → Stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists, InvalidState, NotFound, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.lineage import service as lineage
from shipyard.training import service as training
from shipyard.tuning import hyperband, progress
from shipyard.tuning.models import TuningJob, TuningTrial
from shipyard.tuning.schemas import (
    TUNING_STATUSES,
    TrainingJobDefinition,
    TrialOut,
    TuningJobConfig,
    TuningJobIn,
    TuningJobOut,
    WarmStartConfig,
)
from shipyard.tuning.search import PastTrial, Search
from shipyard.tuning.validation import (
    check_tuning_job,
    check_warm_start,
    trial_request,
)

ACTIVE = ("InProgress", "Stopping")
TUNING_TAG = "shipyard:tuning-job"


def create_tuning_job(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    request: TuningJobIn,
    owner: str,
) -> TuningJobOut:
    if session.get(TuningJob, validate_name(request.name)) is not None:
        raise AlreadyExists(f"tuning job '{request.name}' already exists")
    checked = check_tuning_job(session, settings, store, request)
    check_warm_start(session, request)
    definition = request.training_job_definition
    config = checked.config.model_copy(deep=True)
    config.resource_limits.max_number_of_training_jobs = checked.max_jobs
    if checked.hyperband is not None:
        settings_of_hyperband = config.strategy_config.hyperband_strategy_config
        settings_of_hyperband.max_resource = checked.hyperband.maximum
        settings_of_hyperband.resource_hyperparameter = checked.hyperband.hyperparameter
    row = TuningJob(
        name=checked.name,
        status="InProgress",
        config=config.model_dump(mode="json"),
        definition=definition.model_dump(mode="json"),
        warm_start=(
            request.warm_start_config.model_dump(mode="json") if request.warm_start_config else None
        ),
        tags=request.tags,
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return to_out(row, [])


def describe_tuning_job(session: Session, name: str) -> TuningJobOut:
    row = _get(session, name)
    return to_out(row, _trials_of(session, row.name))


def list_tuning_jobs(
    session: Session, *, limit: int, offset: int, status: str | None = None
) -> list[TuningJobOut]:
    if status is not None and status not in TUNING_STATUSES:
        raise ValidationError(f"expected one of {', '.join(TUNING_STATUSES)}", "status")
    query = select(TuningJob).order_by(TuningJob.created_at.desc())
    if status is not None:
        query = query.where(TuningJob.status == status)
    rows = session.scalars(query.limit(limit).offset(offset)).all()
    trials = _trials_by_job(session, [r.name for r in rows])
    return [to_out(r, trials.get(r.name, [])) for r in rows]


def list_trials(session: Session, name: str) -> list[TrialOut]:
    row = _get(session, name)
    return [trial_out(t) for t in _trials_of(session, row.name)]


def stop_tuning_job(session: Session, name: str) -> TuningJobOut:
    """Stopping: no new trials, and every running trial is asked to stop now."""
    row = _get(session, name, lock=True)
    if row.status != "InProgress":
        raise InvalidState(
            f"tuning job '{name}' is {row.status}; only a running one can be stopped"
        )
    row.status = "Stopping"
    trials = _trials_of(session, row.name)
    _stop_open_trials(session, trials)
    return to_out(row, trials)


# ---- the reconciler -------------------------------------------------------------------
def reconcile_all(db: Database, settings: Settings, store: BaseArtifactStore) -> int:
    """Advance every running tuning job; the number of trials started."""
    with db.session_scope() as session:
        names = session.scalars(select(TuningJob.name).where(TuningJob.status.in_(ACTIVE))).all()
    return sum(reconcile(db, settings, store, name) for name in names)


def reconcile(db: Database, settings: Settings, store: BaseArtifactStore, name: str) -> int:
    """Advance one tuning job (see the module docstring); the number of trials started."""
    with db.session_scope() as session:
        row = session.scalar(
            select(TuningJob).where(TuningJob.name == name).with_for_update(skip_locked=True)
        )
        if row is None or row.status not in ACTIVE:
            return 0
        trials = _trials_of(session, name)
        config = TuningJobConfig.model_validate(row.config)
        _record_ended_trials(session, config, trials)
        if row.status == "Stopping":
            _finish_when_idle(row, trials, "Stopped")
            return 0
        if row.completion_reason is None:
            row.completion_reason, row.failure_reason = progress.verdict(config, trials)
        if row.completion_reason is not None:
            _stop_open_trials(session, trials)
            _finish_when_idle(row, trials, "Failed" if row.failure_reason else "Completed")
            return 0
        return _start_trials(session, settings, store, row, config, trials)


def _record_ended_trials(
    session: Session, config: TuningJobConfig, trials: Sequence[TuningTrial]
) -> None:
    open_trials = [t for t in trials if not t.ended]
    jobs = training.describe_training_jobs(session, [t.training_job_name for t in open_trials])
    metric = config.objective.metric_name
    for trial in open_trials:
        job = jobs.get(trial.training_job_name)
        if job is None:
            progress.mark_lost(trial)
            continue
        trial.training_job_status = job.status
        if job.status not in ("Completed", "Failed", "Stopped"):
            continue
        job_id = training.job_id_of(session, job.name)
        points = compute.read_metrics(session, job_id, metric)
        curve = {p.step: p.value for p in points if p.step is not None and math.isfinite(p.value)}
        progress.mark_ended(trial, job, metric, curve, config)


def _finish_when_idle(row: TuningJob, trials: Sequence[TuningTrial], status: str) -> None:
    if all(t.ended for t in trials):
        row.status, row.ended_at = status, utcnow()


def _stop_open_trials(session: Session, trials: Sequence[TuningTrial]) -> None:
    for trial in trials:
        if trial.ended or trial.training_job_status in ("Stopping", "Stopped"):
            continue
        try:
            training.stop_training_job(session, trial.training_job_name)
        except (InvalidState, NotFound):  # it ended meanwhile; the next pass records it
            continue
        trial.training_job_status = "Stopping"


def _start_trials(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    row: TuningJob,
    config: TuningJobConfig,
    trials: list[TuningTrial],
) -> int:
    limits = config.resource_limits
    max_jobs = limits.max_number_of_training_jobs or 0
    free = limits.max_parallel_training_jobs - sum(1 for t in trials if not t.ended)
    wanted = min(free, max_jobs - len(trials))
    if wanted <= 0:
        return 0
    search = Search(config, _past_trials(session, row, trials))
    definition = TrainingJobDefinition.model_validate(row.definition)
    started = 0
    for _ in range(wanted):
        number = len(trials)
        configuration, rung, params, tuned = _next_configuration(config, search, trials, number)
        name = trial_name(row.name, number)
        request = trial_request(definition, name, tuned)
        request.tags = {**request.tags, TUNING_TAG: row.name, "shipyard:trial": str(number)}
        plan = progress.pruning_plan(session, row, config, trials, number)
        try:
            training.create_training_job(session, settings, store, request, row.owner, pruning=plan)
        except AlreadyExists:
            row.completion_reason = "TrialNameTaken"
            row.failure_reason = f"a training job named '{name}' already exists"
            return started
        lineage.record(
            session,
            lineage.Entity("tuning-job", row.name),
            lineage.Entity("training-job", name),
            "Ran",
        )
        trial = TuningTrial(
            tuning_job=row.name,
            number=number,
            configuration=configuration,
            rung=rung,
            training_job_name=name,
            hyperparameters=tuned,
            params=params,
            training_job_status="Pending",
            intermediate={},
            created_at=utcnow(),
        )
        session.add(trial)
        trials.append(trial)
        started += 1
    session.flush()
    return started


def _next_configuration(
    config: TuningJobConfig, search: Search, trials: Sequence[TuningTrial], number: int
) -> tuple[int, int | None, dict[str, Any], dict[str, Any]]:
    """(configuration, rung, Optuna params, hyperparameters) of trial `number`: a new draw
    of the search, or — under Hyperband — a configuration going up a rung."""
    if config.strategy != "Hyperband":
        params, tuned = search.ask(number)
        return number, None, params, tuned
    settings = config.strategy_config.hyperband_strategy_config
    segment = hyperband.next_segment(trials, settings, config.objective.type == "Maximize")
    if segment.new:
        params, tuned = search.ask(segment.configuration)
    else:
        first = next(t for t in trials if t.configuration == segment.configuration)
        params, tuned = dict(first.params), dict(first.hyperparameters)
    assert settings.resource_hyperparameter is not None
    tuned[settings.resource_hyperparameter] = segment.resource
    return segment.configuration, segment.rung, params, tuned


def trial_name(tuning_job: str, number: int) -> str:
    return f"{tuning_job}-{number:03d}"


def _past_trials(
    session: Session, row: TuningJob, trials: Sequence[TuningTrial]
) -> list[PastTrial]:
    """What the search learns from: the warm-start parents' trials, then this job's own."""
    past: list[PastTrial] = []
    if row.warm_start:
        warm = WarmStartConfig.model_validate(row.warm_start)
        parents = _trials_by_job(session, warm.parent_hyperparameter_tuning_jobs)
        for parent in warm.parent_hyperparameter_tuning_jobs:
            past += [progress.past_trial(t) for t in parents.get(parent, []) if t.ended]
    past += [progress.past_trial(t) for t in trials]
    return past


# ---- reading --------------------------------------------------------------------------
def _get(session: Session, name: str, *, lock: bool = False) -> TuningJob:
    query = select(TuningJob).where(TuningJob.name == validate_name(name))
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"tuning job '{name}' not found")
    return row


def _trials_of(session: Session, name: str) -> list[TuningTrial]:
    return list(
        session.scalars(
            select(TuningTrial).where(TuningTrial.tuning_job == name).order_by(TuningTrial.number)
        )
    )


def _trials_by_job(session: Session, names: Sequence[str]) -> dict[str, list[TuningTrial]]:
    if not names:
        return {}
    by_job: dict[str, list[TuningTrial]] = {}
    query = select(TuningTrial).where(TuningTrial.tuning_job.in_(names))
    for trial in session.scalars(query.order_by(TuningTrial.number)):
        by_job.setdefault(trial.tuning_job, []).append(trial)
    return by_job


def to_out(row: TuningJob, trials: Sequence[TuningTrial]) -> TuningJobOut:
    config = TuningJobConfig.model_validate(row.config)
    return TuningJobOut(
        name=row.name,
        srn=srn("tuning-job", row.name),
        status=row.status,
        failure_reason=row.failure_reason,
        completion_reason=row.completion_reason,
        hyperparameter_tuning_job_config=config,
        training_job_definition=TrainingJobDefinition.model_validate(row.definition),
        warm_start_config=WarmStartConfig.model_validate(row.warm_start)
        if row.warm_start
        else None,
        tags=row.tags,
        training_job_status_counters=progress.counters(trials),
        best_training_job=progress.best(config, trials),
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
        ended_at=as_utc(row.ended_at),
    )


def trial_out(trial: TuningTrial) -> TrialOut:
    return TrialOut(
        number=trial.number,
        configuration=trial.configuration,
        rung=trial.rung,
        training_job_name=trial.training_job_name,
        tuned_hyperparameters=trial.hyperparameters,
        training_job_status=trial.training_job_status,
        objective_status=progress.objective_status(trial),
        final_objective_value=trial.objective_value,
        early_stopped=trial.early_stopped,
        failure_reason=trial.failure_reason,
        created_at=as_utc(trial.created_at) or trial.created_at,
        ended_at=as_utc(trial.ended_at),
    )
