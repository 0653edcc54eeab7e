"""Batch transform throughput: a Shipyard transform job against a ~20-line script doing the
same work by hand (pyarrow + LightGBM), on the same file with the same threads, in one run.

One model, one file: a LightGBM binary classifier (100 trees of 31 leaves) on 30 numeric
features, trained here on generated data and saved once as LightGBM's text model; a
parquet file of 1,000,000 rows of those features. Both contestants read the parquet file
in batches, predict with the same booster on a float32 matrix and write a parquet file of
the same two columns (``prediction``, the class, and ``probabilities``, a list per row),
with OpenMP held to THREADS threads and sleeping when idle.

Contestants: (1) the script (SCRIPT below), run as a process of its own: its rows/s over
the time from reading the file to closing the output, and the process's wall time;
(2) Shipyard: a real ``shipyard up`` in a temporary home, the model file registered as a
model package and made a model through the SDK, the file stored in its artifact store,
and a transform job (``application/x-parquet`` in and out, ``resources.cpu_count`` =
THREADS) created through the REST API; its rows/s over its own transform time (from its
``Transforming`` status to its end, as its status history records them) and end to end
(from the create request to Completed: queueing, the job process, loading the model,
counting the records, the output's hash), once with ``max_concurrent_transforms`` 1 and
once with THREADS. A first small job warms the worker's forkserver; it is reported on its
own. The contestants alternate, ROUNDS times; the figures are medians. The outputs are
compared: Shipyard's must equal the script's. The goal's figure is the job with
``max_concurrent_transforms`` 1, which holds the script's threads exactly (one batch at a
time, OpenMP on THREADS); with THREADS mini-batches at once the job also reads and writes
while it predicts, on the same CPUs.

Run ``.venv/bin/python benchmarks/batch_transform.py``: about two minutes. Prints a table
with the ratios and writes every figure to benchmarks/results/batch_transform.json. Goal:
Shipyard's rows/s (its own transform time) >= 0.7x the script's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from live_server import start_server

from shipyard.sdk.client import Session
from shipyard.sdk.registry import ModelPackageGroup

ROWS = 1_000_000
ROW_GROUP = 100_000
FEATURES = 30
FEATURE_NAMES = [f"f{i}" for i in range(FEATURES)]
TREES = 100
LEAVES = 31
THREADS = min(4, os.cpu_count() or 1)
ROUNDS = 3
POLL_SECONDS = 0.2  # the job shares the cores with the server: do not keep it busy
GOAL = 0.7
RESULTS = Path(__file__).parent / "results" / "batch_transform.json"
ENDED = ("Completed", "Failed", "Stopped")
SCRIPT = """
import json, sys, time
import lightgbm as lgb, numpy as np, pyarrow as pa, pyarrow.parquet as pq

model_file, source, target, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
started = time.perf_counter()
booster = lgb.Booster(model_file=model_file)
parquet, writer = pq.ParquetFile(source), None
for batch in parquet.iter_batches(batch_size=65_536):
    matrix = np.column_stack([c.to_numpy() for c in batch.columns]).astype(np.float32)
    positive = booster.predict(matrix, num_threads=threads)
    both = np.column_stack([1 - positive, positive]).ravel()
    offsets = pa.array(np.arange(0, len(both) + 1, 2, dtype=np.int32))
    table = pa.table({
        "prediction": (positive > 0.5).astype(np.int64),
        "probabilities": pa.ListArray.from_arrays(offsets, pa.array(both)),
    })
    writer = writer or pq.ParquetWriter(target, table.schema)
    writer.write_table(table)
