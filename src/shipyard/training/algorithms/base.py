"""The contracts of the built-in algorithms: `BaseAlgorithm` for every one, and
`TabularAlgorithm` for those that learn from a numeric feature matrix.

    BaseAlgorithm        validate hyperparameters, fit from data frames, reload a model
    └── TabularAlgorithm numeric features and an encoded target; class weights, k-fold
                         cross-validation, per-iteration curves streamed while training
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import crossval
from shipyard.training.algorithms.dataset import (
    CLASSIFICATION,
    ProblemType,
    TrainingData,
    prepare_training_data,
)
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema
from shipyard.training.algorithms.metrics import evaluate, final_metric_names
from shipyard.training.algorithms.model_io import LoadedModel, ModelFormat, ModelManifest

MetricLogger = Callable[[str, float, int | None], None]
"""log_metric(name, value, step): step is the boosting iteration, or None for a final metric."""

StopCheck = Callable[[int, Mapping[str, float]], str | None]
"""should_stop(step, metrics of that step): why training should end now, or None to go on."""

SUPERVISED: tuple[ProblemType, ...] = (*CLASSIFICATION, "regression")


class BaseAlgorithm(ABC):
    """A built-in algorithm: validates its hyperparameters, trains, saves and reloads a model.

    Algorithms hold no state; one instance may fit many models. `fit` writes the model and
    its manifest (`shipyard-model.json`) into the model directory, logs and returns the
    final metrics; `emitted_metrics` says beforehand which metrics a job will report, so a
    tuning objective can be checked before anything runs.
    """

    name: ClassVar[str]
    hyperparameters_schema: ClassVar[type[HyperparameterSchema]]
    requires_target: ClassVar[bool] = True
    model_format: ClassVar[ModelFormat]
    library: ClassVar[str]
    library_version: ClassVar[str]
    channel_formats: ClassVar[frozenset[str]] = frozenset({"csv", "parquet"})
    """The channel formats `fit` reads (see `shipyard.data.tables`)."""
    training_extras: ClassVar[Mapping[str, str]] = {}
    """Optional modules that `fit` imports, each with the extra of `shipyard` that installs it;
    loading and serving a model never needs them."""

    def check_training_extras(self) -> None:
        """Raises ValidationError(field="algorithm") when a module `fit` needs is not installed
        here; cheap (nothing is imported), so a request can be checked before it is queued."""
        for module, extra in self.training_extras.items():
            if importlib.util.find_spec(module) is None:
                raise ValidationError(missing_extra(self.name, module, extra), field="algorithm")

    def validate_hyperparameters(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Typed values with defaults filled in; raises ValidationError on `hyperparameters.*`."""
        return self.hyperparameters_schema.parse(raw).to_dict()

    @abstractmethod
    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        log_metric: MetricLogger,
        cpu_count: int | None = None,
        should_stop: StopCheck | None = None,
    ) -> dict[str, float]:
        """Train on `train`, write the model and its manifest into `model_dir`.

        Logs, then returns, the final metrics (`<channel>:<metric>`). Algorithms that train
        in iterations log each iteration's metrics with its step as it ends, and end early
        when `should_stop` gives a reason. `cpu_count` caps the threads. Raises
        ValidationError for bad channels, target or hyperparameters.
        """

    @abstractmethod
    def emitted_metrics(
        self, hyperparameters: Mapping[str, Any], channels: Iterable[str]
    ) -> Emitted:
        """The metrics a job with these (validated) hyperparameters and channels reports."""

    def check_columns(  # noqa: B027 - a hook, empty by default: most algorithms need nothing
        self,
        hyperparameters: Mapping[str, Any],
        target: str | None,
        columns: Mapping[str, Sequence[str]],
    ) -> None:
        """Refuse, before a job is queued, channels whose headers (`columns`, by channel)
        cannot feed these (validated) hyperparameters; types and values are for `fit` to
        check. Raises ValidationError naming the field. The target is checked by the training
        service; by default nothing else is needed."""

    def load(self, model_dir: Path, manifest: ModelManifest) -> LoadedModel:
        """Read the model file named by `manifest`; raises ValueError if it is not ours."""
        if manifest.format != self.model_format:
            raise ValueError(
                f"{self.name} reads format {self.model_format!r}, the manifest says "
                f"{manifest.format!r}"
            )
        return self.read_model(model_dir / manifest.model_file, manifest)

    @abstractmethod
    def read_model(self, path: Path, manifest: ModelManifest) -> LoadedModel:
        """Load a model file this algorithm wrote."""


