"""Anomaly detection with an isolation forest (scikit-learn), SageMaker Random Cut Forest's role.

Unsupervised: it trains on every column but the target, which a job may name to label the
validation channel (1 or True for an anomaly) and so report `validation:auc` of the score.
A record's score is scikit-learn's `-decision_function`: the isolation forest's anomaly score
(Liu et al., 2008) less the threshold `contamination` sets, so a record above 0 is an anomaly.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

from shipyard.training.algorithms.dataset import ProblemType, TrainingData
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema
from shipyard.training.algorithms.scikit_learn import ScikitLearnAlgorithm, ScikitLearnModel

MAX_CONTAMINATION = 0.5  # scikit-learn's bound: more than half the records cannot be outliers


class AnomalyDetectionHyperparameters(HyperparameterSchema):
    """Random Cut Forest's names where they carry over (`num_trees`, `num_samples_per_tree`).

    `contamination` is "auto" (the threshold of the original paper) or the share of the train
    channel expected to be anomalies, which sets the threshold at that quantile of its scores.
    """

    num_trees: int = Field(100, ge=1, le=1000)
    num_samples_per_tree: int = Field(256, ge=2, le=2048)
    max_features: float = Field(1.0, gt=0, le=1)
    contamination: Literal["auto"] | float = "auto"
    bootstrap: bool = False
    seed: int = 0

    @field_validator("contamination", mode="before")
    @classmethod
    def _auto_or_fraction(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            fraction = float(value)
        except (TypeError, ValueError):
            fraction = float("nan")
        if not 0 < fraction <= MAX_CONTAMINATION:  # also rejects nan
            raise ValueError(f"must be 'auto' or a fraction in (0, {MAX_CONTAMINATION}]")
        return fraction


class AnomalyDetectionModel(ScikitLearnModel):
    """Scores each record: above 0 an anomaly, higher more anomalous."""

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        return -self.estimator.decision_function(matrix)


class AnomalyDetectionAlgorithm(ScikitLearnAlgorithm):
    """IsolationForest over the numeric features; missing values are allowed."""

    name = "anomaly-detection"
    hyperparameters_schema = AnomalyDetectionHyperparameters
    requires_target = False
    model_class = AnomalyDetectionModel
    trusted_types = frozenset({"sklearn.tree._tree.Tree"})
    serving_params = {"n_jobs": None}  # as for random forests: threads cost more than they save

    def requested_problem_type(self, params: AnomalyDetectionHyperparameters) -> ProblemType:
        return "anomaly_detection"

    def build_estimator(
        self, data: TrainingData, params: AnomalyDetectionHyperparameters, cpu_count: int | None
    ) -> BaseEstimator:
        return IsolationForest(
            n_estimators=params.num_trees,
            # a tree cannot sample more records than there are (scikit-learn warns, then clips)
            max_samples=min(params.num_samples_per_tree, len(data.x_train)),
            max_features=params.max_features,
            contamination=params.contamination,
            bootstrap=params.bootstrap,
            random_state=params.seed,
            n_jobs=cpu_count or -1,
        )
