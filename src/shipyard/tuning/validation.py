"""Every check of a CreateHyperParameterTuningJob request, before anything is queued.

A bad request is a ValidationError naming the field of the tuning request itself (e.g.
`hyperparameter_tuning_job_config.parameter_ranges.integer_parameter_ranges.0.min_value`),
so the same mistake reads the same from the CLI, the SDK and the REST API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.errors import ValidationError
from shipyard.core.names import MAX_NAME_LENGTH, validate_name
from shipyard.training import service as training
from shipyard.training.schemas import TrainingJobIn
from shipyard.tuning import search
from shipyard.tuning.models import TuningJob
from shipyard.tuning.schemas import (
    MAX_TRAINING_JOBS,
    CategoricalParameterRange,
    IntegerParameterRange,
    ParameterRanges,
    TrainingJobDefinition,
    TuningJobConfig,
    TuningJobIn,
)

CONFIG = "hyperparameter_tuning_job_config"
RANGES = f"{CONFIG}.parameter_ranges"
DEFINITION = "training_job_definition"
TRIAL_SUFFIX = len("-1000")
MAX_TUNING_NAME_LENGTH = MAX_NAME_LENGTH - TRIAL_SUFFIX
# The hyperparameters that set a built-in's iterations (Hyperband's resource).
ITERATION_HYPERPARAMETERS = ("num_round", "num_iterations", "epochs")
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class CheckedTuningJob:
    """The request, checked, with what the checks worked out."""

    name: str
    config: TuningJobConfig
    max_jobs: int
    hyperband: HyperbandResource | None


def check_tuning_job(
    session: Session, settings: Settings, store: BaseArtifactStore, request: TuningJobIn
) -> CheckedTuningJob:
    name = validate_name(request.name)
    if len(name) > MAX_TUNING_NAME_LENGTH:
        raise ValidationError(
            f"at most {MAX_TUNING_NAME_LENGTH} characters, so trials can be named "
            f"'{name[:8]}…-<number>'",
            "name",
        )
    config = request.hyperparameter_tuning_job_config
    definition = request.training_job_definition
    max_jobs = _check_limits(config)
    _check_ranges(config.parameter_ranges, definition)
    sample = _check_definition(session, settings, store, name, definition, config)
    _check_objective(config, definition, sample)
    hyperband = _check_hyperband(config, definition, sample)
    return CheckedTuningJob(name, config, max_jobs, hyperband)


def _check_limits(config: TuningJobConfig) -> int:
    limits = config.resource_limits
    field = f"{CONFIG}.resource_limits.max_number_of_training_jobs"
    if config.strategy == "Grid":
        size = search.grid_size(config.parameter_ranges)
        if config.parameter_ranges.continuous_parameter_ranges:
            raise ValidationError(
                "the Grid strategy takes integer and categorical ranges only",
                f"{RANGES}.continuous_parameter_ranges",
            )
        if size > search.MAX_GRID_POINTS:
            raise ValidationError(
                f"the grid has {size} points, more than {search.MAX_GRID_POINTS}", RANGES
            )
        if limits.max_number_of_training_jobs is not None and (
            limits.max_number_of_training_jobs > size
        ):
            raise ValidationError(f"the grid has only {size} points", field)
        max_jobs = min(limits.max_number_of_training_jobs or size, MAX_TRAINING_JOBS)
    elif limits.max_number_of_training_jobs is None:
        raise ValidationError(f"required for the {config.strategy} strategy", field)
    else:
        max_jobs = limits.max_number_of_training_jobs
    if limits.max_parallel_training_jobs > max_jobs:
        raise ValidationError(
            f"is {limits.max_parallel_training_jobs}, more than the {max_jobs} training jobs "
            "the tuning job may run in all",
            f"{CONFIG}.resource_limits.max_parallel_training_jobs",
        )
    return max_jobs


def _check_ranges(ranges: ParameterRanges, definition: TrainingJobDefinition) -> None:
    seen: set[str] = set()
    for field, spec in _each_range(ranges):
        if spec.name in seen:
            raise ValidationError(f"'{spec.name}' has more than one range", f"{field}.name")
        seen.add(spec.name)
        if spec.name in definition.static_hyperparameters:
            raise ValidationError(
                f"'{spec.name}' is also a static hyperparameter; tune it or fix it, not both",
                f"{field}.name",
            )
        if isinstance(spec, CategoricalParameterRange):
            _check_values(spec.values, field)
        else:
            integer = isinstance(spec, IntegerParameterRange)
            _check_bounds(spec.min_value, spec.max_value, spec.scaling_type, field, integer)
    if not seen:
        raise ValidationError("give at least one parameter range to tune", RANGES)


def _each_range(ranges: ParameterRanges) -> Iterator[tuple[str, Any]]:
    for kind in (
        "continuous_parameter_ranges",
        "integer_parameter_ranges",
        "categorical_parameter_ranges",
    ):
        for index, spec in enumerate(getattr(ranges, kind)):
            yield f"{RANGES}.{kind}.{index}", spec


def _check_values(values: list[Any], field: str) -> None:
    if not values:
        raise ValidationError("a categorical range needs at least one value", f"{field}.values")
    if len({repr(v) for v in values}) != len(values):
        raise ValidationError("values must be distinct", f"{field}.values")


def _check_bounds(low: float, high: float, scaling: str, field: str, integer: bool) -> None:
    if low >= high:
        raise ValidationError(
            f"must be less than max_value ({high}), got {low}", f"{field}.min_value"
        )
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationError(
            f"Logarithmic scaling needs a positive range, got {low}", f"{field}.min_value"
        )
    if scaling == "ReverseLogarithmic":
        if integer:
            raise ValidationError(
                "ReverseLogarithmic applies to continuous ranges only", f"{field}.scaling_type"
            )
        if not (low >= 0 and high < 1):
            raise ValidationError(
                f"ReverseLogarithmic scaling needs 0 <= min_value < max_value < 1, got "
                f"[{low}, {high}]",
                f"{field}.max_value",
            )


def _check_definition(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    name: str,
    definition: TrainingJobDefinition,
    config: TuningJobConfig,
) -> dict[str, Any]:
    """Check a trial's whole training job once (channels, target, script...), and the
    hyperparameters at each end of every range, so a range the algorithm refuses is caught
    now; returns the typed hyperparameters of the first trial checked."""
    ranges = config.parameter_ranges
    lowest = {spec.name: _ends(spec)[0] for _, spec in _each_range(ranges)}
    range_fields = {spec.name: field for field, spec in _each_range(ranges)}
    request = trial_request(definition, f"{name}-0", lowest)
    try:
        checked = training.check_training_job(session, settings, store, request)
    except ValidationError as exc:
        raise _named_in_request(exc, range_fields) from None
    if definition.algorithm is not None:
        for _, spec in _each_range(ranges):
            for end in _ends(spec):
                tuned = {**lowest, spec.name: end}
                try:
                    training.check_algorithm_hyperparameters(
                        definition.algorithm, {**definition.static_hyperparameters, **tuned}
                    )
                except ValidationError as exc:
                    raise _named_in_request(exc, range_fields) from None
    return checked.hyperparameters


def _ends(spec: Any) -> list[Any]:
    if isinstance(spec, CategoricalParameterRange):
        return list(spec.values)
    return [spec.min_value, spec.max_value]


def _named_in_request(exc: ValidationError, range_fields: Mapping[str, str]) -> ValidationError:
    """The training job's error, naming the tuning request's field instead: the range of a
    tuned hyperparameter, or the training job definition's field."""
    field = exc.field or ""
    reason = exc.message.removeprefix(f"{field}: ") if field else exc.message
    if field.startswith("hyperparameters."):
        key = field.removeprefix("hyperparameters.")
        if key in range_fields:
            return ValidationError(f"{key}: {reason}", range_fields[key])
        return ValidationError(reason, f"{DEFINITION}.static_{field}")
    if field in ("name", ""):
        return ValidationError(reason, field or None)
    return ValidationError(reason, f"{DEFINITION}.{field}")


