"""Shared ground of the scikit-learn algorithms: fit one estimator, save it with skops.

skops stores estimators without pickle; on load, any type skops does not trust by default
must be on the algorithm's allow-list of types it writes itself, or loading fails.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sklearn
import skops.io
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from shipyard.training.algorithms.base import Iterations, TabularAlgorithm
from shipyard.training.algorithms.dataset import CLASSIFICATION, ProblemType, TrainingData
from shipyard.training.algorithms.model_io import LoadedModel, ModelManifest

PREDICTOR_TYPES: dict[str, ProblemType | None] = {
    "auto": None,
    "binary_classifier": "binary_classification",
    "multiclass_classifier": "multiclass_classification",
    "regressor": "regression",
}


class ScikitLearnModel(LoadedModel):
    """Output of `predict_proba` (classifiers), `predict` (regression), `transform` (k-means)."""

    matrix_dtype = np.float64

    def __init__(self, manifest: ModelManifest, estimator: Any) -> None:
        super().__init__(manifest)
        self.estimator = estimator

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        if self.problem_type in CLASSIFICATION:
            return self.estimator.predict_proba(matrix)
        if self.problem_type == "clustering":
            return self.estimator.transform(matrix)
        return self.estimator.predict(matrix)


class ScikitLearnAlgorithm(TabularAlgorithm):
    """A scikit-learn algorithm; subclasses build the estimator and name its extra types."""

    model_class: ClassVar[type[ScikitLearnModel]] = ScikitLearnModel
    model_file = "model.skops"
    model_format = "skops"
    library = "scikit-learn"
    library_version = sklearn.__version__
    problem_type_parameter = "predictor_type"
    trusted_types: ClassVar[frozenset[str]] = frozenset()
    """Types skops may not trust by default that this algorithm's estimators contain."""
    serving_params: ClassVar[dict[str, Any]] = {}
    """Estimator parameters set after fitting, before saving, for fast small predictions."""

    def requested_problem_type(self, params: Any) -> ProblemType | None:
        return PREDICTOR_TYPES[params.predictor_type]

    @abstractmethod
    def build_estimator(
        self, data: TrainingData, params: Any, cpu_count: int | None
    ) -> BaseEstimator:
        """An unfitted estimator for `data.problem_type`."""

    def train(
        self,
        data: TrainingData,
        params: Any,
        manifest: ModelManifest,
        model_dir: Path,
        cpu_count: int | None,
        iterations: Iterations,
    ) -> ScikitLearnModel:
        estimator = self.build_estimator(data, params, cpu_count)
        # BLAS and OpenMP pools ignore n_jobs; cap them too
        with threadpool_limits(cpu_count) if cpu_count else nullcontext():
            if data.y_train is None:
                estimator.fit(data.x_train)
            else:
                estimator.fit(data.x_train, data.y_train)
        estimator.set_params(**self.serving_params)
        skops.io.dump(estimator, model_dir / self.model_file)
        return self.model_class(manifest, estimator)

    def read_model(self, path: Path, manifest: ModelManifest) -> ScikitLearnModel:
        return self.model_class(manifest, load_trusted(path, self.trusted_types))


def load_trusted(path: Path, allowed: frozenset[str]) -> Any:
    """skops.io.load, trusting only the types in `allowed`; raises ValueError for any other."""
    untrusted = skops.io.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - allowed)
    if unexpected:
        raise ValueError(
            f"{path.name} contains types this algorithm never writes: {', '.join(unexpected)}"
        )
    return skops.io.load(path, trusted=untrusted)
