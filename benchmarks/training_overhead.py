"""Fixed overhead of a Shipyard training job over training the same model directly.

Trains the same XGBoost model on the same 200,000-row CSV (a) directly in this process —
read the CSV, train, save — and (b) as a Shipyard job on a live `shipyard up` server,
timed from the create request to Completed. Prints a table and writes every figure to
benchmarks/results/training_overhead.json. Goal: <= 1.5 s fixed and <= 1.10x.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import xgboost as xgb

ROWS = 200_000
FEATURES = 20
REPEATS = 3
HYPERPARAMETERS = {"num_round": 100, "max_depth": 6, "eta": 0.1, "objective": "binary:logistic"}
RESULTS = Path(__file__).parent / "results" / "training_overhead.json"


def make_data(path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    logits = features[:, :5] @ np.array([1.5, -2.0, 1.0, 0.5, -1.0]) + rng.normal(size=ROWS)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = (logits > 0).astype(int)
    frame.to_csv(path, index=False)


def train_directly(path: Path, model_dir: Path) -> float:
    started = time.perf_counter()
    frame = pd.read_csv(path, engine="pyarrow")
    label = frame.pop("label")
    matrix = xgb.QuantileDMatrix(frame.to_numpy(np.float32), label=label.to_numpy())
    params = {
        "objective": "binary:logistic",
        "max_depth": HYPERPARAMETERS["max_depth"],
        "eta": HYPERPARAMETERS["eta"],
        "tree_method": "hist",
        "nthread": os.cpu_count(),
    }
    booster = xgb.train(params, matrix, num_boost_round=HYPERPARAMETERS["num_round"])
    booster.save_model(model_dir / "model.ubj")
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_LOAD_QUICKSTART": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+", line)
        if match:
            token = match.group(0)
            break
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/api/v1/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url, token


def train_as_job(client: httpx.Client, uri: str, name: str) -> float:
    request = {
        "name": name,
        "algorithm": "xgboost",
        "target": "label",
        "hyperparameters": HYPERPARAMETERS,
        "channels": {"train": uri},
    }
    started = time.perf_counter()
    client.post("/api/v1/training-jobs", json=request).raise_for_status()
    while True:
        job = client.get(f"/api/v1/training-jobs/{name}").json()
        if job["status"] in ("Completed", "Failed", "Stopped"):
            elapsed = time.perf_counter() - started
            assert job["status"] == "Completed", job["failure_reason"]
            return elapsed
        time.sleep(0.02)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data = root / "train.csv"
        make_data(data)
        direct = []
        for _ in range(REPEATS):
            model_dir = Path(tempfile.mkdtemp(dir=root))
            direct.append(train_directly(data, model_dir))
        process, url, token = start_server(root / "home")
        try:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                with data.open("rb") as handle:
                    response = client.post(
                        "/api/v1/datasets",
                        data={"name": "bench"},
                        files={"file": ("train.csv", handle)},
                    )
                uri = response.json()["uri"]
                job = [train_as_job(client, uri, f"bench-{i}") for i in range(REPEATS)]
        finally:
            process.terminate()
            process.wait(30)
    report(direct, job)


def report(direct: list[float], job: list[float]) -> None:
    direct_s, job_s = statistics.median(direct), statistics.median(job)
    figures = {
        "rows": ROWS,
        "features": FEATURES,
        "repeats": REPEATS,
        "direct_seconds": direct,
        "shipyard_job_seconds": job,
        "direct_median_seconds": round(direct_s, 3),
        "shipyard_job_median_seconds": round(job_s, 3),
        "fixed_overhead_seconds": round(job_s - direct_s, 3),
        "ratio": round(job_s / direct_s, 3),
        "goal_fixed_overhead_seconds": 1.5,
        "goal_ratio": 1.10,
    }
    print(f"{'run':<28}{'median s':>10}")
    print(f"{'xgboost directly':<28}{direct_s:>10.3f}")
    print(f"{'xgboost as a Shipyard job':<28}{job_s:>10.3f}")
    print(f"{'fixed overhead (s)':<28}{figures['fixed_overhead_seconds']:>10.3f}   goal <= 1.5")
    print(f"{'ratio':<28}{figures['ratio']:>10.3f}   goal <= 1.10")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
