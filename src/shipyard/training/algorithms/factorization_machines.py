"""Factorization machines (SageMaker's factorization-machines): binary classifiers and
regressors on sparse, high-cardinality inputs such as user id × item id × context.

    ŷ = w0 + Σ w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j

Inputs are id columns named in `categorical_columns` (one-hot encoded on the fly, see
`fm_features`), other numeric columns, or the sparse rows of a libsvm channel. Training
needs PyTorch, the optional extra `shipyard[torch]` (`fm_training`); the model is saved as
numpy arrays and served by numpy alone (`fm_model`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, Field

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.base import (
    BaseAlgorithm,
    Emitted,
    Iterations,
    MetricLogger,
    StopCheck,
)
from shipyard.training.algorithms.dataset import (
    NUMERIC_KINDS,
    ProblemType,
    encode_classes,
    infer_problem_type,
    require_target,
    shorten_names,
    target_values,
)
from shipyard.training.algorithms.fm_curves import CURVE_METRICS, EpochCurves, evaluated
from shipyard.training.algorithms.fm_features import FeatureSpace
from shipyard.training.algorithms.fm_model import FEATURE_SPACE_OPTION, FactorizationMachineModel
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema, split_metric_list
from shipyard.training.algorithms.metrics import final_metric_names
from shipyard.training.algorithms.model_io import ModelManifest

PREDICTOR_TYPES: dict[str, ProblemType | None] = {
    "auto": None,
    "binary_classifier": "binary_classification",
    "regressor": "regression",
}


class FactorizationMachinesHyperparameters(HyperparameterSchema):
    """SageMaker's names where it has them; `predictor_type` "auto" infers the problem.

    The L2 coefficients weigh each parameter per row that uses it (see `fm_training`).
    `categorical_columns` ("user_id,item_id") are one-hot encoded, keeping per column the
    `max_categories` most frequent ids seen `min_category_count` times or more; other ids
    share an out-of-vocabulary bucket.
    """

    predictor_type: Literal["auto", "binary_classifier", "regressor"] = "auto"
    num_factors: int = Field(16, ge=1, le=1024)
    epochs: int = Field(10, ge=1, le=10_000)
    mini_batch_size: int = Field(1000, ge=1, le=1_000_000)
    optimizer: Literal["adam", "adagrad"] = "adam"
    learning_rate: float = Field(0.01, gt=0, le=10)
    bias_wd: float = Field(0.0, ge=0)
    linear_wd: float = Field(0.001, ge=0)
    factors_wd: float = Field(0.05, ge=0)
    factors_init_sigma: float = Field(0.01, ge=0, le=10)
    categorical_columns: Annotated[list[str], BeforeValidator(split_metric_list)] = Field(
        default_factory=list
    )
    min_category_count: int = Field(1, ge=1)
    max_categories: int = Field(1_000_000, ge=1, le=100_000_000)
    early_stopping_patience: Annotated[int, Field(ge=1)] | None = None
    early_stopping_tolerance: float = Field(0.001, ge=0, lt=1)
    seed: int = 0


class FactorizationMachinesAlgorithm(BaseAlgorithm):
    """A second-order factorization machine; see the module docstring."""

    name = "factorization-machines"
    hyperparameters_schema = FactorizationMachinesHyperparameters
    model_format = "fm-npz"
    model_file = "model.npz"
    feature_space_file = "feature-space.json"
    library = "numpy"
    library_version = np.__version__
    channel_formats = frozenset({"csv", "parquet", "libsvm"})
    training_extras = {"torch": "torch"}

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
        """Every column but `target` is a feature: one-hot ids (`categorical_columns`),
        sparse rows (a libsvm channel's `features`) or numbers. Trains on one thread, so
        `cpu_count` has nothing to cap (see `fm_training`). See `BaseAlgorithm.fit`."""
        self.check_training_extras()
        params = FactorizationMachinesHyperparameters.parse(hyperparameters)
        target = self._checked_target(train, validation, target, params)
        problem_type, classes, y_train, y_validation = _encoded_target(
            train, validation, target, params
        )
        features = train.drop(columns=[target])
        space = FeatureSpace.learn(
            features,
            params.categorical_columns,
            min_category_count=params.min_category_count,
            max_categories=params.max_categories,
        )
        x_train = space.encode(features, "channels.train")
        channels = {"train": (x_train, y_train)}
        if validation is not None and y_validation is not None:
            x_validation = space.encode(validation.drop(columns=[target]), "channels.validation")
            channels["validation"] = (x_validation, y_validation)
        manifest = self._manifest(space, problem_type, target, classes, params)
        curves = None
        if "validation" in channels:
            curves = EpochCurves(
                manifest,
                space,
                channels,
                Iterations(log_metric, should_stop),
                params.early_stopping_patience,
                params.early_stopping_tolerance,
            )
        from shipyard.training.algorithms.fm_training import train_factors

        binary = problem_type == "binary_classification"
        factors = train_factors(x_train, y_train, binary, params, curves)
        if curves is not None and curves.best is not None and curves.patience is not None:
            factors = curves.best
        model = FactorizationMachineModel(manifest, space, factors)
        model_dir.mkdir(parents=True, exist_ok=True)
        model.save(model_dir)
        manifest.write(model_dir)
        metrics = evaluated(model, channels)
        for name, value in metrics.items():
            log_metric(name, value, None)
        return metrics

    def _checked_target(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        params: FactorizationMachinesHyperparameters,
    ) -> str:
        """The target, once the channels can feed these hyperparameters."""
        if len(train) == 0:
            raise ValidationError("channel 'train' has no rows", field="channels.train")
        target = require_target(train, validation, target)
        self.check_columns(params.to_dict(), target, {"train": [str(c) for c in train.columns]})
        if params.early_stopping_patience is not None and validation is None:
            raise ValidationError(
                "needs a validation channel to watch",
                field="hyperparameters.early_stopping_patience",
            )
        return target

    def _manifest(
        self,
        space: FeatureSpace,
        problem_type: ProblemType,
        target: str,
        classes: list[Any] | None,
        params: FactorizationMachinesHyperparameters,
    ) -> ModelManifest:
        return ModelManifest(
            algorithm=self.name,
            problem_type=problem_type,
            target=target,
            feature_names=space.names,
            classes=classes,
            model_file=self.model_file,
            format=self.model_format,
            library=self.library,
            library_version=self.library_version,
            hyperparameters=params.to_dict(),
            options={FEATURE_SPACE_OPTION: self.feature_space_file},
        )

    def emitted_metrics(
        self, hyperparameters: Mapping[str, Any], channels: Iterable[str]
    ) -> Emitted:
        params = FactorizationMachinesHyperparameters.parse(hyperparameters)
        requested = PREDICTOR_TYPES[params.predictor_type]
        problem_types = [requested] if requested else list(CURVE_METRICS)
        validated = "validation" in set(channels)
        scored = ["train", "validation"] if validated else ["train"]
        final = {
            f"{channel}:{metric}"
            for problem_type in problem_types
            for channel in scored
            for metric in final_metric_names(problem_type, channel)
        }
        stepped = {
            f"{channel}:{metric}"
            for problem_type in problem_types
            for channel in ("train", "validation")
            for metric in CURVE_METRICS[problem_type]
            if validated
        }
        return Emitted(final, stepped)

    def check_columns(
        self,
        hyperparameters: Mapping[str, Any],
        target: str | None,
        columns: Mapping[str, Sequence[str]],
    ) -> None:
        """Every one of `categorical_columns` is a column of the train channel, not the target."""
        field = "hyperparameters.categorical_columns"
        train = list(columns.get("train", []))
        for name in FactorizationMachinesHyperparameters.parse(hyperparameters).categorical_columns:
            if name == target:
                raise ValidationError(f"'{name}' is the target, not a feature", field=field)
            if name not in train:
                raise ValidationError(
                    f"column '{name}' not found in channel 'train'; columns are: "
                    f"{shorten_names(train)}",
                    field=field,
                )

    def read_model(self, path: Path, manifest: ModelManifest) -> FactorizationMachineModel:
        return FactorizationMachineModel.read(path, manifest)


def _encoded_target(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str,
    params: FactorizationMachinesHyperparameters,
) -> tuple[ProblemType, list[Any] | None, np.ndarray, np.ndarray | None]:
    """The problem type, the classes (None for a regressor) and each channel's target as
    trained on: class codes 0/1, or values."""
    field = "hyperparameters.predictor_type"
    y_train = target_values(train, target, "train")
    y_validation = None if validation is None else target_values(validation, target, "validation")
    problem_type = PREDICTOR_TYPES[params.predictor_type] or infer_problem_type(y_train)
    if problem_type == "regression":
        values = None if y_validation is None else _numbers(y_validation, target, field)
        return problem_type, None, _numbers(y_train, target, field), values
    if problem_type != "binary_classification":
        raise ValidationError(
            f"factorization machines are binary classifiers or regressors; target "
            f"'{target}' has {y_train.nunique()} classes (set 'regressor' for a numeric target)",
            field=field,
        )
    classes, codes_train, codes_validation = encode_classes(
        y_train, y_validation, target, problem_type, field
    )
    return problem_type, classes, codes_train, codes_validation


def _numbers(y: pd.Series, target: str, field: str) -> np.ndarray:
    if y.dtype.kind not in NUMERIC_KINDS:
        raise ValidationError(
            f"regression needs a numeric target, '{target}' has type {y.dtype}", field=field
        )
    return y.to_numpy(dtype=np.float64)