class Emitted:
    """The metric names a job reports: `final` ones once, `stepped` ones at every iteration
    (a stepped metric is also final: its last value is the job's)."""

    def __init__(self, final: Iterable[str], stepped: Iterable[str] = ()) -> None:
        self.stepped = frozenset(stepped)
        self.final = frozenset(final) | self.stepped

    def __contains__(self, name: object) -> bool:
        return name in self.final


class Iterations:
    """Where an iterative algorithm reports each iteration's metrics while it trains.

    `report` logs them with their step and returns True when training should end now;
    `stop_reason` then says why.
    """

    def __init__(self, log_metric: MetricLogger, should_stop: StopCheck | None = None) -> None:
        self.log_metric = log_metric
        self.should_stop = should_stop
        self.stop_reason: str | None = None

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        for name, value in metrics.items():
            self.log_metric(name, float(value), step)
        if self.should_stop is not None and self.stop_reason is None:
            self.stop_reason = self.should_stop(step, metrics)
        return self.stop_reason is not None


SILENT = Iterations(lambda _name, _value, _step: None)
"""For fits whose curves nobody reads: the folds of a cross-validation."""


class TabularAlgorithm(BaseAlgorithm):
    """An algorithm over a numeric feature matrix, with the same `fit` for all.

    Subclasses declare their schema and model format as class attributes and implement
    `requested_problem_type`, `train` and `read_model`. `fit` checks the channels, runs
    the k-fold cross-validation when `k_fold` asks for it, trains the final model
    (streaming its curves), computes the final metrics and writes the manifest.
    """

    model_class: ClassVar[type[LoadedModel]]
    model_file: ClassVar[str]
    problem_type_parameter: ClassVar[str] = "objective"
    """The hyperparameter that picks the problem type; named in errors about the target."""

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        log_metric: MetricLogger,
        cpu_count: int | None = None,
        should_stop: StopCheck | None = None,
    ) -> dict[str, float]:
        """Every column but `target` is a feature (numeric or bool); see `BaseAlgorithm.fit`."""
        params = self.hyperparameters_schema.parse(hyperparameters)
        data = prepare_training_data(
            train,
            validation,
            target,
            self.requested_problem_type(params),
            requested_by=f"hyperparameters.{self.problem_type_parameter}",
            dtype=self.model_class.matrix_dtype,
            allows_missing=self.model_class.allows_missing,
        )
        manifest = ModelManifest(
            algorithm=self.name,
            problem_type=data.problem_type,
            target=data.target,
            feature_names=data.feature_names,
            classes=data.classes,
            model_file=self.model_file,
            format=self.model_format,
            library=self.library,
            library_version=self.library_version,
            hyperparameters=params.to_dict(),
        )
        model_dir.mkdir(parents=True, exist_ok=True)
        metrics: dict[str, float] = {}
        k_fold = getattr(params, "k_fold", None)
        if k_fold:
            metrics |= self.cross_validate(data, params, manifest, model_dir, cpu_count, k_fold)
        iterations = Iterations(log_metric, should_stop)
        model = self.train(data, params, manifest, model_dir, cpu_count, iterations)
        metrics |= evaluate(
            data.problem_type, "train", data.y_train, model.raw_predict(data.x_train)
        )
        if data.x_validation is not None:
            metrics |= evaluate(
                data.problem_type,
                "validation",
                data.y_validation,
                model.raw_predict(data.x_validation),
            )
        manifest.write(model_dir)
        for name, value in metrics.items():
            log_metric(name, value, None)
        return metrics

    def cross_validate(
        self,
        data: TrainingData,
        params: Any,
        manifest: ModelManifest,
        model_dir: Path,
        cpu_count: int | None,
        k_fold: int,
    ) -> dict[str, float]:
        """Train on k-1 folds of the train channel, score the one left out, k times:
        `cv:<metric>:mean` and `cv:<metric>:std` over the folds. Each fold watches its own
        held-out part for early stopping."""
        fold_dir = model_dir.parent / f".{model_dir.name}-fold"
        fold_dir.mkdir(exist_ok=True)
        scores = []
        for fold in crossval.folds(data, k_fold, seed=getattr(params, "seed", 0)):
            model = self.train(fold, params, manifest, fold_dir, cpu_count, SILENT)
            assert fold.x_validation is not None
            raw = model.raw_predict(fold.x_validation)
            scores.append(evaluate(data.problem_type, "cv", fold.y_validation, raw))
        for leftover in fold_dir.iterdir():
            leftover.unlink()
        fold_dir.rmdir()
        return crossval.summarize(scores)

    def emitted_metrics(
        self, hyperparameters: Mapping[str, Any], channels: Iterable[str]
    ) -> Emitted:
        params = self.hyperparameters_schema.parse(hyperparameters)
        requested = self.requested_problem_type(params)
        problem_types = (requested,) if requested else SUPERVISED
        channel_names = set(channels)
        scored = ["train", *(["validation"] if "validation" in channel_names else [])]
        final = {
            f"{channel}:{metric}"
            for problem_type in problem_types
            for channel in scored
            for metric in final_metric_names(problem_type, channel)
        }
        if getattr(params, "k_fold", None):
            final |= {
                f"cv:{metric}:{summary}"
                for problem_type in problem_types
                for metric in final_metric_names(problem_type, "cv")
                for summary in ("mean", "std")
            }
        stepped: set[str] = set()
        if "validation" in channel_names:
            stepped = {
                f"{channel}:{metric}"
                for channel in ("train", "validation")
                for metric in self.curve_metric_names(params, problem_types)
            }
        return Emitted(final, stepped)

    def curve_metric_names(self, params: Any, problem_types: Iterable[ProblemType]) -> set[str]:
        """The metrics logged at every iteration on each channel (boosters override)."""
        return set()

    @abstractmethod
    def requested_problem_type(self, params: Any) -> ProblemType | None:
        """The problem type the hyperparameters ask for, or None to infer it from the target."""

    @abstractmethod
    def train(
        self,
        data: TrainingData,
        params: Any,
        manifest: ModelManifest,
        model_dir: Path,
        cpu_count: int | None,
        iterations: Iterations,
    ) -> LoadedModel:
        """Fit, save `model_dir / manifest.model_file`, return the in-memory model.

        Iterative algorithms report each iteration to `iterations` (with the validation
        channel, when there is one) and end when it says so.
        """


