"""The MLflow peer's model: run in the MLflow environment as ``python mlflow_model.py
model.txt DIRECTORY``, it saves the benchmark's LightGBM booster in MLflow's LightGBM
flavor under DIRECTORY, which ``mlflow models serve -m DIRECTORY`` then serves."""

from __future__ import annotations

import sys

import lightgbm as lgb
import mlflow.lightgbm


def save(model_file: str, directory: str) -> None:
    mlflow.lightgbm.save_model(lgb.Booster(model_file=model_file), directory)


if __name__ == "__main__":
    save(sys.argv[1], sys.argv[2])
