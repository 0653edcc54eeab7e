"""Random forests (scikit-learn), classifier or regressor, saved with skops."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from shipyard.training.algorithms.dataset import TrainingData
from shipyard.training.algorithms.hyperparameters import TabularHyperparameters
from shipyard.training.algorithms.scikit_learn import ScikitLearnAlgorithm

_NAMED_MAX_FEATURES = ("auto", "sqrt", "log2")


class RandomForestHyperparameters(TabularHyperparameters):
    """`max_features` "auto" means "sqrt" for classifiers and all features for regressors."""

    predictor_type: Literal["auto", "binary_classifier", "multiclass_classifier", "regressor"] = (
        "auto"
    )
    num_trees: int = Field(100, ge=1, le=2000)
    max_depth: Annotated[int, Field(ge=1)] | None = None
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["auto", "sqrt", "log2"] | float = "auto"
    class_weight: Literal["balanced"] | None = None
    seed: int = 0

    @field_validator("max_features", mode="before")
    @classmethod
    def _name_or_fraction(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in _NAMED_MAX_FEATURES:
            return value.lower()
        try:
            fraction = float(value)
        except (TypeError, ValueError):
            fraction = float("nan")
        if not 0 < fraction <= 1:  # also rejects nan
            raise ValueError("must be 'auto', 'sqrt', 'log2' or a fraction in (0, 1]")
        return fraction


class RandomForestAlgorithm(ScikitLearnAlgorithm):
    """RandomForestClassifier or RandomForestRegressor; missing feature values are allowed."""

    name = "random-forest"
    hyperparameters_schema = RandomForestHyperparameters
    trusted_types = frozenset({"sklearn.tree._tree.Tree"})
    # joblib's thread start-up costs ~20 ms, more than a single row takes on one thread;
    # None still lets a caller's joblib.parallel_config choose more workers.
    serving_params = {"n_jobs": None}

    def build_estimator(
        self, data: TrainingData, params: RandomForestHyperparameters, cpu_count: int | None
    ) -> BaseEstimator:
        shared: dict[str, Any] = {
            "n_estimators": params.num_trees,
            "max_depth": params.max_depth,
            "min_samples_leaf": params.min_samples_leaf,
            "random_state": params.seed,
            "n_jobs": cpu_count or -1,
        }
        if data.problem_type == "regression":
            max_features = 1.0 if params.max_features == "auto" else params.max_features
            return RandomForestRegressor(max_features=max_features, **shared)
        max_features = "sqrt" if params.max_features == "auto" else params.max_features
        return RandomForestClassifier(
            max_features=max_features, class_weight=params.class_weight, **shared
        )
