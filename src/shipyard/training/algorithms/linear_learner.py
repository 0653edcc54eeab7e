"""Linear models (SageMaker's linear-learner): logistic regression or least squares, scaled.

Regularisation uses SageMaker's names on a per-sample scale: the objective is the mean loss
plus `l1 * |w|_1 + wd / 2 * |w|^2`, whatever the estimator underneath.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.training.algorithms.dataset import TrainingData
from shipyard.training.algorithms.hyperparameters import TabularHyperparameters
from shipyard.training.algorithms.scikit_learn import ScikitLearnAlgorithm, ScikitLearnModel

# scikit-learn 1.8 replaced `penalty` by `l1_ratio` and `C=inf`; both spellings are supported.
_HAS_PENALTY = LogisticRegression().get_params()["penalty"] != "deprecated"


class LinearLearnerHyperparameters(TabularHyperparameters):
    """`predictor_type` "auto" infers the problem from the target."""

    predictor_type: Literal["auto", "binary_classifier", "multiclass_classifier", "regressor"] = (
        "auto"
    )
    l1: float = Field(0.0, ge=0)
    wd: float = Field(0.001, ge=0)
    use_bias: bool = True
    normalize_data: bool = True
    max_iter: int = Field(1000, ge=1, le=100_000)
    tol: float = Field(1e-4, gt=0)
    class_weight: Literal["balanced"] | None = None
    seed: int = 0


class LinearLearnerModel(ScikitLearnModel):
    """Linear models have no notion of a missing value: such rows are rejected."""

    allows_missing = False


class LinearLearnerAlgorithm(ScikitLearnAlgorithm):
    """LogisticRegression for classifiers; LinearRegression, Ridge or ElasticNet for regressors."""

    name = "linear-learner"
    hyperparameters_schema = LinearLearnerHyperparameters
    model_class = LinearLearnerModel

    def build_estimator(
        self, data: TrainingData, params: LinearLearnerHyperparameters, cpu_count: int | None
    ) -> BaseEstimator:
        estimator = (
            _regressor(data, params)
            if data.problem_type == "regression"
            else _classifier(data, params)
        )
        if not params.normalize_data:
            return estimator
        return Pipeline([("scale", StandardScaler()), ("model", estimator)])


def _classifier(data: TrainingData, params: LinearLearnerHyperparameters) -> LogisticRegression:
    strength = params.l1 + params.wd
    l1_ratio = params.l1 / strength if strength else 0.0
    inverse = 1.0 / (len(data.x_train) * strength) if strength else np.inf
    penalty: dict[str, object] = {"C": inverse, "l1_ratio": l1_ratio}
    if _HAS_PENALTY:
        penalty["penalty"] = None if not strength else ("elasticnet" if params.l1 else "l2")
        if not params.l1:
            del penalty["l1_ratio"]
        if not strength:
            del penalty["C"]
    return LogisticRegression(
        **penalty,
        solver="saga" if params.l1 else "lbfgs",
        fit_intercept=params.use_bias,
        max_iter=params.max_iter,
        tol=params.tol,
        class_weight=params.class_weight,
        random_state=params.seed,
    )


def _regressor(data: TrainingData, params: LinearLearnerHyperparameters) -> BaseEstimator:
    if params.l1:
        strength = params.l1 + params.wd
        return ElasticNet(
            alpha=strength,
            l1_ratio=params.l1 / strength,
            fit_intercept=params.use_bias,
            max_iter=params.max_iter,
            tol=params.tol,
            random_state=params.seed,
        )
    if params.wd:
        return Ridge(alpha=len(data.x_train) * params.wd, fit_intercept=params.use_bias)
    return LinearRegression(fit_intercept=params.use_bias)
