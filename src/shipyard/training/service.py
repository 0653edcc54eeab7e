"""Training jobs: validate a request completely, queue it, describe it, stop it.

Everything that can be checked before the job runs is checked here, so bad input is a
400 naming the field rather than a failed job: the algorithm (with the optional packages
it trains with) and its hyperparameters, every channel (it exists, is inside the allowed
roots, is a table in a format the algorithm reads), the target column.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.job_tables import JobTable, job_state
from shipyard.compute.models import Job
from shipyard.compute.schemas import JobSpec, MetricDefinition, Resources, StoppingCondition
from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri, uri_for
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.errors import AlreadyExists, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.data.tables import TableRef, resolve_table
from shipyard.debugger import service as debugger
from shipyard.debugger.schemas import DebuggerConfiguration, DebuggerDescription
from shipyard.lineage import service as lineage
from shipyard.training.algorithms import Emitted, get_algorithm
from shipyard.training.models import TrainingJob
from shipyard.training.schemas import ChannelIn, TrainingJobIn, TrainingJobOut

JOB_KIND = "training"
RUNTIME = "shipyard.training.runtime"
JOBS = JobTable(TrainingJob, "training job")


def create_training_job(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    request: TrainingJobIn,
    owner: str,
    *,
    pruning: dict[str, Any] | None = None,
) -> TrainingJobOut:
    """Queue a training job. `pruning` is the early-stopping plan of a tuning trial."""
    checked = check_training_job(session, settings, store, request)
    name, hyperparameters, channels = checked.name, checked.hyperparameters, checked.channels
    # hashed before anything is written, so that no write lock is held meanwhile
    inputs = [lineage.dataset_for_uri(session, store, table.uri) for table in channels.values()]
    if request.entry_point and request.source_uri:
        inputs.append(lineage.source_for_uri(store, request.source_uri))
    model_prefix = f"training-jobs/{name}/model"
    output_prefix = f"training-jobs/{name}/output"
    spec = JobSpec(
        entrypoint=RUNTIME,
        payload={
            "name": name,
            "algorithm": request.algorithm,
            "entry_point": request.entry_point,
            "source_uri": request.source_uri,
            "hyperparameters": hyperparameters,
            "channels": {k: {"uri": v.uri, "format": v.format} for k, v in channels.items()},
            "target": request.target,
            "store": store.describe(),
            "model_prefix": model_prefix,
            "output_prefix": output_prefix,
            "cpu_count": request.resources.cpu_count,
            "instance_count": request.resources.instance_count,
            "pruning": pruning,
            "debugger": checked.debugging.model_dump() if checked.debugging else None,
        },
        resources=request.resources,
        metric_definitions=request.metric_definitions,
    )
    job = compute.create_job(
        session,
        kind=JOB_KIND,
        name=name,
        spec=spec,
        owner=owner,
        max_runtime_seconds=request.stopping_condition.max_runtime_seconds,
        max_attempts=request.retry_strategy.maximum_retry_attempts,
    )
    row = TrainingJob(
        name=name,
        job_id=job.id,
        algorithm=request.algorithm,
        entry_point=request.entry_point,
        source_uri=request.source_uri,
        hyperparameters=hyperparameters,
        channels={k: v.__dict__ for k, v in channels.items()},
        target=request.target,
        resources=request.resources.model_dump(),
        stopping_condition=request.stopping_condition.model_dump(),
        metric_definitions=[d.model_dump() for d in request.metric_definitions],
        tags=request.tags,
        model_artifacts=uri_for(model_prefix),
        output_uri=uri_for(output_prefix),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    debugger.save_configuration(session, job.id, checked.debugging)
    lineage.record_all(session, inputs, lineage.Entity("training-job", name))
    session.flush()
    return to_out(row, job, debugger.describe_job(session, job))


@dataclass(frozen=True)
class CheckedTrainingJob:
    """A CreateTrainingJob request that passed every check: its typed hyperparameters,
    its resolved channels and its debugger configuration (None without one)."""

    name: str
    hyperparameters: dict[str, Any]
    channels: dict[str, TableRef]
    debugging: DebuggerConfiguration | None = None


def check_training_job(
    session: Session, settings: Settings, store: BaseArtifactStore, request: TrainingJobIn
) -> CheckedTrainingJob:
    """Everything `create_training_job` checks, without queueing anything; ValidationError
    (naming the field) or AlreadyExists when the request would be refused."""
    name = validate_name(request.name)
    if session.get(TrainingJob, name) is not None:
        raise AlreadyExists(f"training job '{name}' already exists")
    hyperparameters = _validated_hyperparameters(request)
    _check_instance_count(request)
    channels = _resolved_channels(request, store, settings)
    _check_channel_formats(request, channels)
    _check_target(request, channels)
    _check_algorithm_columns(request, hyperparameters, channels)
    _check_script(request, store)
    debugging = debugger.check_configuration(
        request.debugger_hook_config,
        request.debugger_rule_configurations,
        script_mode=not request.algorithm,
        settings=settings,
    )
    return CheckedTrainingJob(name, hyperparameters, channels, debugging)


def check_algorithm_hyperparameters(algorithm: str, hyperparameters: Mapping[str, Any]) -> None:
    """ValidationError (on `hyperparameters.<key>`) unless the built-in takes these values."""
    get_algorithm(algorithm).validate_hyperparameters(hyperparameters)


def emitted_metrics(
    algorithm: str, hyperparameters: Mapping[str, Any], channels: Iterable[str]
) -> Emitted:
    """The metrics a job of the built-in reports with these (validated) hyperparameters and
    channels: once at the end, and which of them at every iteration too."""
    return get_algorithm(algorithm).emitted_metrics(hyperparameters, channels)


def hyperparameter_names(algorithm: str) -> list[str]:
    """The hyperparameters the built-in accepts, sorted."""
    return get_algorithm(algorithm).hyperparameters_schema.keys()


def describe_training_job(session: Session, name: str) -> TrainingJobOut:
    row, job = JOBS.find(session, name)
    return to_out(row, job, debugger.describe_job(session, job))


def list_training_jobs(
    session: Session, *, limit: int, offset: int, status: str | None = None
) -> list[TrainingJobOut]:
    """A page of the training jobs, newest first (only those in ``status``, if given)."""
    return _outs(session, JOBS.page(session, limit=limit, offset=offset, status=status))


def describe_training_jobs(session: Session, names: Sequence[str]) -> dict[str, TrainingJobOut]:
    """The named training jobs that exist, by name."""
    if not names:
        return {}
    rows = session.scalars(select(TrainingJob).where(TrainingJob.name.in_(names))).all()
    return {out.name: out for out in _outs(session, JOBS.with_jobs(session, rows))}


def stop_training_job(session: Session, name: str) -> TrainingJobOut:
    row, job = JOBS.find(session, name)
    job = compute.request_stop(session, job)
    return to_out(row, job, debugger.describe_job(session, job))


def job_id_of(session: Session, name: str) -> str:
    return JOBS.row(session, name).job_id


def is_finished(session: Session, name: str) -> bool:
    return JOBS.is_finished(session, name)


def to_out(
    row: TrainingJob, job: Job, debugging: DebuggerDescription | None = None
) -> TrainingJobOut:
    debugging = debugging or DebuggerDescription()
    return TrainingJobOut(
        **job_state(job),
        name=row.name,
        srn=srn("training-job", row.name),
        algorithm=row.algorithm,
        entry_point=row.entry_point,
        source_uri=row.source_uri,
        hyperparameters=row.hyperparameters,
        channels=row.channels,
        target=row.target,
        resources=Resources.model_validate(row.resources),
        stopping_condition=StoppingCondition.model_validate(row.stopping_condition),
        metric_definitions=[MetricDefinition.model_validate(d) for d in row.metric_definitions],
        tags=row.tags,
        model_artifacts=row.model_artifacts,
        output_uri=row.output_uri,
        owner=row.owner,
        debugger_hook_config=debugging.debugger_hook_config,
        debugger_rule_configurations=debugging.debugger_rule_configurations,
        debugger_rule_evaluation_statuses=debugging.debugger_rule_evaluation_statuses,
    )


def _outs(session: Session, rows: Sequence[tuple[TrainingJob, Job]]) -> list[TrainingJobOut]:
    """The descriptions of ``rows``, in their order, with a few queries for all of them."""
    debugging = debugger.describe_jobs(session, [job for _, job in rows])
    return [to_out(row, job, debugging[row.job_id]) for row, job in rows]


def _validated_hyperparameters(request: TrainingJobIn) -> dict[str, Any]:
    if request.algorithm and request.entry_point:
        raise ValidationError("give either algorithm or entry_point, not both", "algorithm")
    if request.algorithm:
        algorithm = get_algorithm(request.algorithm)
        algorithm.check_training_extras()
        return algorithm.validate_hyperparameters(request.hyperparameters)
    if not request.entry_point:
        raise ValidationError(
            "required: a built-in algorithm name, or entry_point for script mode", "algorithm"
        )
    for key, value in request.hyperparameters.items():
        if not key.replace("_", "").replace("-", "").isalnum():
            raise ValidationError(
                "keys must be letters, digits, '_' or '-'", f"hyperparameters.{key}"
            )
        if not isinstance(value, str | int | float | bool):
            raise ValidationError(
                "values must be strings, numbers or booleans", f"hyperparameters.{key}"
            )
    return dict(request.hyperparameters)


def _check_instance_count(request: TrainingJobIn) -> None:
    """A script may run as several data-parallel ranks; a built-in algorithm trains as one."""
    if request.algorithm and request.resources.instance_count > 1:
        raise ValidationError(
            f"must be 1 for the built-in algorithm '{request.algorithm}', which trains as "
            "one instance; data-parallel training is for scripts (entry_point)",
            "resources.instance_count",
        )


def _resolved_channels(
    request: TrainingJobIn, store: BaseArtifactStore, settings: Settings
) -> dict[str, TableRef]:
    if request.algorithm and "train" not in request.channels:
        raise ValidationError("a 'train' channel is required", "channels")
    resolved = {}
    for channel, value in request.channels.items():
        field = f"channels.{channel}"
        if not channel.isidentifier() or len(channel) > 64:
            raise ValidationError("channel names are letters, digits and '_'", field)
        spec = value if isinstance(value, ChannelIn) else ChannelIn(uri=value)
        if spec.uri.startswith(SCHEME):
            key_from_uri(spec.uri, field)
        resolved[channel] = resolve_table(
            spec.uri,
            store=store,
            roots=settings.allowed_data_roots,
            declared_format=spec.format,
            field=field,
        )
    return resolved


def _check_channel_formats(request: TrainingJobIn, channels: dict[str, TableRef]) -> None:
    """A built-in algorithm reads only the formats it declares; a script reads any file."""
    if not request.algorithm:
        return
    readable = get_algorithm(request.algorithm).channel_formats
    for channel, table in channels.items():
        if table.format not in readable:
            raise ValidationError(
                f"algorithm '{request.algorithm}' does not read {table.format} channels; "
                f"it reads {', '.join(sorted(readable))}",
                f"channels.{channel}",
            )


def _check_target(request: TrainingJobIn, channels: dict[str, TableRef]) -> None:
    if not request.algorithm:
        return
    supervised = get_algorithm(request.algorithm).requires_target
    if supervised and not request.target:
        raise ValidationError(f"required for algorithm '{request.algorithm}'", "target")
    if not request.target:
        return
    read = [name for name in ("train", "validation") if name in channels]
    lacking = [name for name in read if request.target not in channels[name].columns]
    # a supervised algorithm reads the target in every channel; an unsupervised one only keeps
    # it out of the features (anomaly detection scores itself against it), so one will do
    if lacking and (supervised or len(lacking) == len(read)):
        channel = lacking[0]
        shown = ", ".join(channels[channel].columns[:20])
        raise ValidationError(
            f"target column '{request.target}' not found in channel '{channel}'; "
            f"columns are: {shown}",
            "target",
        )


def _check_algorithm_columns(
    request: TrainingJobIn, hyperparameters: dict[str, Any], channels: dict[str, TableRef]
) -> None:
    if request.algorithm:
        get_algorithm(request.algorithm).check_columns(
            hyperparameters, request.target, {name: t.columns for name, t in channels.items()}
        )


def _check_script(request: TrainingJobIn, store: BaseArtifactStore) -> None:
    if request.entry_point:
        check_script_source(store, request.entry_point, request.source_uri)


def check_script_source(store: BaseArtifactStore, entry_point: str, source_uri: str | None) -> None:
    """ValidationError (naming ``entry_point`` or ``source_uri``) unless ``entry_point`` is a
    .py file of the uploaded source: that single file, or one inside a .tar.gz."""
    normal = posixpath.normpath(entry_point)
    if entry_point.startswith("/") or normal.startswith("..") or not entry_point.endswith(".py"):
        raise ValidationError("must be a relative path to a .py file in the source", "entry_point")
    if not source_uri or not source_uri.startswith(SCHEME):
        raise ValidationError(
            "a script needs its uploaded source (a .py file or .tar.gz) as shipyard://…",
            "source_uri",
        )
    key = key_from_uri(source_uri, "source_uri")
    if not store.exists(key):
        raise ValidationError(f"{source_uri} does not exist", "source_uri")
    if key.endswith(".py") and posixpath.basename(key) != normal:
        raise ValidationError(
            f"the source is the single file {posixpath.basename(key)!r}; entry_point must name it",
            "entry_point",
        )
    if not key.endswith((".py", ".tar.gz", ".tgz")):
        raise ValidationError("expected a .py file or a .tar.gz of the source", "source_uri")
