"""The model directory's manifest, and the loaded model that serves predictions from it.

A model directory holds the model in its library's safe format, in one file or a few beside
it, and `shipyard-model.json`, the manifest that says how to read and feed it. The platform
never writes a pickle; an uploaded one (format "pickle") is kept but loaded only when the
caller passes the trust flag it read from the database (see `load_model`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import (
    CLASSIFICATION,
    NUMERIC_KINDS,
    ProblemType,
    shorten_names,
)

MANIFEST_FILE = "shipyard-model.json"
ModelFormat = Literal[
    "xgboost-ubj",
    "xgboost-json",
    "lightgbm-text",
    "skops",
    "fm-npz",
    "lightgbm-forecast",
    "onnx",
    "pickle",
]
_OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("predictions", "probabilities"),
    "multiclass_classification": ("predictions", "probabilities"),
    "regression": ("predictions",),
    "clustering": ("predictions", "distances"),
    "anomaly_detection": ("predictions", "scores"),
    "forecasting": ("forecasts",),
}


class ModelManifest(BaseModel):
    """What `shipyard-model.json` records about a trained model.

    `classes` are the original target values in the order of the probability columns (None
    for regression, clustering and anomaly detection); `feature_names` is the column order
    the model expects.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    manifest_version: int = 1
    algorithm: str
    problem_type: ProblemType
    target: str | None
    feature_names: list[str]
    classes: list[Any] | None
    model_file: str
    format: ModelFormat
    library: str
    library_version: str
    hyperparameters: dict[str, Any]
    options: dict[str, Any] = Field(default_factory=dict)
    """What an algorithm needs at serving time beyond the above (its column roles...)."""

    @field_validator("model_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        # a tampered manifest must not point the loader outside the model directory
        if Path(value).name != value or value in {"", ".", ".."}:
            raise ValueError(f"model_file must be a plain file name, got {value!r}")
        return value

    def write(self, model_dir: Path) -> None:
        (model_dir / MANIFEST_FILE).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, model_dir: Path) -> ModelManifest:
        """Raises FileNotFoundError without a manifest, pydantic's ValidationError if malformed."""
        return cls.model_validate(json.loads((model_dir / MANIFEST_FILE).read_text()))


Features: TypeAlias = pd.DataFrame | np.ndarray
"""Rows to predict on: a DataFrame, or a 2-D numeric matrix of positional features."""


class UntrustedModelError(ValueError):
    """A model file Shipyard will not deserialize: a pickle loaded without the trust flag."""


