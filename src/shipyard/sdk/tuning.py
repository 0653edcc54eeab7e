"""``HyperparameterTuner`` and the parameter ranges, in the shape of the SageMaker SDK.

tuner = shipyard.HyperparameterTuner(
    estimator,
    objective_metric_name="validation:auc",
    hyperparameter_ranges={
        "eta": shipyard.ContinuousParameter(0.01, 0.3, scaling_type="Logarithmic"),
        "max_depth": shipyard.IntegerParameter(2, 10),
    },
    max_jobs=30,
    max_parallel_jobs=3,
)
tuner.fit({"train": train, "validation": validation})
tuner.best_estimator().deploy("my-endpoint")
tuner.analytics()  # a DataFrame, a row per trial
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.training import Estimator
from shipyard.sdk.waiting import UnexpectedStatus, unique_name, wait_until

TUNING_FINAL_STATUSES = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class _NumericRange:
    min_value: float
    max_value: float
    scaling_type: str = "Auto"

    def as_range(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "scaling_type": self.scaling_type,
        }


@dataclass(frozen=True)
class ContinuousParameter(_NumericRange):
    """A real-valued range, e.g. ``ContinuousParameter(0.01, 0.3, scaling_type="Logarithmic")``;
    scaling is Auto, Linear, Logarithmic or ReverseLogarithmic."""


@dataclass(frozen=True)
class IntegerParameter(_NumericRange):
    """An integer range, both ends included, e.g. ``IntegerParameter(2, 10)``."""

    min_value: int
    max_value: int


@dataclass(frozen=True)
class CategoricalParameter:
    """A choice among values, e.g. ``CategoricalParameter(["gbtree", "dart"])``."""

    values: Sequence[Any]

    def as_range(self, name: str) -> dict[str, Any]:
        return {"name": name, "values": list(self.values)}


ParameterRange = ContinuousParameter | IntegerParameter | CategoricalParameter
_RANGE_KINDS = {
    ContinuousParameter: "continuous_parameter_ranges",
    IntegerParameter: "integer_parameter_ranges",
    CategoricalParameter: "categorical_parameter_ranges",
}


@dataclass(frozen=True)
class WarmStartConfig:
    """Start a tuning job from what ended ones learned (``IdenticalDataAndAlgorithm`` or
    ``TransferLearning``)."""

    warm_start_type: str
    parents: Sequence[str] = field(default_factory=tuple)

    def to_request(self) -> dict[str, Any]:
        return {
            "warm_start_type": self.warm_start_type,
            "parent_hyperparameter_tuning_jobs": list(self.parents),
        }


class TuningJob:
    """A tuning job on the server, by name."""

    def __init__(self, name: str, session: Session) -> None:
        self.name = validate_name(name)
        self.session = session

    def describe(self) -> dict[str, Any]:
        return self.session.get(f"/api/v1/tuning-jobs/{self.name}")

    def training_jobs(self) -> list[dict[str, Any]]:
        return self.session.get(f"/api/v1/tuning-jobs/{self.name}/training-jobs")["items"]

    def stop(self) -> dict[str, Any]:
        return self.session.post(f"/api/v1/tuning-jobs/{self.name}/stop")

    def wait(self, timeout: float | None = None, progress: bool = False) -> dict[str, Any]:
        """Block until the tuning job ends; raise UnexpectedStatus unless it Completed."""
        reporter = _ProgressLine() if progress else None
        description = wait_until(
            self.describe, done=TUNING_FINAL_STATUSES, on_poll=reporter, timeout=timeout
        )
        if description["status"] != "Completed":
            raise UnexpectedStatus(
                f"tuning job {self.name} ended {description['status']}: "
                f"{description.get('failure_reason')}",
                description,
            )
        return description


class _ProgressLine:
    """Prints the trial counters when they change."""

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, description: dict[str, Any]) -> None:
        counters = description["training_job_status_counters"]
        line = ", ".join(f"{k}={v}" for k, v in counters.items() if v)
        if line != self.last:
            print(f"{description['name']}: {description['status']} ({line})", flush=True)
            self.last = line


class HyperparameterTuner:
    """Runs many training jobs of `estimator`, each with hyperparameters picked from the
    ranges by `strategy` (Bayesian, Random, Grid or Hyperband), toward the objective."""

    def __init__(
        self,
        estimator: Estimator,
        objective_metric_name: str,
        hyperparameter_ranges: Mapping[str, ParameterRange],
        *,
        objective_type: str = "Maximize",
        metric_definitions: list[dict[str, Any]] | None = None,
        strategy: str = "Bayesian",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        early_stopping_type: str = "Off",
        random_seed: int = 0,
        base_tuning_job_name: str | None = None,
        warm_start_config: WarmStartConfig | None = None,
        target_objective_value: float | None = None,
        max_jobs_not_improving: int | None = None,
        hyperband_strategy_config: Mapping[str, int] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        for name, spec in hyperparameter_ranges.items():
            if not isinstance(spec, ContinuousParameter | IntegerParameter | CategoricalParameter):
                raise ValidationError(
                    "expected a ContinuousParameter, IntegerParameter or CategoricalParameter",
                    f"hyperparameter_ranges.{name}",
                )
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = dict(hyperparameter_ranges)
        self.objective_type = objective_type
        self.metric_definitions = metric_definitions
        self.strategy = strategy
        self.max_jobs = max_jobs
        self.max_parallel_jobs = max_parallel_jobs
        self.early_stopping_type = early_stopping_type
        self.random_seed = random_seed
        self.base_tuning_job_name = base_tuning_job_name
        self.warm_start_config = warm_start_config
        self.target_objective_value = target_objective_value
        self.max_jobs_not_improving = max_jobs_not_improving
        self.hyperband_strategy_config = dict(hyperband_strategy_config or {})
        self.tags = dict(tags or {})
        self.latest_tuning_job: TuningJob | None = None

    @property
    def session(self) -> Session:
        return self.estimator.session

    def fit(
        self,
        inputs: Mapping[str, Any],
        *,
        job_name: str | None = None,
        wait: bool = True,
        progress: bool = False,
    ) -> TuningJob:
        """Create the tuning job (uploading local inputs); by default wait for it to end."""
        base = self.base_tuning_job_name or self.estimator.base_job_name or "tuning"
        name = job_name or _short_unique_name(base)
        request = self.tuning_job_request(name, inputs)
        self.session.post("/api/v1/tuning-jobs", json=request)
        self.latest_tuning_job = TuningJob(name, self.session)
        if wait:
            self.latest_tuning_job.wait(progress=progress)
        return self.latest_tuning_job

    def tuning_job_request(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        definition = self.estimator.training_job_request(inputs)
        definition["static_hyperparameters"] = {
            k: v
            for k, v in definition.pop("hyperparameters").items()
            if k not in self.hyperparameter_ranges
        }
        if self.metric_definitions is not None:
            definition["metric_definitions"] = self.metric_definitions
        request: dict[str, Any] = {
            "name": name,
            "hyperparameter_tuning_job_config": self._config(),
            "training_job_definition": definition,
            "tags": self.tags,
        }
        if self.warm_start_config is not None:
            request["warm_start_config"] = self.warm_start_config.to_request()
        return request

    def _config(self) -> dict[str, Any]:
        ranges: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _RANGE_KINDS.values()}
        for name, spec in self.hyperparameter_ranges.items():
            ranges[_RANGE_KINDS[type(spec)]].append(spec.as_range(name))
        config: dict[str, Any] = {
            "strategy": self.strategy,
            "objective": {"metric_name": self.objective_metric_name, "type": self.objective_type},
            "resource_limits": {
                "max_number_of_training_jobs": self.max_jobs,
                "max_parallel_training_jobs": self.max_parallel_jobs,
            },
            "parameter_ranges": ranges,
            "training_job_early_stopping_type": self.early_stopping_type,
            "random_seed": self.random_seed,
        }
        if self.hyperband_strategy_config:
            config["strategy_config"] = {
                "hyperband_strategy_config": self.hyperband_strategy_config
            }
        criteria: dict[str, Any] = {}
        if self.target_objective_value is not None:
            criteria["target_objective_metric_value"] = self.target_objective_value
        if self.max_jobs_not_improving is not None:
            criteria["best_objective_not_improving"] = {
                "max_number_of_training_jobs_not_improving": self.max_jobs_not_improving
            }
        if criteria:
            config["tuning_job_completion_criteria"] = criteria
        return config

    # ---- after fit ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return self._require_job().describe()

    def stop(self) -> dict[str, Any]:
        return self._require_job().stop()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        return self._require_job().wait(timeout=timeout)

    def best_training_job(self) -> str:
        """The name of the training job with the best objective so far."""
        best = self.describe()["best_training_job"]
        if best is None:
            raise ValidationError("no trial has reported the objective yet", "best_training_job")
        return best["training_job_name"]

    def best_estimator(self) -> Estimator:
        """An Estimator attached to the best training job: `.deploy()` serves its model."""
        return Estimator.attach(self.best_training_job(), session=self.session)

    def deploy(self, endpoint_name: str | None = None, *, wait: bool = True) -> Any:
        """Deploy the best training job's model; returns a Predictor."""
        return self.best_estimator().deploy(endpoint_name, wait=wait)

    def analytics(self) -> Any:
        """A pandas DataFrame, a row per trial: its hyperparameters, objective, status and
        times (SageMaker's HyperparameterTuningJobAnalytics.dataframe())."""
        import pandas as pd

        rows = []
        for trial in self._require_job().training_jobs():
            row = dict(trial["tuned_hyperparameters"])
            row.update(
                TrainingJobName=trial["training_job_name"],
                TrialNumber=trial["number"],
                Configuration=trial["configuration"],
                Rung=trial["rung"],
                TrainingJobStatus=trial["training_job_status"],
                FinalObjectiveValue=trial["final_objective_value"],
                EarlyStopped=trial["early_stopped"],
                TrainingStartTime=pd.to_datetime(trial["created_at"]),
                TrainingEndTime=pd.to_datetime(trial["ended_at"]),
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def _require_job(self) -> TuningJob:
        if self.latest_tuning_job is None:
            raise ValidationError("call fit() first: this tuner has no tuning job yet")
        return self.latest_tuning_job


def _short_unique_name(base: str) -> str:
    """A unique name short enough for trials' names (`<name>-<number>`) to fit."""
    return unique_name(base[:30])
