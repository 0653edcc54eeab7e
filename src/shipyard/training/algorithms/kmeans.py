"""k-means clustering (scikit-learn), unsupervised: a target column, if named, is ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import ProblemType, TrainingData
from shipyard.training.algorithms.hyperparameters import TabularHyperparameters
from shipyard.training.algorithms.scikit_learn import ScikitLearnAlgorithm, ScikitLearnModel


class KMeansHyperparameters(TabularHyperparameters):
    """SageMaker k-means' names; `k`, the number of clusters, is required."""

    k: int = Field(ge=1, le=100_000)
    init_method: Literal["kmeans++", "random"] = "kmeans++"
    max_iterations: int = Field(300, ge=1, le=100_000)
    tol: float = Field(1e-4, ge=0)
    seed: int = 0


class KMeansModel(ScikitLearnModel):
    """Distances have no meaning for a missing coordinate: such rows are rejected."""

    allows_missing = False


class KMeansAlgorithm(ScikitLearnAlgorithm):
    """Lloyd's k-means; `kmeans++` seeds once, `random` keeps the best of ten seedings."""

    name = "kmeans"
    hyperparameters_schema = KMeansHyperparameters
    requires_target = False
    model_class = KMeansModel

    def requested_problem_type(self, params: KMeansHyperparameters) -> ProblemType:
        return "clustering"

    def build_estimator(
        self, data: TrainingData, params: KMeansHyperparameters, cpu_count: int | None
    ) -> BaseEstimator:
        if params.k > len(data.x_train):
            raise ValidationError(
                f"is {params.k} but channel 'train' has only {len(data.x_train)} rows",
                field="hyperparameters.k",
            )
        random_init = params.init_method == "random"
        return KMeans(
            n_clusters=params.k,
            init="random" if random_init else "k-means++",
            n_init=10 if random_init else 1,
            max_iter=params.max_iterations,
            tol=params.tol,
            random_state=params.seed,
        )
