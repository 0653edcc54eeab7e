"""Shipyard: a self-hosted machine-learning platform. The SDK is the public API."""

from __future__ import annotations

from shipyard.sdk.client import Session
from shipyard.sdk.serving import Model, Predictor
from shipyard.sdk.training import Estimator, TrainingJob
from shipyard.sdk.tuning import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    TuningJob,
    WarmStartConfig,
)

__version__ = "0.1.0"

__all__ = [
    "CategoricalParameter",
    "ContinuousParameter",
    "Estimator",
    "HyperparameterTuner",
    "IntegerParameter",
    "Model",
    "Predictor",
    "Session",
    "TrainingJob",
    "TuningJob",
    "WarmStartConfig",
    "__version__",
]
