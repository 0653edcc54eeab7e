"""Helpers of the serving tests: unique names, the breast-cancer data on disk, and the
shape every error response has."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def breast_cancer(directory: Path) -> tuple[Path, pd.DataFrame]:
    """train.csv in ``directory``, and the validation frame (features and ``target``)."""
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    directory.mkdir(parents=True, exist_ok=True)
    train.to_csv(directory / "train.csv", index=False)
    validation.to_csv(directory / "validation.csv", index=False)
    return directory / "train.csv", validation


def assert_error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    for needle in needles:
        assert needle in body["error"]["message"], (needle, body)
    return body["error"]["message"]
