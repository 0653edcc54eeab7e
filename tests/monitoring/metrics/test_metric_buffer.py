"""``MetricBuffer``: many threads add, one flush writes each second's values with counts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.monitoring.metrics import service
from shipyard.monitoring.metrics.buffer import MetricBuffer


def test_threads_add_and_one_flush_stores_every_value(database: Database) -> None:
    buffer = MetricBuffer(database)
    at = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    dimensions = {"EndpointName": "e", "VariantName": "v"}

    def invoke(thread: int) -> None:
        for i in range(500):
            buffer.add(
                "Shipyard/Endpoints", "ModelLatency", dimensions, float(i), "Microseconds", at
            )

    threads = [threading.Thread(target=invoke, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert buffer.pending() == 1
    assert buffer.flush() == 4  # 500 distinct values: four data of at most 150 values
    assert buffer.flush() == 0
    with database.session_scope() as session:
        [point] = service.get_metric_statistics(
            session,
            namespace="Shipyard/Endpoints",
            metric_name="ModelLatency",
            dimensions=dimensions,
            start_time=at,
            end_time=at + timedelta(seconds=1),
            period=1,
            statistics=["SampleCount", "Sum", "p50", "Maximum"],
        )
    assert point.values == {
        "SampleCount": 2000,
        "Sum": 4 * sum(range(500)),
        "p50": 249,
        "Maximum": 499,
    }
    assert point.timestamp == at and point.unit == "Microseconds"


def test_the_flusher_writes_in_the_background_and_stop_flushes(database: Database) -> None:
    buffer = MetricBuffer(database, flush_seconds=0.05)
    buffer.start()
    buffer.add("Shipyard/Pipelines", "ExecutionsFailed", {"PipelineName": "p"}, 1.0, "Count")
    buffer.stop()
    assert buffer.pending() == 0
    with database.session_scope() as session:
        assert [m.metric_name for m in service.list_metrics(session, "Shipyard/Pipelines")] == [
            "ExecutionsFailed"
        ]


def test_a_refused_datum_is_dropped_not_retried_forever(database: Database) -> None:
    buffer = MetricBuffer(database)
    buffer.add("Shipyard/X", "Old", {}, 1.0, "Count", datetime(2000, 1, 1, tzinfo=UTC))
    assert buffer.flush() == 0 and buffer.pending() == 0 and buffer.dropped == 1
