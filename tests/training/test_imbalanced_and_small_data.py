"""Rare classes and small data on the built-in algorithms: class weights, k-fold
cross-validation, and iteration curves that stream while training (and can end it)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import get_algorithm

SHALLOW = {
    "xgboost": {"num_round": 40, "max_depth": 4},
    "lightgbm": {"num_iterations": 40, "num_leaves": 15},
    "linear-learner": {},
    "random-forest": {"num_trees": 20, "max_depth": 6},
}
REWEIGHTING = [
    ("xgboost", {"class_weight": "balanced"}),
    ("xgboost", {"scale_pos_weight": "auto"}),
    ("lightgbm", {"class_weight": "balanced"}),
    ("lightgbm", {"scale_pos_weight": "auto"}),
    ("linear-learner", {"class_weight": "balanced"}),
    ("random-forest", {"class_weight": "balanced"}),
]


def fraud_like(rows: int, seed: int) -> pd.DataFrame:
    """Card transactions, 0.5% fraud: the frauds are a shifted cluster that overlaps the rest."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 6))
    label = (rng.random(rows) < 0.005).astype(int)
    features[label == 1] += np.array([1.2, -1.0, 0.8, 0.0, 0.0, 0.5])
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(6)])
    frame["label"] = label
    return frame


@functools.cache
def fraud_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return fraud_like(30_000, seed=0), fraud_like(20_000, seed=1)


def fit(name: str, train: pd.DataFrame, validation: pd.DataFrame | None, target: str,
        model_dir: Path, logged: list | None = None, should_stop: Any = None,
        **hyperparameters: Any) -> dict[str, float]:  # fmt: skip
    algorithm = get_algorithm(name)
    params = algorithm.validate_hyperparameters({**SHALLOW[name], **hyperparameters})
    log = (lambda *point: logged.append(point)) if logged is not None else (lambda *_: None)
    return algorithm.fit(
        train, validation, target, params, model_dir, log, cpu_count=1, should_stop=should_stop
    )


@pytest.mark.parametrize(("name", "reweighting"), REWEIGHTING, ids=lambda v: str(v))
def test_reweighting_the_classes_raises_the_recall_of_rare_frauds(
    name: str, reweighting: dict[str, str], tmp_path: Path
) -> None:
    train, validation = fraud_split()
    assert 0.003 < train["label"].mean() < 0.007

    plain = fit(name, train, validation, "label", tmp_path / "plain")
    weighted = fit(name, train, validation, "label", tmp_path / "weighted", **reweighting)

    assert weighted["validation:recall"] >= plain["validation:recall"] + 0.2


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_scale_pos_weight_auto_is_for_binary_targets_only(name: str, tmp_path: Path) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    with pytest.raises(ValidationError, match="binary classification only") as error:
        fit(name, diabetes, None, "target", tmp_path, scale_pos_weight="auto")
    assert error.value.field == "hyperparameters.scale_pos_weight"


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_two_ways_of_reweighting_at_once_are_refused(name: str, tmp_path: Path) -> None:
    train, _ = fraud_split()
    with pytest.raises(ValidationError, match="not both") as error:
        fit(name, train, None, "label", tmp_path, class_weight="balanced", scale_pos_weight=3)
    assert error.value.field == "hyperparameters.scale_pos_weight"


def test_class_weight_balanced_is_for_classifiers_only(tmp_path: Path) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    with pytest.raises(ValidationError, match="classification only") as error:
        fit("xgboost", diabetes, None, "target", tmp_path, class_weight="balanced")
    assert error.value.field == "hyperparameters.class_weight"


@pytest.mark.parametrize("name", sorted(SHALLOW))
def test_k_fold_reports_the_mean_and_spread_of_every_metric(name: str, tmp_path: Path) -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    metrics = fit(name, cancer, None, "target", tmp_path / "model", k_fold=5)

    for metric in ("accuracy", "auc", "f1", "logloss", "precision", "recall"):
        assert 0.0 <= metrics[f"cv:{metric}:std"] < 0.2
    assert 0.85 < metrics["cv:auc:mean"] <= 1.0
    assert metrics["train:auc"] >= metrics["cv:auc:mean"] - 0.05  # the final model: all rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no fold left behind


def test_k_fold_folds_keep_a_rare_class_in_each_fold(tmp_path: Path) -> None:
    train, _ = fraud_like(4000, seed=3), None
    positives = int(train["label"].sum())
    metrics = fit("linear-learner", train, None, "label", tmp_path, k_fold=min(positives, 5))
    assert "cv:auc:mean" in metrics  # defined: each held-out fold has frauds


def test_k_fold_beyond_the_rows_names_the_field(tmp_path: Path) -> None:
    tiny = load_breast_cancer(as_frame=True).frame.sample(12, random_state=0)
    with pytest.raises(ValidationError) as error:
        fit("linear-learner", tiny, None, "target", tmp_path, k_fold=20)
    assert error.value.field == "hyperparameters.k_fold"


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_boosters_stream_each_iteration_and_end_when_told(name: str, tmp_path: Path) -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    train, validation = cancer.iloc[:400], cancer.iloc[400:]
    seen: list[tuple[int, dict[str, float]]] = []
    logged: list[tuple[str, float, int | None]] = []

    def stop_at_seven(step: int, metrics: dict[str, float]) -> str | None:
        seen.append((step, dict(metrics)))
        return "enough" if step == 7 else None

    fit(name, train, validation, "target", tmp_path, logged, should_stop=stop_at_seven)

    assert [step for step, _ in seen] == list(range(8))
    assert {"train:auc", "validation:auc"} <= set(seen[0][1])
    stepped = {step for _, _, step in logged if step is not None}
    assert stepped == set(range(8))
    # the metric points of a step are logged before the check of that step
    first_final = next(i for i, (_, _, step) in enumerate(logged) if step is None)
    assert all(step is not None for _, _, step in logged[:first_final])


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_emitted_metrics_name_the_curves_only_with_a_validation_channel(name: str) -> None:
    algorithm = get_algorithm(name)
    params = algorithm.validate_hyperparameters(SHALLOW[name])
    with_validation = algorithm.emitted_metrics(params, ["train", "validation"])
    without = algorithm.emitted_metrics(params, ["train"])

    assert "validation:auc" in with_validation.stepped
    assert "validation:rmse" in with_validation  # the target's type is not known yet
    assert "validation:auc" not in without
    assert without.stepped == frozenset()
    assert "train:auc" in without
