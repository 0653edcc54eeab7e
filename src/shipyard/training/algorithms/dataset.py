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

# "auto" infers classification for integer-like targets with at most this many values.
MAX_INFERRED_CLASSES = 20
NUMERIC_KINDS = frozenset("biuf")  # bool, signed, unsigned, float


@dataclass(frozen=True)
class TrainingData:
    """Numeric features (float matrices, columns in `feature_names` order) and encoded targets.

    For classifiers `y_*` holds class codes 0..k-1 into `classes`; for regression the values;
    for clustering `y_*` is None.
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
    from the target). Raises ValidationError naming `target`, `channels.train`,
    `channels.validation` or `requested_by`.
    """
    if len(train) == 0:
        raise ValidationError("channel 'train' has no rows", field="channels.train")
    unsupervised = requested == "clustering"
    if not unsupervised:
        if target is None:
            raise ValidationError("is required for a supervised algorithm", field="target")
        _require_target(train, target, "train")
        if validation is not None:
            _require_target(validation, target, "validation")
    elif target is not None and target not in train.columns:
        target = None  # nothing to drop
    feature_names = [str(c) for c in train.columns if c != target]
    if not feature_names:
        raise ValidationError("has no feature columns", field="channels.train")
    x_train = _features(train, target, feature_names, dtype, allows_missing, "train")
    x_validation = None
    if validation is not None:
        x_validation = _features(
            validation, target, feature_names, dtype, allows_missing, "validation"
        )
    if unsupervised:
        return TrainingData(feature_names, "clustering", target, None, x_train, None, x_validation)
    assert target is not None  # checked above for supervised problems

    y_train = _target_values(train, target, "train")
    y_validation = None if validation is None else _target_values(validation, target, "validation")
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
    return TrainingData(
        feature_names,
        problem_type,
        target,
        [_plain(c) for c in classes],
        x_train,
        _encode(y_train, classes, False),
        x_validation,
        codes_validation,
    )


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


def _require_target(frame: pd.DataFrame, target: str, channel: str) -> None:
    if target not in frame.columns:
        raise ValidationError(
            f"target column '{target}' not found in channel '{channel}'; "
            f"columns are: {shorten_names([str(c) for c in frame.columns])}",
            field="target",
        )


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


def _target_values(frame: pd.DataFrame, target: str, channel: str) -> pd.Series:
    y = frame[target]
    if y.dtype.kind == "O" or isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype(object)
    missing = int(y.isna().sum())
    if missing:
        raise ValidationError(
            f"column '{target}' has {missing} missing values in channel '{channel}'", field="target"
        )
    return y


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