class LoadedModel(ABC):
    """A trained model ready to predict; `predict` is the serving hot path.

    Subclasses hold the library object and implement `raw_predict` on a numeric matrix;
    everything per-call beyond that is a column check and one array conversion. A model fed
    something else than numeric features (documents) also overrides `model_input`.
    """

    matrix_dtype: ClassVar[type[np.floating]] = np.float32
    allows_missing: ClassVar[bool] = True

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self.algorithm = manifest.algorithm
        self.problem_type: ProblemType = manifest.problem_type
        self.feature_names = list(manifest.feature_names)
        self.classes = None if manifest.classes is None else list(manifest.classes)
        self._labels = None if self.classes is None else np.array(self.classes, dtype=object)

    def predict(self, features: Features) -> dict[str, list[Any]]:
        """Predict for every row of `features`.

        Columns are the feature names in any order, or exactly len(feature_names) integer
        (positional) columns, as read from a CSV without header, or a 2-D numeric array of
        that many positional columns; anything else raises
        ValidationError(field="instances"). Returns {"predictions": [...]} with, for
        classifiers, original class labels and "probabilities" (one list per row, in `classes`
        order); for clustering, cluster indices and "distances" (to the closest centre); for
        anomaly detection, 1 for an anomaly else 0 and "scores" (higher is more anomalous,
        above 0 an anomaly).
        """
        matrix = self.model_input(features)
        if len(matrix) == 0:  # libraries disagree on empty input; the answer is known
            return {key: [] for key in _OUTPUT_KEYS[self.problem_type]}
        raw = self.raw_predict(matrix)
        if self.problem_type in CLASSIFICATION:
            assert self._labels is not None
            return {
                "predictions": self._labels[raw.argmax(axis=1)].tolist(),
                "probabilities": raw.tolist(),
            }
        if self.problem_type == "clustering":
            closest = raw.argmin(axis=1)
            return {
                "predictions": closest.tolist(),
                "distances": raw[np.arange(len(raw)), closest].tolist(),
            }
        if self.problem_type == "anomaly_detection":
            return {"predictions": (raw > 0).astype(int).tolist(), "scores": raw.tolist()}
        return {"predictions": raw.tolist()}

    def model_input(self, features: Features) -> np.ndarray:
        """What `raw_predict` takes, from the rows to predict: the checked feature matrix (see
        `feature_matrix`). Raises ValidationError(field="instances")."""
        if isinstance(features, np.ndarray):
            return positional_matrix(
                features, self.feature_names, self.matrix_dtype, self.allows_missing
            )
        return feature_matrix(features, self.feature_names, self.matrix_dtype, self.allows_missing)

    @abstractmethod
    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        """Model output for a checked feature matrix (see `model_input`).

        Class probabilities (n, k) for classifiers, values (n,) for regression, distances to
        every centre (n, k) for clustering, anomaly scores (n,) for anomaly detection.
        """


def binary_to_two_columns(positive: np.ndarray) -> np.ndarray:
    """(n,) probabilities of class 1 -> (n, 2) probabilities of classes 0 and 1."""
    return np.column_stack((1.0 - positive, positive))


def feature_matrix(
    features: pd.DataFrame,
    feature_names: Sequence[str],
    dtype: type[np.floating],
    allows_missing: bool,
) -> np.ndarray:
    """The serving-side matrix: columns named like the features (any order) or positional.

    Raises ValidationError(field="instances") for a wrong feature set or non-numeric values.
    """
    columns = features.columns.tolist()
    names = list(feature_names)
    if columns != names:
        by_name = {str(c): c for c in columns}
        if len(by_name) == len(columns) and set(by_name) == set(names):
            features = features[[by_name[name] for name in names]]
        elif len(columns) != len(names) or not _positional(columns):
            raise ValidationError(
                f"expected {len(names)} features ({shorten_names(names)}), got {len(columns)}"
                + _missing_note(names, by_name),
                field="instances",
            )
    for position, (column, column_dtype) in enumerate(
        zip(names, features.dtypes.tolist(), strict=True)
    ):
        if column_dtype.kind not in NUMERIC_KINDS and not _all_missing(features, position):
            raise ValidationError(
                f"feature '{column}' must be numeric, got {column_dtype}", field="instances"
            )
    return _checked(features.to_numpy(dtype=dtype, na_value=np.nan), allows_missing)


def _all_missing(features: pd.DataFrame, position: int) -> bool:
    """A column of nulls alone (a record's null, in a request of one) is missing numbers."""
    return bool(features.iloc[:, position].isna().all())


def positional_matrix(
    rows: np.ndarray,
    feature_names: Sequence[str],
    dtype: type[np.floating],
    allows_missing: bool,
) -> np.ndarray:
    """`feature_matrix` of a 2-D numeric array: one column per feature, in their order."""
    names = list(feature_names)
    if rows.ndim != 2 or rows.shape[1] != len(names):
        width = rows.shape[1] if rows.ndim == 2 else rows.ndim
        raise ValidationError(
            f"expected {len(names)} features ({shorten_names(names)}), got {width}",
            field="instances",
        )
    if rows.dtype.kind not in NUMERIC_KINDS:
        raise ValidationError(f"features must be numeric, got {rows.dtype}", field="instances")
    return _checked(rows.astype(dtype, copy=False), allows_missing)


