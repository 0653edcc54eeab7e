"""k-fold cross-validation of a tabular algorithm: the folds, and the summary of their scores.

Classification folds are stratified, so a rare class (fraud at 0.5%) appears in each one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import CLASSIFICATION, TrainingData


def folds(data: TrainingData, k: int, seed: int) -> Iterator[TrainingData]:
    """`k` copies of `data` whose train part is k-1 folds and validation part the last one."""
    rows = len(data.x_train)
    if k > rows:
        raise ValidationError(
            f"is {k} but channel 'train' has only {rows} rows", field="hyperparameters.k_fold"
        )
    assignment = _assign(data, k, np.random.default_rng(seed))
    for fold in range(k):
        held_out = assignment == fold
        yield dataclasses.replace(
            data,
            x_train=data.x_train[~held_out],
            y_train=None if data.y_train is None else data.y_train[~held_out],
            x_validation=data.x_train[held_out],
            y_validation=None if data.y_train is None else data.y_train[held_out],
        )


def _assign(data: TrainingData, k: int, rng: np.random.Generator) -> np.ndarray:
    """The fold of each row: shuffled, and dealt out class by class for classifiers."""
    rows = len(data.x_train)
    assignment = np.empty(rows, dtype=np.int64)
    if data.problem_type not in CLASSIFICATION or data.y_train is None:
        assignment[rng.permutation(rows)] = np.arange(rows) % k
        return assignment
    offset = 0
    for code in np.unique(data.y_train):
        members = rng.permutation(np.flatnonzero(data.y_train == code))
        assignment[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    _require_both_classes_everywhere(data, assignment, k)
    return assignment


def _require_both_classes_everywhere(data: TrainingData, assignment: np.ndarray, k: int) -> None:
    assert data.y_train is not None
    for fold in range(k):
        if len(np.unique(data.y_train[assignment != fold])) < 2:
            raise ValidationError(
                f"is {k}, but a class is too rare for every fold's training part to hold "
                "two classes; use fewer folds",
                field="hyperparameters.k_fold",
            )


def summarize(scores: Sequence[dict[str, float]]) -> dict[str, float]:
    """`cv:auc` over the folds -> `cv:auc:mean` and `cv:auc:std` (population std);
    a metric undefined on some fold (AUC of a single-class fold) is summarized over the rest."""
    names = sorted({name for fold in scores for name in fold})
    summary: dict[str, float] = {}
    for name in names:
        values = np.array([fold[name] for fold in scores if name in fold])
        summary[f"{name}:mean"] = float(values.mean())
        summary[f"{name}:std"] = float(values.std())
    return summary
