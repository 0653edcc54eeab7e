"""The built-in algorithms of the training room, picked by name, and the loader of their models.

    algorithm = get_algorithm("xgboost")
    params = algorithm.validate_hyperparameters({"max_depth": "5"})
    metrics = algorithm.fit(train, validation, "label", params, model_dir, log_metric)
    model = load_model(model_dir)
    model.predict(features)  # {"predictions": [...], "probabilities": [...]}

Each algorithm lives in its own module, imported only when first asked for, so naming
k-means never imports XGBoost.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.base import BaseAlgorithm, Emitted
from shipyard.training.algorithms.model_io import LoadedModel, ModelManifest

_ALGORITHMS: dict[str, str] = {
    "anomaly-detection": "anomaly_detection:AnomalyDetectionAlgorithm",
    "factorization-machines": "factorization_machines:FactorizationMachinesAlgorithm",
    "forecasting": "forecasting:ForecastingAlgorithm",
    "kmeans": "kmeans:KMeansAlgorithm",
    "lightgbm": "lightgbm:LightGBMAlgorithm",
    "linear-learner": "linear_learner:LinearLearnerAlgorithm",
    "random-forest": "random_forest:RandomForestAlgorithm",
    "text-classification": "text_classification:TextClassificationAlgorithm",
    "xgboost": "xgboost:XGBoostAlgorithm",
}
ALGORITHM_NAMES: tuple[str, ...] = tuple(sorted(_ALGORITHMS))

__all__ = [
    "ALGORITHM_NAMES",
    "BaseAlgorithm",
    "Emitted",
    "LoadedModel",
    "ModelManifest",
    "get_algorithm",
    "load_model",
]


def get_algorithm(name: str) -> BaseAlgorithm:
    """The algorithm called `name`; raises ValidationError(field="algorithm") for another name."""
    if name not in _ALGORITHMS:
        raise ValidationError(
            f"unknown algorithm {name!r}; expected one of {', '.join(ALGORITHM_NAMES)}",
            field="algorithm",
        )
    module_name, class_name = _ALGORITHMS[name].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    algorithm: BaseAlgorithm = getattr(module, class_name)()
    return algorithm


def load_model(model_dir: str | Path) -> LoadedModel:
    """Read `shipyard-model.json` and the model file it names from `model_dir`.

    Raises FileNotFoundError without a manifest, ValueError for a manifest or model file this
    package did not write (including skops types outside the algorithm's allow-list).
    """
    model_dir = Path(model_dir)
    manifest = ModelManifest.read(model_dir)
    if manifest.algorithm not in _ALGORITHMS:
        raise ValueError(f"{model_dir} holds a model of unknown algorithm {manifest.algorithm!r}")
    return get_algorithm(manifest.algorithm).load(model_dir, manifest)