def _checked(matrix: np.ndarray, allows_missing: bool) -> np.ndarray:
    if not allows_missing and not np.isfinite(matrix).all():
        raise ValidationError(
            "features must not contain missing or infinite values", field="instances"
        )
    return matrix


def as_frame(features: Features) -> pd.DataFrame:
    """A model that reads its input by column names takes a matrix as positional columns."""
    return features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)


def _positional(columns: list[Any]) -> bool:
    return all(isinstance(c, int | np.integer) for c in columns)


def _missing_note(names: list[str], by_name: dict[str, Any]) -> str:
    if _positional(list(by_name.values())):
        return ""
    missing = [n for n in names if n not in by_name]
    return f"; missing: {shorten_names(missing)}" if missing else ""


class OnnxModel(LoadedModel):
    """An ONNX graph run by onnxruntime (imported when the first one loads).

    The graph takes one numeric matrix; a classifier answers with a probability matrix (or
    scikit-learn's ZipMap: one {class: probability} per row), a regressor with one value per
    row.
    """

    def __init__(self, manifest: ModelManifest, session: Any) -> None:
        super().__init__(manifest)
        self.session = session
        graph_input = session.get_inputs()[0]
        self.input_name = graph_input.name
        self.input_dtype = np.float64 if graph_input.type == "tensor(double)" else np.float32

    @classmethod
    def read(cls, path: Path, manifest: ModelManifest) -> OnnxModel:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings about unused initializers
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        if len(session.get_inputs()) != 1:
            raise ValueError(f"{path.name} takes {len(session.get_inputs())} inputs, not one")
        return cls(manifest, session)

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        outputs = self.session.run(None, {self.input_name: matrix.astype(self.input_dtype)})
        if self.problem_type in CLASSIFICATION:
            return self._probabilities(outputs)
        return np.asarray(outputs[0], dtype=np.float64).reshape(len(matrix))

    def _probabilities(self, outputs: list[Any]) -> np.ndarray:
        assert self.classes is not None
        for output in outputs:
            if isinstance(output, list) and output and isinstance(output[0], dict):
                return self._from_zipmap(output)
            array = np.asarray(output)
            if array.ndim == 2 and array.dtype.kind == "f":
                if array.shape[1] == len(self.classes):
                    return array.astype(np.float64)
                if array.shape[1] == 1 and len(self.classes) == 2:
                    return binary_to_two_columns(array[:, 0].astype(np.float64))
        raise ValueError(f"the ONNX graph has no output of {len(self.classes)} class probabilities")

    def _from_zipmap(self, rows: list[dict[Any, float]]) -> np.ndarray:
        assert self.classes is not None
        keys = list(rows[0])
        if len(keys) != len(self.classes):
            raise ValueError(f"the ONNX graph scores {len(keys)} classes, not {len(self.classes)}")
        by_label = {str(key): key for key in keys}
        if all(str(label) in by_label for label in self.classes):
            keys = [by_label[str(label)] for label in self.classes]
        return np.array([[row[key] for key in keys] for row in rows], dtype=np.float64)


class NamedColumns:
    """An uploaded scikit-learn estimator fitted on a DataFrame, fed the feature matrix as
    a DataFrame of the names it was fitted with (as scikit-learn asks)."""

    def __init__(self, estimator: Any, feature_names: Sequence[str]) -> None:
        self.estimator = estimator
        self.columns = list(feature_names)

    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(matrix, columns=self.columns)

    def predict(self, matrix: np.ndarray) -> Any:
        return self.estimator.predict(self._frame(matrix))

    def predict_proba(self, matrix: np.ndarray) -> Any:
        return self.estimator.predict_proba(self._frame(matrix))

    def transform(self, matrix: np.ndarray) -> Any:
        return self.estimator.transform(self._frame(matrix))
