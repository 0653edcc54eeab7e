"""XGBoost gradient-boosted trees, saved in XGBoost's own UBJSON model format."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import xgboost as xgb
from pydantic import BeforeValidator, Field

from shipyard.core.errors import ValidationError
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
    "binary:logistic",
    "multi:softprob",
    "multi:softmax",
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:logistic",
    "reg:gamma",
    "reg:tweedie",
    "count:poisson",
]
EvalMetric = Literal[
    "auc",
    "aucpr",
    "logloss",
    "error",
    "mlogloss",
    "merror",
    "rmse",
    "rmsle",
    "mae",
    "mape",
    "mphe",
    "poisson-nloglik",
    "gamma-nloglik",
    "gamma-deviance",
    "tweedie-nloglik",
]
# Early stopping watches the last metric, so each list ends with the loss.
_DEFAULT_EVAL_METRICS = {
    "binary_classification": ["auc", "logloss"],
    "multiclass_classification": ["merror", "mlogloss"],
    "regression": ["mae", "rmse"],
}


class XGBoostHyperparameters(TabularHyperparameters):
    """SageMaker XGBoost's names; `objective` "auto" picks logistic, softprob or squared error.

    For rare classes: `scale_pos_weight` "auto" (negatives over positives of the train
    channel, binary only) or `class_weight` "balanced" (every class weighs the same).
    """

    num_round: int = Field(100, ge=1, le=10_000)
    eta: float = Field(0.3, gt=0, le=1)
    max_depth: int = Field(6, ge=0, le=30)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    gamma: float = Field(0.0, ge=0)
    alpha: float = Field(0.0, ge=0)
    lambda_: float = Field(1.0, ge=0, alias="lambda")
    scale_pos_weight: Annotated[float, Field(gt=0)] | Literal["auto"] = 1.0
    class_weight: Literal["balanced"] | None = None
    objective: Objective = "auto"
    eval_metric: Annotated[list[EvalMetric], BeforeValidator(split_metric_list)] | None = None
    num_class: Annotated[int, Field(ge=2)] | None = None
    tree_method: Literal["auto", "hist", "approx", "exact"] = "hist"
    early_stopping_rounds: Annotated[int, Field(ge=1)] | None = None
    seed: int = 0


class XGBoostModel(LoadedModel):
    """Predicts with `inplace_predict` on a float32 matrix: no DMatrix per call."""

    def __init__(self, manifest: ModelManifest, booster: xgb.Booster) -> None:
        super().__init__(manifest)
        self.booster = booster

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        output = self.booster.inplace_predict(matrix)
        if self.problem_type == "binary_classification":
            return binary_to_two_columns(output)
        return output


class XGBoostAlgorithm(TabularAlgorithm):
    """`multi:softmax` trains as `multi:softprob` (same loss) so predictions carry probabilities."""

    name = "xgboost"
    hyperparameters_schema = XGBoostHyperparameters
    model_class = XGBoostModel
    model_file = "model.ubj"
    model_format = "xgboost-ubj"
    library = "xgboost"
    library_version = xgb.__version__

    def requested_problem_type(self, params: XGBoostHyperparameters) -> ProblemType | None:
        if params.objective == "auto":
            return None
        if params.objective.startswith("binary:"):
            return "binary_classification"
        if params.objective.startswith("multi:"):
            return "multiclass_classification"
        return "regression"

    def train(
        self,
        data: TrainingData,
        params: XGBoostHyperparameters,
        manifest: ModelManifest,
        model_dir: Path,
        cpu_count: int | None,
        iterations: Iterations,
    ) -> XGBoostModel:
        if params.early_stopping_rounds is not None:
            require_validation(data, "early_stopping_rounds")
        booster_params = _booster_params(data, params, cpu_count)
        weights = class_weights(data) if params.class_weight == "balanced" else None
        quantile = params.tree_method in ("hist", "auto")
        train = _matrix(data.x_train, data.y_train, weights, quantile, None, cpu_count)
        evals = []
        if data.x_validation is not None:
            validation = _matrix(
                data.x_validation, data.y_validation, None, quantile, train, cpu_count
            )
            evals = [(train, "train"), (validation, "validation")]
        booster = xgb.train(
            booster_params,
            train,
            num_boost_round=params.num_round,
            evals=evals,
            early_stopping_rounds=params.early_stopping_rounds,
            callbacks=[_Report(iterations)] if evals else None,
            verbose_eval=False,
        )
        if params.early_stopping_rounds is not None:
            booster = booster[: booster.best_iteration + 1]  # keep the best model, not the last
        booster.save_model(model_dir / self.model_file)
        return XGBoostModel(manifest, booster)

    def curve_metric_names(
        self, params: XGBoostHyperparameters, problem_types: Iterable[ProblemType]
    ) -> set[str]:
        if params.eval_metric:
            return set(params.eval_metric)
        return {m for t in problem_types for m in _DEFAULT_EVAL_METRICS.get(t, [])}

    def read_model(self, path: Path, manifest: ModelManifest) -> XGBoostModel:
        booster = xgb.Booster()
        booster.load_model(path)
        return XGBoostModel(manifest, booster)


class _Report(xgb.callback.TrainingCallback):
    """Streams each iteration's evaluation to `iterations`, which may end the training."""

    def __init__(self, iterations: Iterations) -> None:
        super().__init__()
        self.iterations = iterations

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        metrics = {
            f"{channel}:{metric}": _latest(values)
            for channel, by_metric in evals_log.items()
            for metric, values in by_metric.items()
        }
        return self.iterations.report(epoch, metrics)


def _latest(values: Any) -> float:
    last = values[-1]
    return float(last[0] if isinstance(last, tuple) else last)  # (mean, std) under xgb.cv


def _booster_params(
    data: TrainingData, params: XGBoostHyperparameters, cpu_count: int | None
) -> dict[str, Any]:
    objective: str = params.objective
    if objective == "auto":
        objective = {
            "binary_classification": "binary:logistic",
            "multiclass_classification": "multi:softprob",
        }.get(data.problem_type, "reg:squarederror")
    booster_params: dict[str, Any] = {
        "objective": "multi:softprob" if objective == "multi:softmax" else objective,
        "eta": params.eta,
        "max_depth": params.max_depth,
        "min_child_weight": params.min_child_weight,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "gamma": params.gamma,
        "alpha": params.alpha,
        "lambda": params.lambda_,
        "tree_method": params.tree_method,
        "seed": params.seed,
        "eval_metric": params.eval_metric or _DEFAULT_EVAL_METRICS[data.problem_type],
    }
    scale_pos_weight = booster_positive_weight(data, params.scale_pos_weight, params.class_weight)
    if scale_pos_weight is not None:
        booster_params["scale_pos_weight"] = scale_pos_weight
    if data.problem_type == "multiclass_classification":
        assert data.classes is not None
        if params.num_class is not None and params.num_class != len(data.classes):
            raise ValidationError(
                f"is {params.num_class} but the target has {len(data.classes)} classes",
                field="hyperparameters.num_class",
            )
        booster_params["num_class"] = len(data.classes)
    if cpu_count is not None:
        booster_params["nthread"] = cpu_count
    return booster_params


def _matrix(
    x: np.ndarray,
    y: np.ndarray | None,
    weights: np.ndarray | None,
    quantile: bool,
    reference: xgb.DMatrix | None,
    cpu_count: int | None,
) -> xgb.DMatrix:
    if quantile:
        return xgb.QuantileDMatrix(x, label=y, weight=weights, ref=reference, nthread=cpu_count)
    return xgb.DMatrix(x, label=y, weight=weights, nthread=cpu_count)
