"""Turns training channels into numeric matrices and encoded targets, and names the problem."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError

ProblemType = Literal[
    "binary_classification",
    "multiclass_classification",
    "regression",
    "clustering",
    "anomaly_detection",
    "forecasting",
]
CLASSIFICATION: tuple[ProblemType, ...] = ("binary_classification", "multiclass_classification")
UNSUPERVISED: tuple[ProblemType, ...] = ("clustering", "anomaly_detection")

# "auto" infers classification for integer-like targets with at most this many values.
MAX_INFERRED_CLASSES = 20
NUMERIC_KINDS = frozenset("biuf")  # bool, signed, unsigned, float


@dataclass(frozen=True)
class TrainingData:
    """Numeric features (float matrices, columns in `feature_names` order) and encoded targets.

    For classifiers `y_*` holds class codes 0..k-1 into `classes`; for regression the values;
    for clustering `y_*` is None; for anomaly detection `y_train` is None and `y_validation`
    holds 1 for a known anomaly and 0 otherwise, when the validation channel is labelled.
    """

    feature_names: list[str]
    problem_type: ProblemType
    target: str | None
    classes: list[Any] | None
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_validation: np.ndarray | None = None
    y_validation: np.ndarray | None = None


def prepare_training_data(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str | None,
    requested: ProblemType | None,
    *,
    requested_by: str,
    dtype: type[np.floating],
    allows_missing: bool,
) -> TrainingData:
    """Check the channels and build the matrices the algorithm trains on.

    `requested` is the problem type the hyperparameter `requested_by` asks for (None: infer it
    from the target). Unsupervised problems train on every column but `target`, which they
    may name to keep it out of the features; anomaly detection reads it from the validation
    channel only, to score the detector. Raises ValidationError naming `target`,
    `channels.train`, `channels.validation` or `requested_by`.
    """
    if len(train) == 0:
        raise ValidationError("channel 'train' has no rows", field="channels.train")
    if requested is not None and requested in UNSUPERVISED:
        return _unsupervised_data(train, validation, target, requested, dtype, allows_missing)
    target = require_target(train, validation, target)
    feature_names, x_train, x_validation = _feature_matrices(
        train, validation, target, dtype, allows_missing
    )
    y_train = target_values(train, target, "train")
    y_validation = None if validation is None else target_values(validation, target, "validation")
    problem_type = requested or infer_problem_type(y_train)
    if problem_type == "regression":
        return TrainingData(
            feature_names,
            problem_type,
            target,
            None,
            x_train,
            _numeric_target(y_train, target, requested_by),
            x_validation,
            None if y_validation is None else _numeric_target(y_validation, target, requested_by),
        )
    classes, codes_train, codes_validation = encode_classes(
        y_train, y_validation, target, problem_type, requested_by
    )
    return TrainingData(
        feature_names,
        problem_type,
        target,
        classes,
        x_train,
        codes_train,
        x_validation,
        codes_validation,
    )


def require_target(train: pd.DataFrame, validation: pd.DataFrame | None, target: str | None) -> str:
    """The target of a supervised algorithm: named, and a column of every channel."""
    if target is None:
        raise ValidationError("is required for a supervised algorithm", field="target")
    _require_column(train, target, "train")
    if validation is not None:
        _require_column(validation, target, "validation")
    return target


def target_values(frame: pd.DataFrame, target: str, channel: str) -> pd.Series:
    """The target column of one channel, categories as plain objects; none may be missing."""
    y = frame[target]
    if y.dtype.kind == "O" or isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype(object)
    missing = int(y.isna().sum())
    if missing:
        raise ValidationError(
            f"column '{target}' has {missing} missing values in channel '{channel}'", field="target"
        )
    return y


def encode_classes(
    y_train: pd.Series,
    y_validation: pd.Series | None,
    target: str,
    problem_type: ProblemType,
    requested_by: str,
) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
    """The classes of the train channel (sorted when they sort) as JSON values, and each
    channel's class codes 0..k-1; at least 2 classes, exactly 2 for binary classification.

    Raises ValidationError naming `target`, `requested_by` or (for a label the train channel
    lacks) `channels.validation`.
    """
    classes = _classes(y_train)
    if len(classes) < 2:
        raise ValidationError(
            f"column '{target}' has a single value {classes[0]!r}; "
            "classification needs at least 2 classes",
            field="target",
        )
    if problem_type == "binary_classification" and len(classes) != 2:
        raise ValidationError(
            f"asks for binary classification but target '{target}' has {len(classes)} classes",
            field=requested_by,
        )
    codes_validation = None if y_validation is None else _encode(y_validation, classes, True)
    return [_plain(c) for c in classes], _encode(y_train, classes, False), codes_validation


def infer_problem_type(y: pd.Series) -> ProblemType:
    """Classification for bool, non-numeric, or integer-like targets with few values.

    Binary when the target has exactly two values, else multiclass; regression otherwise.
    """
    distinct = y.nunique()
    kind: ProblemType = "binary_classification" if distinct == 2 else "multiclass_classification"
    if y.dtype.kind not in NUMERIC_KINDS or y.dtype.kind == "b":
        return kind
    values = y.to_numpy(dtype=np.float64)
    if distinct <= MAX_INFERRED_CLASSES and np.all(np.mod(values, 1) == 0):
        return kind
    return "regression"


def _require_column(frame: pd.DataFrame, target: str, channel: str) -> None:
    if target not in frame.columns:
        raise ValidationError(
            f"target column '{target}' not found in channel '{channel}'; "
            f"columns are: {shorten_names([str(c) for c in frame.columns])}",
            field="target",
        )


def _unsupervised_data(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str | None,
    problem_type: ProblemType,
    dtype: type[np.floating],
    allows_missing: bool,
) -> TrainingData:
    if target is not None and all(
        target not in frame.columns for frame in (train, validation) if frame is not None
    ):
        target = None  # nothing to drop
    feature_names, x_train, x_validation = _feature_matrices(
        train, validation, target, dtype, allows_missing
    )
    labels = None
    if (
        problem_type == "anomaly_detection"
        and validation is not None
        and target is not None
        and target in validation.columns
    ):
        labels = _anomaly_labels(validation, target)
    return TrainingData(
        feature_names, problem_type, target, None, x_train, None, x_validation, labels
    )


def _feature_matrices(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str | None,
    dtype: type[np.floating],
    allows_missing: bool,
) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """The feature names (every column of the train channel but `target`) and the matrices."""
    feature_names = [str(c) for c in train.columns if c != target]
    if not feature_names:
        raise ValidationError("has no feature columns", field="channels.train")
    x_train = _features(train, target, feature_names, dtype, allows_missing, "train")
    x_validation = None
    if validation is not None:
        x_validation = _features(
            validation, target, feature_names, dtype, allows_missing, "validation"
        )
    return feature_names, x_train, x_validation


def _features(
    frame: pd.DataFrame,
    target: str | None,
    names: list[str],
    dtype: type[np.floating],
    allows_missing: bool,
    channel: str,
) -> np.ndarray:
    field = f"channels.{channel}"
    by_name: dict[str, Hashable] = {str(c): c for c in frame.columns if c != target}
    if set(by_name) != set(names):
        missing = [n for n in names if n not in by_name]
        extra = [n for n in by_name if n not in names]
        raise ValidationError(
            f"feature columns differ from channel 'train': missing {missing}, unexpected {extra}",
            field=field,
        )
    features = frame[[by_name[n] for n in names]]
    for name, column_dtype in zip(names, features.dtypes, strict=True):
        if column_dtype.kind not in NUMERIC_KINDS:
            raise ValidationError(
                f"feature column '{name}' has type {column_dtype}; only numeric "
                "and boolean features are supported",
                field=field,
            )
    matrix = features.to_numpy(dtype=dtype, na_value=np.nan)
    if not allows_missing and not np.isfinite(matrix).all():
        bad = names[int(np.flatnonzero(~np.isfinite(matrix).all(axis=0))[0])]
        raise ValidationError(
            f"feature column '{bad}' has missing or infinite values, which "
            "this algorithm does not accept",
            field=field,
        )
    return matrix


def _anomaly_labels(validation: pd.DataFrame, target: str) -> np.ndarray:
    """1 where the validation channel's label marks an anomaly (1 or True), else 0."""
    y = target_values(validation, target, "validation")
    values = set(pd.unique(y).tolist())
    if y.dtype.kind not in NUMERIC_KINDS or not values <= {0, 1}:
        shown = sorted(map(str, values))[:10]
        raise ValidationError(
            f"column '{target}' labels anomalies with 1 or True and other rows with 0 or "
            f"False; channel 'validation' holds {shown}",
            field="target",
        )
    return y.to_numpy(dtype=np.int32)


def _numeric_target(y: pd.Series, target: str, requested_by: str) -> np.ndarray:
    if y.dtype.kind not in NUMERIC_KINDS:
        raise ValidationError(
            f"regression needs a numeric target, '{target}' has type {y.dtype}", field=requested_by
        )
    return y.to_numpy(dtype=np.float64)


def _classes(y: pd.Series) -> list[Any]:
    values = list(pd.unique(y))
    try:
        return sorted(values)
    except TypeError:  # mixed label types: keep first-seen order
        return values


def _encode(y: pd.Series, classes: list[Any], is_validation: bool) -> np.ndarray:
    codes = pd.Categorical(y, categories=classes).codes
    if is_validation and (codes < 0).any():
        unseen = sorted({str(v) for v in y[codes < 0]})
        raise ValidationError(
            f"target has labels not seen in channel 'train': {unseen[:10]}",
            field="channels.validation",
        )
    return codes.astype(np.int32)


def _plain(value: Any) -> Any:
    """A JSON-serialisable Python value for a label (numpy scalars become int/float/bool/str)."""
    return value.item() if isinstance(value, np.generic) else value


def shorten_names(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
