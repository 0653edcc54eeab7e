"""The quick-start example: fraud detection on a deterministic synthetic card dataset.

Runs against a live server through the SDK, printing each step: generate the data, train
``xgboost`` with ``scale_pos_weight`` and early stopping, deploy it, send it two transactions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from shipyard.sdk.client import Session
from shipyard.sdk.training import Estimator
from shipyard.sdk.waiting import unique_name

FEATURES = (
    "amount",
    "hour",
    "merchant_risk",
    "distance_from_home_km",
    "card_age_days",
    "transactions_last_24h",
    "foreign",
    "noise_1",
    "noise_2",
    "noise_3",
)


def fraud_transactions(rows: int = 50_000, seed: int = 7) -> pd.DataFrame:
    """About 1% fraud, driven by a few informative features; the noise columns carry none."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.5, 1.0, rows), 2),
            "hour": rng.integers(0, 24, rows),
            "merchant_risk": np.round(rng.beta(2, 8, rows), 4),
            "distance_from_home_km": np.round(rng.exponential(15, rows), 2),
            "card_age_days": rng.integers(1, 3650, rows),
            "transactions_last_24h": rng.poisson(3, rows),
            "foreign": rng.binomial(1, 0.08, rows),
            "noise_1": np.round(rng.normal(0, 1, rows), 4),
            "noise_2": np.round(rng.uniform(0, 1, rows), 4),
            "noise_3": rng.integers(0, 100, rows),
        }
    )
    night = ((frame["hour"] <= 4) | (frame["hour"] >= 23)).astype(float)
    score = (
        -14.2
        + 0.6 * np.log1p(frame["amount"])
        + 14.0 * frame["merchant_risk"]
        + 0.06 * frame["distance_from_home_km"]
        + 2.5 * night
        + 2.5 * frame["foreign"]
        + 0.18 * frame["transactions_last_24h"]
        - 0.0003 * frame["card_age_days"]
    )
    probability = 1 / (1 + np.exp(-score))
    frame["is_fraud"] = rng.binomial(1, probability)
    return frame


def run_quickstart(session: Session, say: Callable[[str], None] = print) -> dict[str, str]:
    """Train, deploy and invoke; returns the names of what it created."""
    data = fraud_transactions()
    fraud_rate = data["is_fraud"].mean()
    say(f"1/4 Generated {len(data):,} card transactions, {fraud_rate:.2%} fraudulent")
    shuffled = data.sample(frac=1.0, random_state=0)
    cut = int(len(shuffled) * 0.8)
    train, validation = shuffled.iloc[:cut], shuffled.iloc[cut:]
    positives = max(int(train["is_fraud"].sum()), 1)
    estimator = Estimator(
        algorithm="xgboost",
        target="is_fraud",
        hyperparameters={
            "num_round": 200,
            "max_depth": 4,
            "eta": 0.1,
            "scale_pos_weight": round((len(train) - positives) / positives, 2),
            "eval_metric": "auc",
            "early_stopping_rounds": 20,
        },
        base_job_name="fraud-quickstart",
        session=session,
    )
    say("2/4 Training xgboost: scale_pos_weight for the rare fraud class, early stopping")
    job = estimator.fit({"train": train, "validation": validation}, logs=False)
    metrics = job.describe()["final_metrics"]
    say(f"    {job.name}: validation:auc = {metrics.get('validation:auc', float('nan')):.4f}")
    endpoint_name = unique_name("fraud-detector")
    say(f"3/4 Deploying to endpoint {endpoint_name}")
    predictor = estimator.deploy(endpoint_name)
    sample = validation.drop(columns=["is_fraud"]).head(2)
    result = predictor.predict(sample)
    say(f"4/4 Predictions for two transactions: {result['predictions']}")
    return {"training_job": job.name, "endpoint": endpoint_name}
