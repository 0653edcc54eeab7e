"""What step caching saves: the fraud pipeline of examples/ end to end, uncached and again.

For each of REPEATS fresh datasets (generated, 20,000 rows): a first run (every step runs:
SQL split, xgboost training, evaluation, register, deploy), the same run again (the three
job steps reused from the cache: no new job), and a run with one training parameter
changed (the split is reused; training and evaluation run again). The peer is the uncached
run in the same session. Prints a table and writes every figure to
benchmarks/results/pipeline_caching.json. Goal: a cached re-run < 1/3 of the first run.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from live_server import start_server

from shipyard.quickstart import fraud_transactions
from shipyard.sdk.client import Session
from shipyard.sdk.pipelines.pipeline import load_pipeline_file

ROWS = 20_000
REPEATS = 3
EXAMPLE = Path(__file__).parents[1] / "examples" / "pipelines" / "fraud_pipeline.py"
RESULTS = Path(__file__).parent / "results" / "pipeline_caching.json"


def timed_run(session: Session, parameters: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    pipeline = load_pipeline_file(str(EXAMPLE), session)
    started = time.perf_counter()
    done = pipeline.start(parameters).wait(timeout=600)
    return time.perf_counter() - started, done


def cache_hits(execution: dict[str, Any]) -> list[str]:
    return [s["step_name"] for s in execution["steps"] if s["cache_hit"]]


def main() -> None:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        process, url, token = start_server(root / "home")
        try:
            with Session(url, token, timeout=120) as session:
                load_pipeline_file(str(EXAMPLE), session).upsert()
                for repeat in range(REPEATS):
                    frame = fraud_transactions(rows=ROWS, seed=100 + repeat)
                    frame.insert(0, "id", range(len(frame)))
                    path = root / f"transactions-{repeat}.csv"
                    frame.to_csv(path, index=False)
                    data = session.upload(path, dataset_name=f"transactions-{repeat}")
                    base = {"InputData": data, "Threshold": 0.5}
                    first, _ = timed_run(session, base)
                    again, cached = timed_run(session, base)
                    changed, partly = timed_run(session, {**base, "Rounds": 30})
                    rows.append(
                        {
                            "first_seconds": round(first, 3),
                            "cached_seconds": round(again, 3),
                            "one_parameter_changed_seconds": round(changed, 3),
                            "cached_steps": cache_hits(cached),
                            "cached_steps_after_change": cache_hits(partly),
                        }
                    )
        finally:
            process.terminate()
            process.wait(30)
    report(rows)


def report(rows: list[dict[str, Any]]) -> None:
    first = statistics.median(r["first_seconds"] for r in rows)
    cached = statistics.median(r["cached_seconds"] for r in rows)
    changed = statistics.median(r["one_parameter_changed_seconds"] for r in rows)
    figures = {
        "rows": ROWS,
        "repeats": REPEATS,
        "cpu_count": os.cpu_count(),
        "runs": rows,
        "first_median_seconds": round(first, 3),
        "cached_median_seconds": round(cached, 3),
        "one_parameter_changed_median_seconds": round(changed, 3),
        "cached_over_first": round(cached / first, 3),
        "changed_over_first": round(changed / first, 3),
        "goal_cached_over_first": round(1 / 3, 3),
    }
    print(f"{'run':<28}{'median s':>10}{'vs first':>10}")
    print(f"{'first (nothing cached)':<28}{first:>10.3f}{1:>10.3f}")
    print(f"{'same again (cached)':<28}{cached:>10.3f}{cached / first:>10.3f}")
    print(f"{'Rounds changed':<28}{changed:>10.3f}{changed / first:>10.3f}")
    print("goal: cached re-run < 1/3 of the first run")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
