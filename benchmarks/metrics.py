"""The metrics store's throughput: ingest (datapoints/s through ``put_metric_data`` in
batches of 1,000, each batch its own transaction) and query (p99 of a 24 h range at a
1-minute period, answered from the roll-ups), on SQLite and PostgreSQL.

PostgreSQL runs when SHIPYARD_BENCH_POSTGRES_URL names a server
(``postgresql+psycopg://root@127.0.0.1:5432/test``): the benchmark creates a fresh database
next to it and drops it afterwards. Prints a table, writes benchmarks/results/metrics.json.
Goals: >= 50,000 datapoints/s, p99 <= 50 ms.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.monitoring.metrics import service
from shipyard.monitoring.metrics.schemas import MetricDatum

RESULTS = Path(__file__).parent / "results" / "metrics.json"
BATCH = 1000
BATCHES = 200
SERIES = 20
QUERIES = 200
GOAL_DATAPOINTS_PER_SECOND = 50_000
GOAL_P99_MS = 50.0
NAMESPACE = "Bench/Service"


def batches() -> list[list[MetricDatum]]:
    """BATCHES × BATCH data over SERIES series, spread over the last 24 h (built up front:
    the benchmark times the store, not pydantic)."""
    rng = np.random.default_rng(0)
    end = utcnow() - timedelta(minutes=2)
    total = BATCH * BATCHES
    offsets = np.sort(rng.uniform(0, 86_400, total))[::-1]
    values = rng.lognormal(3, 1, total)
    data = [
        MetricDatum(
            metric_name="Latency",
            dimensions={"Host": f"h{i % SERIES}", "Service": "api"},
            value=float(values[i]),
            unit="Milliseconds",
            timestamp=end - timedelta(seconds=float(offsets[i])),
        )
        for i in range(total)
    ]
    return [data[i : i + BATCH] for i in range(0, total, BATCH)]


def measure(db: Database, data: list[list[MetricDatum]]) -> dict[str, Any]:
    started = time.perf_counter()
    for batch in data:
        with db.session_scope() as session:
            service.put_metric_data(session, NAMESPACE, batch)
    ingest = time.perf_counter() - started
    points = BATCH * len(data)

    started = time.perf_counter()
    service.maintain(db, now=utcnow() + timedelta(minutes=1))
    rollup = time.perf_counter() - started

    figures: dict[str, Any] = {
        "datapoints": points,
        "ingest_seconds": round(ingest, 3),
        "datapoints_per_second": round(points / ingest),
        "rollup_seconds": round(rollup, 3),
        "rollup_datapoints_per_second": round(points / rollup),
    }
    # the 200,000 prebuilt data above are this script's, not a server's: keep the collector
    # from walking them during the queries
    gc.collect()
    gc.freeze()
    end = utcnow()
    for label, wanted in (
        ("basic", ["Average", "Sum", "SampleCount", "Minimum", "Maximum"]),
        ("p99", ["p99", "Average"]),
    ):
        times = []
        for i in range(QUERIES):
            started = time.perf_counter()
            with db.session_scope() as session:
                found = service.get_metric_statistics(
                    session,
                    namespace=NAMESPACE,
                    metric_name="Latency",
                    dimensions={"Service": "api", "Host": f"h{i % SERIES}"},
                    start_time=end - timedelta(hours=24),
                    end_time=end,
                    period=60,
                    statistics=wanted,
                )
            times.append((time.perf_counter() - started) * 1000)
            assert found, "the query found no datapoints"
        times.sort()
        figures[f"query_{label}_datapoints"] = len(found)
        figures[f"query_{label}_p50_ms"] = round(statistics.median(times), 2)
        figures[f"query_{label}_p99_ms"] = round(times[int(0.99 * len(times)) - 1], 2)
    gc.unfreeze()
    return figures


def postgres_database(url: str) -> tuple[str, str]:
    """A fresh database on the server of ``url``: (its URL, its name)."""
    base = make_url(url)
    name = f"shipyard_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(url: str, name: str) -> None:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    data = batches()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite:///{Path(directory) / 'bench.db'}")
        db.migrate()
        results["sqlite"] = measure(db, data)
        db.dispose()
    pg_url = os.environ.get("SHIPYARD_BENCH_POSTGRES_URL")
    if pg_url:
        url, name = postgres_database(pg_url)
        try:
            db = Database(url)
            db.migrate()
            results["postgresql"] = measure(db, data)
            db.dispose()
        finally:
            drop_postgres_database(pg_url, name)
    report(results)


def report(results: dict[str, Any]) -> None:
    figures = {
        "batch_size": BATCH,
        "batches": BATCHES,
        "series": SERIES,
        "queries": QUERIES,
        "cpu_count": os.cpu_count(),
        "backends": results,
        "goal_datapoints_per_second": GOAL_DATAPOINTS_PER_SECOND,
        "goal_query_p99_ms": GOAL_P99_MS,
    }
    for row in results.values():
        row["ingest_ratio_to_goal"] = round(
            row["datapoints_per_second"] / GOAL_DATAPOINTS_PER_SECOND, 2
        )
        row["query_p99_ratio_to_goal"] = round(row["query_p99_p99_ms"] / GOAL_P99_MS, 2)
    header = f"{'backend':<12}{'points/s':>10}{'x goal':>8}{'rollup/s':>10}"
    print(header + f"{'q p50 ms':>10}{'q p99 ms':>10}{'p99(p99) ms':>13}{'x goal':>8}")
    for backend, row in results.items():
        print(
            f"{backend:<12}{row['datapoints_per_second']:>10}{row['ingest_ratio_to_goal']:>8.2f}"
            f"{row['rollup_datapoints_per_second']:>10}{row['query_basic_p50_ms']:>10.2f}"
            f"{row['query_basic_p99_ms']:>10.2f}{row['query_p99_p99_ms']:>13.2f}"
            f"{row['query_p99_ratio_to_goal']:>8.2f}"
        )
    print(f"goal: >= {GOAL_DATAPOINTS_PER_SECOND} datapoints/s, query p99 <= {GOAL_P99_MS} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