def _check_objective(
    config: TuningJobConfig, definition: TrainingJobDefinition, sample: dict[str, Any]
) -> None:
    metric = config.objective.metric_name
    field = f"{CONFIG}.objective.metric_name"
    if definition.algorithm is None:
        declared = sorted(d.name for d in definition.metric_definitions)
        if metric not in declared:
            raise ValidationError(
                f"'{metric}' is not among the metric_definitions of the training job "
                f"definition ({', '.join(declared) or 'none'}); a script's objective must be "
                "declared there (with a regex, or without one when the script reports it "
                "with log_metric)",
                field,
            )
        return
    emitted = training.emitted_metrics(definition.algorithm, sample, definition.channels)
    if metric not in emitted:
        raise ValidationError(
            f"'{metric}' is not a metric {definition.algorithm} reports for these channels; "
            f"it reports: {', '.join(sorted(emitted.final))}",
            field,
        )
    stepped = sorted(emitted.stepped)
    if config.training_job_early_stopping_type == "Auto" and metric not in emitted.stepped:
        raise ValidationError(
            f"early stopping compares trials step by step, but {definition.algorithm} "
            f"reports '{metric}' only at the end; metrics reported at every iteration: "
            f"{', '.join(stepped) or 'none (give a validation channel)'}",
            f"{CONFIG}.training_job_early_stopping_type",
        )


