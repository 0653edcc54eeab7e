"""LightGBM gradient-boosted trees, saved in LightGBM's own text model format."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import lightgbm as lgb
import numpy as np
from pydantic import BeforeValidator, Field, field_validator

from shipyard.training.algorithms.base import (
    Iterations,
    TabularAlgorithm,
    booster_positive_weight,
    class_weights,
    require_validation,
)
from shipyard.training.algorithms.dataset import ProblemType, TrainingData
from shipyard.training.algorithms.hyperparameters import TabularHyperparameters, split_metric_list
from shipyard.training.algorithms.model_io import (
    LoadedModel,
    ModelManifest,
    binary_to_two_columns,
)

Objective = Literal[
    "auto",
    "binary",
    "multiclass",
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
]
Metric = Literal[
    "auc",
    "average_precision",
    "binary_logloss",
    "binary_error",
    "multi_logloss",
    "multi_error",
    "auc_mu",
    "l1",
    "l2",
    "rmse",
    "mape",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "gamma",
    "gamma_deviance",
    "tweedie",
]
_DEFAULT_METRICS = {
    "binary_classification": ["auc", "binary_logloss"],
    "multiclass_classification": ["multi_error", "multi_logloss"],
    "regression": ["l1", "rmse"],
}
_CLASSIFICATION_OBJECTIVES: dict[str, ProblemType] = {
    "binary": "binary_classification",
    "multiclass": "multiclass_classification",
}
_AUTO_OBJECTIVES = {
    "binary_classification": "binary",
    "multiclass_classification": "multiclass",
    "regression": "regression",
}


class LightGBMHyperparameters(TabularHyperparameters):
    """LightGBM's own parameter names; `objective` "auto" picks binary, multiclass or L2.

    For rare classes: `scale_pos_weight` "auto" (negatives over positives of the train
    channel, binary only) or `class_weight` "balanced" (every class weighs the same).
    """

    num_iterations: int = Field(100, ge=1, le=10_000)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=131_072)
    max_depth: int = -1
    min_data_in_leaf: int = Field(20, ge=0)
    feature_fraction: float = Field(1.0, gt=0, le=1)
    bagging_fraction: float = Field(1.0, gt=0, le=1)
    bagging_freq: int = Field(0, ge=0)
    lambda_l1: float = Field(0.0, ge=0)
    lambda_l2: float = Field(0.0, ge=0)
    scale_pos_weight: Annotated[float, Field(gt=0)] | Literal["auto"] = 1.0
    class_weight: Literal["balanced"] | None = None
    objective: Objective = "auto"
    metric: Annotated[list[Metric], BeforeValidator(split_metric_list)] | None = None
    early_stopping_rounds: Annotated[int, Field(ge=1)] | None = None
    seed: int = 0

    @field_validator("max_depth")
    @classmethod
    def _no_limit_or_positive(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (no limit) or >= 1")
        return value


class LightGBMModel(LoadedModel):
    """Predicts with `Booster.predict` on a float32 matrix."""

    def __init__(self, manifest: ModelManifest, booster: lgb.Booster) -> None:
        super().__init__(manifest)
        self.booster = booster

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        output = np.asarray(self.booster.predict(matrix))
        if self.problem_type == "binary_classification":
            return binary_to_two_columns(output)
        return output


class LightGBMAlgorithm(TabularAlgorithm):
    """Early stopping keeps the best iteration, which is what the model file holds."""

    name = "lightgbm"
    hyperparameters_schema = LightGBMHyperparameters
    model_class = LightGBMModel
    model_file = "model.txt"
    model_format = "lightgbm-text"
    library = "lightgbm"
    library_version = lgb.__version__

    def requested_problem_type(self, params: LightGBMHyperparameters) -> ProblemType | None:
        if params.objective == "auto":
            return None
        return _CLASSIFICATION_OBJECTIVES.get(params.objective, "regression")

    def train(
        self,
        data: TrainingData,
        params: LightGBMHyperparameters,
        manifest: ModelManifest,
        model_dir: Path,
        cpu_count: int | None,
        iterations: Iterations,
    ) -> LightGBMModel:
        booster_params = _booster_params(data, params, cpu_count)
        weights = class_weights(data) if params.class_weight == "balanced" else None
        train = lgb.Dataset(data.x_train, label=data.y_train, weight=weights, params=booster_params)
        valid_sets, valid_names = [], []
        if data.x_validation is not None:
            validation = lgb.Dataset(
                data.x_validation, label=data.y_validation, reference=train, params=booster_params
            )
            valid_sets, valid_names = [train, validation], ["train", "validation"]
        callbacks: list[Any] = [_Report(iterations)] if valid_sets else []
        if params.early_stopping_rounds is not None:
            require_validation(data, "early_stopping_rounds")
            callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
        booster = lgb.train(
            booster_params,
            train,
            num_boost_round=params.num_iterations,
            valid_sets=valid_sets,
            valid_names=valid_names,
            callbacks=callbacks,
        )
        booster.save_model(model_dir / self.model_file)  # the best iteration when early-stopped
        return LightGBMModel(manifest, booster)

    def curve_metric_names(
        self, params: LightGBMHyperparameters, problem_types: Iterable[ProblemType]
    ) -> set[str]:
        if params.metric:
            return set(params.metric)
        return {m for t in problem_types for m in _DEFAULT_METRICS.get(t, [])}

    def read_model(self, path: Path, manifest: ModelManifest) -> LightGBMModel:
        return LightGBMModel(manifest, lgb.Booster(model_file=str(path)))


class _Report:
    """Streams each iteration's evaluation to `iterations`; ends the training when told."""

    order = 30  # after LightGBM's own early stopping (order 30 too: ours is added first)

    def __init__(self, iterations: Iterations) -> None:
        self.iterations = iterations

    def __call__(self, env: Any) -> None:
        metrics = {
            f"{channel}:{metric}": value
            for channel, metric, value, *_ in env.evaluation_result_list
        }
        if self.iterations.report(env.iteration, metrics):
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)


def _booster_params(
    data: TrainingData, params: LightGBMHyperparameters, cpu_count: int | None
) -> dict[str, Any]:
    booster_params: dict[str, Any] = {
        "objective": (
            _AUTO_OBJECTIVES[data.problem_type] if params.objective == "auto" else params.objective
        ),
        "metric": params.metric or _DEFAULT_METRICS[data.problem_type],
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": params.bagging_freq,
        "lambda_l1": params.lambda_l1,
        "lambda_l2": params.lambda_l2,
        "seed": params.seed,
        "num_threads": cpu_count or 0,  # 0: OpenMP's default
        "verbose": -1,
    }
    scale_pos_weight = booster_positive_weight(data, params.scale_pos_weight, params.class_weight)
    if scale_pos_weight is not None:
        booster_params["scale_pos_weight"] = scale_pos_weight
    if data.problem_type == "multiclass_classification":
        assert data.classes is not None
        booster_params["num_class"] = len(data.classes)
    return booster_params