def missing_extra(algorithm: str, module: str, extra: str) -> str:
    """What to tell a user whose environment lacks the optional `module` of `algorithm`."""
    return (
        f"{algorithm} needs {module} to train, which is not installed: "
        f"pip install 'shipyard[{extra}]' (serving its models does not need it)"
    )


def require_validation(data: TrainingData, parameter: str) -> None:
    """Early stopping watches the validation channel, so it needs one."""
    if data.x_validation is None:
        raise ValidationError(
            "needs a validation channel to watch", field=f"hyperparameters.{parameter}"
        )


def class_weights(data: TrainingData, parameter: str = "class_weight") -> np.ndarray:
    """Per-row weights that make every class weigh the same in total ("balanced": the
    weight of class c is n / (k * n_c), scikit-learn's definition), from the train channel."""
    if data.problem_type not in CLASSIFICATION or data.y_train is None or data.classes is None:
        raise ValidationError(
            "'balanced' applies to classification only", field=f"hyperparameters.{parameter}"
        )
    counts = np.bincount(data.y_train, minlength=len(data.classes)).astype(np.float64)
    per_class = len(data.y_train) / (len(data.classes) * np.maximum(counts, 1.0))
    return per_class[data.y_train]


def booster_positive_weight(
    data: TrainingData, scale_pos_weight: float | str, class_weight: str | None
) -> float | None:
    """A booster's `scale_pos_weight` (None where it does not apply): as given, or for
    "auto" the negatives over the positives of the train channel (binary only)."""
    field = "hyperparameters.scale_pos_weight"
    if class_weight == "balanced" and scale_pos_weight != 1.0:
        raise ValidationError(
            "give scale_pos_weight or class_weight 'balanced', not both: each reweighs the classes",
            field=field,
        )
    binary = data.problem_type == "binary_classification" and data.y_train is not None
    if scale_pos_weight != "auto":
        return float(scale_pos_weight) if binary else None
    if not binary or data.y_train is None:
        raise ValidationError("'auto' applies to binary classification only", field=field)
    positives = float(np.sum(data.y_train == 1))
    return (len(data.y_train) - positives) / max(positives, 1.0)
