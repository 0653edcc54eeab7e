"""Request and response types of the tuning room (shared by the server, SDK and CLI).

The shape is SageMaker's CreateHyperParameterTuningJob in snake_case: a training job
definition, and a tuning config with the strategy, the objective, the resource limits,
the parameter ranges and early stopping; optionally a warm start from parent jobs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.training.schemas import TrainingDefinition

TUNING_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
ScalingType = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]
Strategy = Literal["Bayesian", "Random", "Grid", "Hyperband"]
CategoricalValue = str | int | float | bool
ObjectiveStatus = Literal["Pending", "Succeeded", "Failed"]
MAX_TRAINING_JOBS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContinuousParameterRange(_Strict):
    name: str = Field(min_length=1, max_length=128)
    min_value: float
    max_value: float
    scaling_type: ScalingType = "Auto"


class IntegerParameterRange(_Strict):
    name: str = Field(min_length=1, max_length=128)
    min_value: int
    max_value: int
    scaling_type: ScalingType = "Auto"


class CategoricalParameterRange(_Strict):
    name: str = Field(min_length=1, max_length=128)
    values: list[CategoricalValue] = Field(max_length=1000)


class ParameterRanges(_Strict):
    continuous_parameter_ranges: list[ContinuousParameterRange] = Field(
        default_factory=list, max_length=30
    )
    integer_parameter_ranges: list[IntegerParameterRange] = Field(
        default_factory=list, max_length=30
    )
    categorical_parameter_ranges: list[CategoricalParameterRange] = Field(
        default_factory=list, max_length=30
    )


class Objective(_Strict):
    metric_name: str = Field(min_length=1, max_length=128)
    type: Literal["Maximize", "Minimize"]


class ResourceLimits(_Strict):
    """`max_number_of_training_jobs` defaults to the grid's size for the Grid strategy."""

    max_number_of_training_jobs: int | None = Field(default=None, ge=1, le=MAX_TRAINING_JOBS)
    max_parallel_training_jobs: int = Field(default=1, ge=1, le=100)


class HyperbandStrategyConfig(_Strict):
    """Hyperband's resource is a trial's iterations, set by `resource_hyperparameter` (by
    default a booster's `num_round` / `num_iterations`, a script's or factorization
    machine's `epochs`); `max_resource` defaults to its static value."""

    min_resource: int = Field(default=1, ge=1)
    max_resource: int | None = Field(default=None, ge=1)
    reduction_factor: int = Field(default=3, ge=2, le=10)
    resource_hyperparameter: str | None = Field(default=None, min_length=1, max_length=128)


class StrategyConfig(_Strict):
    hyperband_strategy_config: HyperbandStrategyConfig = Field(
        default_factory=HyperbandStrategyConfig
    )


class BestObjectiveNotImproving(_Strict):
    max_number_of_training_jobs_not_improving: int = Field(ge=3, le=MAX_TRAINING_JOBS)


class CompletionCriteria(_Strict):
    """End the tuning job early: once a trial reaches `target_objective_metric_value`, or
    after this many trials in a row have not improved on the best."""

    target_objective_metric_value: float | None = None
    best_objective_not_improving: BestObjectiveNotImproving | None = None


class TuningJobConfig(_Strict):
    strategy: Strategy = "Bayesian"
    strategy_config: StrategyConfig = Field(default_factory=StrategyConfig)
    objective: Objective
    resource_limits: ResourceLimits = Field(default_factory=ResourceLimits)
    parameter_ranges: ParameterRanges = Field(default_factory=ParameterRanges)
    training_job_early_stopping_type: Literal["Off", "Auto"] = "Off"
    random_seed: int = Field(default=0, ge=0, le=2**31 - 1)
    tuning_job_completion_criteria: CompletionCriteria | None = None


class TrainingJobDefinition(TrainingDefinition):
    """What every trial shares: a CreateTrainingJob without its name, and with
    `static_hyperparameters` (the tuned ones come from the ranges)."""

    static_hyperparameters: dict[str, Any] = Field(default_factory=dict)


class WarmStartConfig(_Strict):
    """Start from what parent tuning jobs (ended ones) learned.

    `IdenticalDataAndAlgorithm`: the same channels and algorithm or script; parents'
    trials inform the search. `TransferLearning`: the data or the static hyperparameters
    may differ; parents' trials still inform the search, as prior knowledge.
    """

    parent_hyperparameter_tuning_jobs: list[str] = Field(min_length=1, max_length=5)
    warm_start_type: Literal["IdenticalDataAndAlgorithm", "TransferLearning"]


class TuningJobIn(_Strict):
    """CreateHyperParameterTuningJob. Trials are named `<name>-<number>`, so the name
    leaves room for the number."""

    name: str
    hyperparameter_tuning_job_config: TuningJobConfig
    training_job_definition: TrainingJobDefinition
    warm_start_config: WarmStartConfig | None = None
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


class TrialOut(BaseModel):
    """One trial: a training job with its tuned hyperparameters and its objective. Under
    Hyperband a configuration runs as a trial per rung it reaches, each with more
    iterations; other strategies try each configuration once (`configuration` is then the
    trial's number and `rung` None)."""

    number: int
    configuration: int
    rung: int | None
    training_job_name: str
    tuned_hyperparameters: dict[str, Any]
    training_job_status: str
    objective_status: ObjectiveStatus
    final_objective_value: float | None
    early_stopped: bool
    failure_reason: str | None
    created_at: datetime
    ended_at: datetime | None


class StatusCounters(BaseModel):
    completed: int = 0
    in_progress: int = 0
    stopped: int = 0
    early_stopped: int = 0
    failed: int = 0
    pending: int = 0


class BestTrainingJob(BaseModel):
    training_job_name: str
    number: int
    final_objective_value: float
    tuned_hyperparameters: dict[str, Any]


class TuningJobOut(BaseModel):
    name: str
    srn: str
    status: str
    failure_reason: str | None
    completion_reason: str | None
    hyperparameter_tuning_job_config: TuningJobConfig
    training_job_definition: TrainingJobDefinition
    warm_start_config: WarmStartConfig | None
    tags: dict[str, str]
    training_job_status_counters: StatusCounters
    best_training_job: BestTrainingJob | None
    owner: str
    created_at: datetime
    ended_at: datetime | None


class TrialsOut(BaseModel):
    items: list[TrialOut]