@dataclass(frozen=True)
class HyperbandResource:
    """What Hyperband varies per rung: this hyperparameter, up to `maximum` iterations."""

    hyperparameter: str
    maximum: int


def _check_hyperband(
    config: TuningJobConfig, definition: TrainingJobDefinition, sample: dict[str, Any]
) -> HyperbandResource | None:
    """The iteration hyperparameter Hyperband sets and its largest value; None for the
    other strategies."""
    if config.strategy != "Hyperband":
        return None
    if config.training_job_early_stopping_type != "Off":
        raise ValidationError(
            "must be Off with the Hyperband strategy, which stops trials early itself",
            f"{CONFIG}.training_job_early_stopping_type",
        )
    settings = config.strategy_config.hyperband_strategy_config
    field = f"{CONFIG}.strategy_config.hyperband_strategy_config"
    name = settings.resource_hyperparameter or _iteration_hyperparameter(definition)
    if name is None:
        raise ValidationError(
            f"{definition.algorithm} has no hyperparameter that sets its iterations "
            f"({', '.join(ITERATION_HYPERPARAMETERS)}); Hyperband needs one",
            f"{CONFIG}.strategy",
        )
    for range_field, spec in _each_range(config.parameter_ranges):
        if spec.name == name:
            raise ValidationError(
                f"'{name}' is Hyperband's resource, which it sets per rung; do not tune it",
                f"{range_field}.name",
            )
    static = str(definition.static_hyperparameters.get(name, sample.get(name)))
    maximum = settings.max_resource or (int(static) if static.isdigit() else None)
    if maximum is None:
        raise ValidationError(f"required: the most {name} a trial may run", f"{field}.max_resource")
    if settings.min_resource >= maximum:
        raise ValidationError(
            f"must be less than max_resource ({maximum})", f"{field}.min_resource"
        )
    return HyperbandResource(name, maximum)


def _iteration_hyperparameter(definition: TrainingJobDefinition) -> str | None:
    """A built-in's iteration hyperparameter, by its schema; a script's `epochs`."""
    if definition.algorithm is None:
        return "epochs"
    keys = training.hyperparameter_names(definition.algorithm)
    return next((key for key in ITERATION_HYPERPARAMETERS if key in keys), None)


def check_warm_start(session: Session, request: TuningJobIn) -> list[TuningJob]:
    """The parent tuning jobs, each ended and, for IdenticalDataAndAlgorithm, alike."""
    warm = request.warm_start_config
    if warm is None:
        return []
    parents = []
    for index, parent_name in enumerate(warm.parent_hyperparameter_tuning_jobs):
        field = f"warm_start_config.parent_hyperparameter_tuning_jobs.{index}"
        parent = session.get(TuningJob, parent_name)
        if parent is None:
            raise ValidationError(f"tuning job '{parent_name}' not found", field)
        if parent.status not in TERMINAL:
            raise ValidationError(
                f"tuning job '{parent_name}' is {parent.status}; a parent must have ended", field
            )
        if warm.warm_start_type == "IdenticalDataAndAlgorithm":
            _check_identical(parent, request, field)
        parents.append(parent)
    return parents


def _check_identical(parent: TuningJob, request: TuningJobIn, field: str) -> None:
    mine = request.training_job_definition.model_dump(mode="json")
    theirs = TrainingJobDefinition.model_validate(parent.definition).model_dump(mode="json")
    for key in ("algorithm", "entry_point", "channels", "target"):
        if mine[key] != theirs[key]:
            raise ValidationError(
                f"IdenticalDataAndAlgorithm needs the parent's {key}; '{parent.name}' has "
                f"{theirs[key]!r}; use TransferLearning for other data or algorithms",
                field,
            )
    objective = request.hyperparameter_tuning_job_config.objective
    parent_objective = TuningJobConfig.model_validate(parent.config).objective
    if objective != parent_objective:
        raise ValidationError(
            f"the parent '{parent.name}' tuned {parent_objective.metric_name} "
            f"({parent_objective.type}); a warm start keeps the objective",
            field,
        )


def trial_request(
    definition: TrainingJobDefinition, name: str, tuned: Mapping[str, Any]
) -> TrainingJobIn:
    """The CreateTrainingJob of one trial: the definition plus its tuned hyperparameters."""
    fields = definition.model_dump(exclude={"static_hyperparameters"})
    hyperparameters = {**definition.static_hyperparameters, **tuned}
    return TrainingJobIn(name=name, hyperparameters=hyperparameters, **fields)
