"""`BaseAlgorithm`, the contract every built-in algorithm of the training room fulfils."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import ProblemType, TrainingData, prepare_training_data
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema
from shipyard.training.algorithms.metrics import evaluate
from shipyard.training.algorithms.model_io import LoadedModel, ModelFormat, ModelManifest

MetricLogger = Callable[[str, float, int | None], None]
"""log_metric(name, value, step): step is the boosting iteration, or None for a final metric."""

Curves = dict[str, list[float]]
"""Per-iteration values by metric name, e.g. {"validation:auc": [0.91, 0.93, ...]}."""


class BaseAlgorithm(ABC):
    """A built-in algorithm: validates its hyperparameters, trains, saves and reloads a model.

    Subclasses declare their schema and model format as class attributes and implement
    `requested_problem_type`, `train` and `read_model`; `fit` does the rest the same way for all:
    it checks the channels, trains, logs curves and final metrics, and writes the manifest.
    Algorithms hold no state; one instance may fit many models.
    """

    name: ClassVar[str]
    hyperparameters_schema: ClassVar[type[HyperparameterSchema]]
    requires_target: ClassVar[bool] = True
    model_class: ClassVar[type[LoadedModel]]
    model_file: ClassVar[str]
    model_format: ClassVar[ModelFormat]
    library: ClassVar[str]
    library_version: ClassVar[str]
    problem_type_parameter: ClassVar[str] = "objective"
    """The hyperparameter that picks the problem type; named in errors about the target."""

    def validate_hyperparameters(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Typed values with defaults filled in; raises ValidationError on `hyperparameters.*`."""
        return self.hyperparameters_schema.parse(raw).to_dict()

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        log_metric: MetricLogger,
        cpu_count: int | None = None,
    ) -> dict[str, float]:
        """Train on `train`, write the model and its manifest into `model_dir`.

        Every column but `target` is a feature (numeric or bool). Logs, then returns, the final
        metrics `train:<metric>` (and `validation:<metric>` with a validation frame); boosting
        algorithms also log per-iteration curves with a step. `cpu_count` caps the threads.
        Raises ValidationError for bad channels, target or hyperparameters.
        """
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
        model, curves = self.train(data, params, manifest, model_dir, cpu_count)
        for name, values in curves.items():
            for step, value in enumerate(values):
                log_metric(name, float(value), step)
        metrics = evaluate(
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

    def load(self, model_dir: Path, manifest: ModelManifest) -> LoadedModel:
        """Read the model file named by `manifest`; raises ValueError if it is not ours."""
        if manifest.format != self.model_format:
            raise ValueError(
                f"{self.name} reads format {self.model_format!r}, the manifest says "
                f"{manifest.format!r}"
            )
        return self.read_model(model_dir / manifest.model_file, manifest)

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
    ) -> tuple[LoadedModel, Curves]:
        """Fit, save `model_dir / manifest.model_file`, return the in-memory model and curves."""

    @abstractmethod
    def read_model(self, path: Path, manifest: ModelManifest) -> LoadedModel:
        """Load a model file this algorithm wrote."""


def require_validation(data: TrainingData, parameter: str) -> None:
    """Early stopping watches the validation channel, so it needs one."""
    if data.x_validation is None:
        raise ValidationError(
            "needs a validation channel to watch", field=f"hyperparameters.{parameter}"
        )
