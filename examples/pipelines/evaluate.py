"""Evaluate a trained model on the test table; write evaluation.json (read by the
pipeline's condition with JsonGet) into the `report` output."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from shipyard.training.algorithms import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    target = parser.parse_args().target
    model = load_model(Path(os.environ["SHIPYARD_INPUT_MODEL"]))
    test = pd.read_csv(next(Path(os.environ["SHIPYARD_INPUT_TEST"]).glob("*.csv")))
    predicted = model.predict(test.drop(columns=[target]))
    positive = [row[-1] for row in predicted["probabilities"]]
    report = {
        "metrics": {
            "auc": {"value": round(float(roc_auc_score(test[target], positive)), 6)},
            "accuracy": {
                "value": round(float(accuracy_score(test[target], predicted["predictions"])), 6)
            },
        },
        "rows": len(test),
    }
    output = Path(os.environ["SHIPYARD_OUTPUT_REPORT"])
    (output / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["metrics"]))


if __name__ == "__main__":
    main()
