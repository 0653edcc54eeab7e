"""The platform's own metrics: endpoints, training jobs and pipelines (``Shipyard/...``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from shipyard.compute.worker import JobWorker
from shipyard.monitoring.metrics.buffer import MetricBuffer

ENDPOINTS_NAMESPACE = "Shipyard/Endpoints"
TRAINING_JOBS_NAMESPACE = "Shipyard/TrainingJobs"
PIPELINES_NAMESPACE = "Shipyard/Pipelines"
TRAINING_JOB_KIND = "training"


def record_invocation(
    buffer: MetricBuffer,
    endpoint_name: str,
    variant_name: str,
    *,
    model_latency_us: float | None,
    overhead_latency_us: float,
    status_code: int,
) -> None:
    """One invocation that reached a variant: Invocations, the latencies (microseconds,
    as SageMaker) and the 4XX / 5XX error counts (0 or 1, so an Average is a rate)."""
    samples = [
        ("Invocations", 1.0, "Count"),
        ("Invocation4XXErrors", float(400 <= status_code < 500), "Count"),
        ("Invocation5XXErrors", float(status_code >= 500), "Count"),
        ("OverheadLatency", round(overhead_latency_us), "Microseconds"),
    ]
    if model_latency_us is not None:
        samples.append(("ModelLatency", round(model_latency_us), "Microseconds"))
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
    buffer.add_many(ENDPOINTS_NAMESPACE, dimensions, samples)


def record_invocations(
    buffer: MetricBuffer,
    endpoint_name: str,
    variant_name: str,
    *,
    requests: int,
    errors: int,
    model_latency_us: Mapping[float, int],
) -> None:
    """:func:`record_invocation` for ``requests`` invocations at once, ``errors`` of them
    5XX, their model latencies counted by value (a shadow's answers, tallied by its
    instance)."""
    counted = [
        ("Invocations", {1.0: requests}, "Count"),
        ("Invocation4XXErrors", {0.0: requests}, "Count"),
        ("Invocation5XXErrors", {1.0: errors, 0.0: requests - errors}, "Count"),
        ("OverheadLatency", {0.0: requests}, "Microseconds"),
        ("ModelLatency", model_latency_us, "Microseconds"),
    ]
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
    buffer.add_counted(ENDPOINTS_NAMESPACE, dimensions, counted)


def record_cold_start(
    buffer: MetricBuffer, endpoint_name: str, variant_name: str, setup_us: float
) -> None:
    """A serverless variant started an instance for a request: ``ModelSetupTime``, as
    SageMaker's serverless endpoints report it (microseconds)."""
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
    buffer.add(ENDPOINTS_NAMESPACE, "ModelSetupTime", dimensions, round(setup_us), "Microseconds")


def watch_worker(worker: JobWorker, buffer: MetricBuffer) -> None:
    """Copy what the worker's training jobs log, and their CPU and memory samples."""

    def on_metrics(
        kind: str, job_name: str, samples: list[tuple[str, float, str, datetime]]
    ) -> None:
        if kind != TRAINING_JOB_KIND:
            return
        dimensions = {"TrainingJobName": job_name}
        for name, value, unit, at in samples:
            buffer.add(TRAINING_JOBS_NAMESPACE, name, dimensions, value, unit, at)

    worker.metric_listeners.append(on_metrics)