writer.close()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": parquet.metadata.num_rows}))
"""


# ---- the model and the data -----------------------------------------------------------
def train_model(directory: Path) -> Path:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, FEATURES)).astype(np.float32)
    logits = x @ rng.normal(scale=0.5, size=FEATURES) + x[:, 0] * x[:, 1] + rng.normal(size=len(x))
    params = {
        "objective": "binary",
        "num_leaves": LEAVES,
        "learning_rate": 0.1,
        "num_threads": THREADS,
        "deterministic": True,
        "seed": 0,
        "verbose": -1,
    }
    data = lgb.Dataset(x, label=(logits > 0).astype(int), feature_name=FEATURE_NAMES)
    booster = lgb.train(params, data, num_boost_round=TREES)
    path = directory / "model.txt"
    booster.save_model(path)
    return path


def write_rows(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    schema = pa.schema([pa.field(name, pa.float64()) for name in FEATURE_NAMES])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            chunk = rng.normal(size=(min(ROW_GROUP, rows - start), FEATURES))
            writer.write_table(pa.table(list(chunk.T), schema=schema))


# ---- the contestants ------------------------------------------------------------------
def run_script(model_file: Path, source: Path, target: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "OMP_WAIT_POLICY": "PASSIVE"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model_file), str(source), str(target), str(THREADS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    inside = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "transform_seconds": round(inside["seconds"], 3),
        "wall_seconds": round(wall, 3),
        "rows_per_second": round(inside["rows"] / inside["seconds"]),
        "wall_rows_per_second": round(inside["rows"] / wall),
    }


def run_job(client: httpx.Client, name: str, model: str, uri: str, concurrency: int) -> dict:
    request = {
        "name": name,
        "model_name": model,
        "transform_input": {"data_source": uri, "content_type": "application/x-parquet"},
        "transform_output": {"accept": "application/x-parquet"},
        "max_concurrent_transforms": concurrency,
        "resources": {"cpu_count": THREADS},
    }
    started = time.perf_counter()
    client.post("/api/v1/transform-jobs", json=request).raise_for_status()
    while True:
        job = client.get(f"/api/v1/transform-jobs/{name}").json()
        if job["status"] in ENDED:
            wall = time.perf_counter() - started
            break
        time.sleep(POLL_SECONDS)
    assert job["status"] == "Completed", job["failure_reason"]
    history = {t["secondary_status"]: _at(t["at"]) for t in job["status_history"]}
    ended = _at(job["ended_at"])
    transform = (ended - history["Transforming"]).total_seconds()
    rows = job["records_processed"]
    return {
        "job": name,
        "max_concurrent_transforms": concurrency,
        "records": rows,
        "queued_to_start_seconds": round(
            (_at(job["started_at"]) - _at(job["created_at"])).total_seconds(), 3
        ),
        "start_to_transforming_seconds": round(
            (history["Transforming"] - _at(job["started_at"])).total_seconds(), 3
        ),
        "transform_seconds": round(transform, 3),
        "end_to_end_seconds": round(wall, 3),
        "rows_per_second": round(rows / transform),
        "end_to_end_rows_per_second": round(rows / wall),
        "output_uri": job["outputs"][0]["output_uri"],
    }


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def same_output(shipyard: Path, script: Path) -> bool:
    ours, theirs = pq.read_table(shipyard), pq.read_table(script)
    if ours.column_names != theirs.column_names or ours.num_rows != theirs.num_rows:
        return False
    return all(ours.column(c).equals(theirs.column(c)) for c in ours.column_names)


# ---- the run --------------------------------------------------------------------------
def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_file = train_model(root)
        home = root / "home"
        stored = home / "artifacts" / "bench"
        stored.mkdir(parents=True)
        write_rows(stored / "scoring.parquet", ROWS)
        write_rows(stored / "warmup.parquet", 1000)
        process, url, token = start_server(home)
        try:
            results = measure(root, home, model_file, url, token)
        finally:
            process.terminate()
            process.wait(timeout=30)
    results["load_average_before"] = [round(v, 2) for v in load_before]
    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    report(results)


def measure(root: Path, home: Path, model_file: Path, url: str, token: str) -> dict[str, Any]:
    with Session(url, token, timeout=120) as session:
        group = ModelPackageGroup.create("batch-bench", session=session)
        package = group.register(
            model_data=model_file,
            model_format="lightgbm",
            feature_names=FEATURE_NAMES,
            problem_type="binary_classification",
            classes=[0, 1],
            inference_spec={"framework": "lightgbm"},
            approval_status="Approved",
        )
        model = package.create_model("batch-bench")["name"]
    headers = {"Authorization": f"Bearer {token}"}
    source = home / "artifacts" / "bench" / "scoring.parquet"
    script_output = root / "script.parquet"
    runs: dict[str, list[dict[str, Any]]] = {"script": [], "shipyard_c1": [], "shipyard_cN": []}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        warmup = run_job(client, "warmup", model, "shipyard://bench/warmup.parquet", 1)
        for round_ in range(ROUNDS):
            runs["script"].append(run_script(model_file, source, script_output))
            for key, concurrency in (("shipyard_c1", 1), ("shipyard_cN", THREADS)):
                name = f"bench-{key.replace('_', '-')}-{round_}"
                runs[key].append(
                    run_job(client, name, model, "shipyard://bench/scoring.parquet", concurrency)
                )
    output = home / "artifacts" / runs["shipyard_cN"][-1]["output_uri"].removeprefix("shipyard://")
    medians = {
        key: {
            figure: statistics.median(r[figure] for r in rows)
            for figure in rows[0]
            if isinstance(rows[0][figure], int | float) and figure != "max_concurrent_transforms"
        }
        for key, rows in runs.items()
    }
    script = medians["script"]["rows_per_second"]
    script_wall = medians["script"]["wall_rows_per_second"]
    return {
        "rows": ROWS,
        "features": FEATURES,
        "trees": TREES,
        "leaves": LEAVES,
        "threads": THREADS,
        "rounds": ROUNDS,
        "cpu_count": os.cpu_count(),
        "script_lines": len(SCRIPT.strip().splitlines()),
        "warmup_job": warmup,
        "runs": runs,
        "medians": medians,
        "outputs_equal": same_output(output, script_output),
        # the goal's figure: the same threads as the script (one mini-batch at a time,
        # OpenMP on THREADS); with THREADS mini-batches at once, reading overlaps predicting
        "ratio_to_script": round(medians["shipyard_c1"]["rows_per_second"] / script, 3),
        "ratio_to_script_concurrent": round(medians["shipyard_cN"]["rows_per_second"] / script, 3),
        "end_to_end_ratio_to_script_wall": round(
            medians["shipyard_c1"]["end_to_end_rows_per_second"] / script_wall, 3
        ),
        "end_to_end_ratio_to_script_wall_concurrent": round(
            medians["shipyard_cN"]["end_to_end_rows_per_second"] / script_wall, 3
        ),
        "goal_ratio": GOAL,
    }


def report(results: dict[str, Any]) -> None:
    medians, threads = results["medians"], results["threads"]
    script = medians["script"]
    print(f"{results['rows']:,} rows x {results['features']} features, {threads} threads, "
          f"median of {results['rounds']} rounds")  # fmt: skip
    print(f"{'contestant':<34}{'transform s':>12}{'rows/s':>10}{'x script':>10}"
          f"{'e2e s':>9}{'e2e rows/s':>12}{'x wall':>8}")  # fmt: skip
    rows = [
        ("script (pyarrow + Booster.predict)", script["transform_seconds"],
         script["rows_per_second"], script["wall_seconds"], script["wall_rows_per_second"]),
        ("shipyard, max_concurrent 1", *_job_row(medians["shipyard_c1"])),
        (f"shipyard, max_concurrent {threads}", *_job_row(medians["shipyard_cN"])),
    ]  # fmt: skip
    for label, seconds, rate, wall, wall_rate in rows:
        print(
            f"{label:<34}{seconds:>12.2f}{rate:>10,.0f}{rate / script['rows_per_second']:>10.2f}"
            f"{wall:>9.2f}{wall_rate:>12,.0f}{wall_rate / script['wall_rows_per_second']:>8.2f}"
        )
    warmup = results["warmup_job"]["end_to_end_seconds"]
    print(f"first job after start (1,000 rows): {warmup:.2f} s end to end; "
          f"outputs equal: {results['outputs_equal']}")  # fmt: skip
    verdict = "met" if results["ratio_to_script"] >= results["goal_ratio"] else "NOT met"
    print(f"goal: rows/s >= {results['goal_ratio']}x the script's with the same threads "
          f"(max_concurrent 1): {verdict} ({results['ratio_to_script']:.2f}x)")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def _job_row(figures: dict[str, float]) -> tuple[float, float, float, float]:
    return (
        figures["transform_seconds"],
        figures["rows_per_second"],
        figures["end_to_end_seconds"],
        figures["end_to_end_rows_per_second"],
    )


if __name__ == "__main__":
    main()
