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
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.base import BaseAlgorithm, Emitted
from shipyard.training.algorithms.model_io import (
    LoadedModel,
    ModelManifest,
    NamedColumns,
    OnnxModel,
    UntrustedModelError,
)

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
# Formats only uploaded models have: read by format, not by a built-in algorithm.
UPLOADED_FORMATS = frozenset({"xgboost-json", "onnx", "pickle"})
UPLOADED_SKOPS_TYPES = frozenset({"sklearn.tree._tree.Tree"})
"""What an uploaded skops file may hold beyond the types skops trusts by default: the tree
structure of scikit-learn's forests and boosters, which the platform's own forests hold."""

__all__ = [
    "ALGORITHM_NAMES",
    "BaseAlgorithm",
    "Emitted",
    "LoadedModel",
    "ModelManifest",
    "UntrustedModelError",
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


def load_model(model_dir: str | Path, trust_pickle: bool = False) -> LoadedModel:
    """Read `shipyard-model.json` and the model file it names from `model_dir`.

    A pickle (format "pickle") is deserialized only with `trust_pickle`, which callers take
    from the database (a model registered with trust), never from the manifest or any other
    file a user could write; without it, UntrustedModelError. Raises FileNotFoundError
    without a manifest, ValueError for a manifest or model file this package did not write
    (including skops types outside the algorithm's allow-list).
    """
    model_dir = Path(model_dir)
    manifest = ModelManifest.read(model_dir)
    if manifest.format in UPLOADED_FORMATS or manifest.algorithm not in _ALGORITHMS:
        return _load_uploaded(model_dir, manifest, trust_pickle)
    return get_algorithm(manifest.algorithm).load(model_dir, manifest)


def _load_uploaded(model_dir: Path, manifest: ModelManifest, trust_pickle: bool) -> LoadedModel:
    """A model uploaded to the registry: read by its format, with the same model classes."""
    path = model_dir / manifest.model_file
    if manifest.format == "pickle":
        if not trust_pickle:
            raise UntrustedModelError(
                f"{manifest.model_file} is a pickle, which Shipyard loads only for a model "
                "package registered with trust_pickle (permission registry:TrustPickle)"
            )
        import joblib

        from shipyard.training.algorithms.scikit_learn import ScikitLearnModel

        return ScikitLearnModel(manifest, _fed_by_name(joblib.load(path), manifest))
    if manifest.format == "onnx":
        return OnnxModel.read(path, manifest)
    if manifest.format == "skops":
        from shipyard.training.algorithms.scikit_learn import ScikitLearnModel, load_trusted

        estimator = load_trusted(path, UPLOADED_SKOPS_TYPES)
        return ScikitLearnModel(manifest, _fed_by_name(estimator, manifest))
    if manifest.format in ("xgboost-ubj", "xgboost-json"):
        return get_algorithm("xgboost").read_model(path, manifest)
    if manifest.format == "lightgbm-text":
        return get_algorithm("lightgbm").read_model(path, manifest)
    raise ValueError(
        f"{model_dir} holds a model of algorithm {manifest.algorithm!r} in format "
        f"{manifest.format!r}, which no loader reads"
    )


def _fed_by_name(estimator: Any, manifest: ModelManifest) -> Any:
    """The estimator, or, when it was fitted on named columns, one fed them by name."""
    if getattr(estimator, "feature_names_in_", None) is None:
        return estimator
    return NamedColumns(estimator, manifest.feature_names)
