"""Final metrics of a trained model, named `<channel>:<metric>` as the platform plots them.

Classifiers: auc (one-vs-rest macro for multiclass), accuracy, f1, precision, recall (binary,
or macro for multiclass) and logloss. Regressors: rmse, mae, r2. Clustering: msd (mean squared
distance to the closest centre) and, on the train channel, inertia (their sum). Anomaly
detection: anomaly_rate (the share flagged), score_mean and score_std, and on a labelled
validation channel auc of the score and precision, recall, f1 of the flags.

Written with numpy alone (they match scikit-learn's definitions; the tests compare them):
importing sklearn.metrics costs a job process most of a second before it trains.
"""

from __future__ import annotations

import numpy as np

from shipyard.training.algorithms.dataset import CLASSIFICATION, ProblemType

_PROBABILITY_FLOOR = 1e-15
CLASSIFIER_METRICS = ("accuracy", "auc", "f1", "logloss", "precision", "recall")
REGRESSOR_METRICS = ("mae", "r2", "rmse")
ANOMALY_METRICS = ("anomaly_rate", "score_mean", "score_std")
LABELLED_ANOMALY_METRICS = ("auc", "f1", "precision", "recall")


def final_metric_names(problem_type: ProblemType, channel: str) -> tuple[str, ...]:
    """The metric names `evaluate` reports for `problem_type` on `channel` (without prefix)."""
    if problem_type in CLASSIFICATION:
        return CLASSIFIER_METRICS
    if problem_type == "regression":
        return REGRESSOR_METRICS
    if problem_type == "anomaly_detection":
        return ANOMALY_METRICS if channel == "train" else ANOMALY_METRICS + LABELLED_ANOMALY_METRICS
    return ("msd", "inertia") if channel == "train" else ("msd",)


def evaluate(
    problem_type: ProblemType, channel: str, y_true: np.ndarray | None, raw: np.ndarray
) -> dict[str, float]:
    """Metrics of `raw` model output (see `LoadedModel.raw_predict`) against the encoded target."""
    if problem_type == "clustering":
        return clustering_metrics(channel, raw)
    if problem_type == "anomaly_detection":
        return anomaly_metrics(channel, raw, y_true)
    assert y_true is not None
    if problem_type in CLASSIFICATION:
        return classification_metrics(channel, y_true, raw, problem_type)
    return regression_metrics(channel, y_true, raw)


def classification_metrics(
    channel: str, codes: np.ndarray, probabilities: np.ndarray, problem_type: ProblemType
) -> dict[str, float]:
    """`codes` are class indices 0..k-1; `probabilities` has one column per class."""
    n_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    binary = problem_type == "binary_classification"
    classes = [1] if binary else list(range(n_classes))
    precision, recall, f1 = _precision_recall_f1(codes, predicted, classes)
    picked = probabilities[np.arange(len(codes)), codes].astype(np.float64)
    metrics = {
        "accuracy": float(np.mean(predicted == codes)),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "logloss": float(-np.mean(np.log(np.clip(picked, _PROBABILITY_FLOOR, 1.0)))),
    }
    auc = _one_vs_rest_auc(codes, probabilities)
    if auc is not None:  # undefined when the channel holds a single class
        metrics["auc"] = auc
    return _named(channel, metrics)


def regression_metrics(channel: str, y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    residuals = y_true - predicted.astype(np.float64)
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    squared = float(np.sum(residuals**2))
    # scikit-learn's convention for a constant target: perfect fit 1.0, anything else 0.0
    r2 = 1.0 - squared / total if total > 0 else (1.0 if squared == 0 else 0.0)
    return _named(
        channel,
        {
            "rmse": float(np.sqrt(np.mean(residuals**2))),
            "mae": float(np.mean(np.abs(residuals))),
            "r2": r2,
        },
    )


def clustering_metrics(channel: str, distances: np.ndarray) -> dict[str, float]:
    """`distances` has one column per centre."""
    squared = distances.min(axis=1).astype(np.float64) ** 2
    metrics = {"msd": float(squared.mean())}
    if channel == "train":
        metrics["inertia"] = float(squared.sum())
    return _named(channel, metrics)


def anomaly_metrics(
    channel: str, scores: np.ndarray, labels: np.ndarray | None
) -> dict[str, float]:
    """`scores` are anomaly scores, a record above 0 is flagged an anomaly; `labels`, when the
    channel has them, are 1 for a known anomaly and 0 otherwise. auc is left out when the
    labels hold a single value."""
    scores = scores.astype(np.float64)
    flagged = (scores > 0).astype(np.int64)
    metrics = {
        "anomaly_rate": float(flagged.mean()),
        "score_mean": float(scores.mean()),
        "score_std": float(scores.std()),
    }
    if labels is not None:
        precision, recall, f1 = _precision_recall_f1(labels, flagged, [1])
        metrics |= {"precision": precision, "recall": recall, "f1": f1}
        if 0 < np.sum(labels) < len(labels):
            metrics["auc"] = _binary_auc(labels == 1, scores)
    return _named(channel, metrics)


def _one_vs_rest_auc(codes: np.ndarray, probabilities: np.ndarray) -> float | None:
    if probabilities.shape[1] == 2:
        if len(np.unique(codes)) < 2:
            return None
        return _binary_auc(codes == 1, probabilities[:, 1])
    # macro over the classes present with both positives and negatives in this channel
    scores = [
        _binary_auc(codes == k, probabilities[:, k])
        for k in range(probabilities.shape[1])
        if 0 < np.sum(codes == k) < len(codes)
    ]
    return float(np.mean(scores)) if scores else None


def _precision_recall_f1(
    codes: np.ndarray, predicted: np.ndarray, classes: list[int]
) -> tuple[float, float, float]:
    """Averaged over ``classes`` (macro); a class never predicted or present scores 0."""
    precisions, recalls, f1s = [], [], []
    for k in classes:
        true_positive = float(np.sum((predicted == k) & (codes == k)))
        predicted_k, actual_k = float(np.sum(predicted == k)), float(np.sum(codes == k))
        precision = true_positive / predicted_k if predicted_k else 0.0
        recall = true_positive / actual_k if actual_k else 0.0
        total = precision + recall
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / total if total else 0.0)
    return float(np.mean(precisions)), float(np.mean(recalls)), float(np.mean(f1s))


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic, with tied scores sharing their mean rank."""
    scores = scores.astype(np.float64)
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    mean_ranks = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    n_positive = float(np.sum(positive))
    n_negative = float(len(positive)) - n_positive
    rank_sum = float(np.sum(ranks[positive]))
    return (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)


def _named(channel: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{channel}:{name}": value for name, value in metrics.items()}
