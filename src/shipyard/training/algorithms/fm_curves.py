"""What a factorization machine reports after each epoch, and early stopping on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.training.algorithms.base import Iterations
from shipyard.training.algorithms.dataset import ProblemType
from shipyard.training.algorithms.fm_features import FeatureSpace
from shipyard.training.algorithms.fm_model import FactorizationMachineModel, Factors
from shipyard.training.algorithms.metrics import evaluate
from shipyard.training.algorithms.model_io import ModelManifest

Channels = Mapping[str, tuple[Any, np.ndarray]]
"""By channel name: its feature-space matrix and its target as trained on."""

CURVE_METRICS: dict[ProblemType, tuple[str, ...]] = {
    "binary_classification": ("auc", "logloss"),
    "regression": ("mae", "rmse"),
}
"""Logged on both channels after every epoch when there is a validation channel; the last
one is the loss early stopping watches on the validation channel."""


class EpochCurves:
    """Called after each epoch: logs the curves of every channel, keeps the model of the best
    validation loss (`best`, what early stopping keeps), and ends the training when
    `should_stop` says so or, with a `patience`, after that many epochs that improved on
    the best loss by no more than `tolerance` (relative)."""

    def __init__(
        self,
        manifest: ModelManifest,
        space: FeatureSpace,
        channels: Channels,
        iterations: Iterations,
        patience: int | None,
        tolerance: float,
    ) -> None:
        self.manifest, self.space, self.channels = manifest, space, channels
        self.iterations, self.patience, self.tolerance = iterations, patience, tolerance
        self.names = CURVE_METRICS[manifest.problem_type]
        self.best: Factors | None = None
        self.best_loss = 0.0
        self.epochs_since_best = 0

    def __call__(self, epoch: int, factors: Factors) -> bool:
        model = FactorizationMachineModel(self.manifest, self.space, factors)
        metrics = {
            name: value
            for name, value in evaluated(model, self.channels).items()
            if name.split(":")[1] in self.names
        }
        loss = metrics[f"validation:{self.names[-1]}"]  # logloss or rmse: never negative
        if self.best is None or loss < self.best_loss * (1 - self.tolerance):
            self.best, self.best_loss, self.epochs_since_best = factors, loss, 0
        else:
            self.epochs_since_best += 1
        stop = self.iterations.report(epoch, metrics)
        return stop or (self.patience is not None and self.epochs_since_best >= self.patience)


def evaluated(model: FactorizationMachineModel, channels: Channels) -> dict[str, float]:
    """The final metrics (`metrics.evaluate`) of `model` on every channel."""
    return {
        name: value
        for channel, (matrix, y) in channels.items()
        for name, value in evaluate(
            model.problem_type, channel, y, model.raw_predict(matrix)
        ).items()
    }
