"""Shipyard: a self-hosted machine-learning platform. The SDK is the public API."""

from __future__ import annotations

from shipyard.sdk.client import Session
from shipyard.sdk.serving import Model, Predictor
from shipyard.sdk.training import Estimator, TrainingJob

__version__ = "0.1.0"

__all__ = ["Estimator", "Model", "Predictor", "Session", "TrainingJob", "__version__"]
