"""The BentoML peer: the benchmark's LightGBM booster as a BentoML service.

Run as a script in the BentoML environment (``python bentoml_service.py model.txt``), it
saves the booster into BentoML's model store (``BENTOML_HOME``) in BentoML's LightGBM
format; ``bentoml serve bentoml_service:LightGBMClassifier`` then serves it with one
worker and no access log. ``POST /invocations`` takes ``{"instances": [[...], ...]}`` and
answers ``{"predictions": [...], "probabilities": [[p0, p1], ...]}``, like Shipyard.
"""

from __future__ import annotations

import sys
from typing import Any

import bentoml
import lightgbm as lgb
import numpy as np

MODEL_NAME = "serving-bench"


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class LightGBMClassifier:
    def __init__(self) -> None:
        self.booster = bentoml.lightgbm.load_model(f"{MODEL_NAME}:latest")

    @bentoml.api
    def invocations(self, instances: list[list[float]]) -> dict[str, Any]:
        positive = np.asarray(self.booster.predict(np.asarray(instances, dtype=np.float32)))
        return {
            "predictions": (positive > 0.5).astype(int).tolist(),
            "probabilities": np.column_stack((1.0 - positive, positive)).tolist(),
        }


def save(model_file: str) -> None:
    bentoml.lightgbm.save_model(MODEL_NAME, lgb.Booster(model_file=model_file))


if __name__ == "__main__":
    save(sys.argv[1])
