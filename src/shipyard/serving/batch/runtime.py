"""What runs inside a transform job's process: load the model, check and count the records
of every input file, then predict each file's records in mini-batches and store
``<input file>.out``, one output per record in input order, and beside it, when records
failed, ``<input file>.out.errors`` (a JSON line per failed record: ``record``, ``reason``).

Mini-batches are parsed and predicted by ``max_concurrent_transforms`` threads and written
in order. A mini-batch that fails is split in halves, again and again, down to the records
that fail alone: only they get an empty output and a line in the errors file, so a bad
record costs about two predictions of the records around it. A file that does not read as
records of the model (its first record, its parquet schema) fails the job, named; so does
a job whose every record failed (with the first failure), and one whose first
:data:`MAX_FAILED_BEFORE_SUCCESS` records failed before any succeeded (an input the model
cannot read at all is not tried record by record).

Records: ``transform-plan`` (the records of each file, once counted), ``transform-output``
per stored file, ``transform-summary`` last; the ``records_processed`` metric as it goes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import pyarrow.parquet as pq

from shipyard.compute.events import emit_metric, emit_record, emit_status
from shipyard.core.artifacts import LocalArtifactStore, open_store, uri_for
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.serving.batch.outputs import OutputFormat, Part, Rendered, predict_arrays
from shipyard.serving.batch.records import (
    PARQUET,
    Batch,
    Layout,
    count_records,
    read_batches,
    read_layout,
    to_frame,
)
from shipyard.serving.batch.selectors import parse_selector
from shipyard.serving.loading import ModelSource, load_verified
from shipyard.training.algorithms import LoadedModel
from shipyard.training.runtime import materialize

T = TypeVar("T")
R = TypeVar("R")
MAX_FAILED_BEFORE_SUCCESS = 1000
PROGRESS_SECONDS = 0.5
MAX_REASON = 1000
ERRORS_SUFFIX = ".errors"


@dataclass(frozen=True)
class InputFile:
    """An input file on local disk, checked and counted: where its outputs go."""

    uri: str
    output: str
    local: Path
    layout: Layout
    records: int


@dataclass(frozen=True)
class FileResult:
    records: int
    failed: int
    first_failure: tuple[int, str] | None


class Tally:
    """The job's records so far that succeeded and failed, across the threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.succeeded = 0
        self.failed = 0

    def add(self, succeeded: int, failed: int) -> None:
        with self.lock:
            self.succeeded += succeeded
            self.failed += failed

    def hopeless(self, more_failed: int) -> bool:
        """No record succeeded yet and at least MAX_FAILED_BEFORE_SUCCESS failed."""
        with self.lock:
            return self.succeeded == 0 and self.failed + more_failed >= MAX_FAILED_BEFORE_SUCCESS


class Hopeless(ValidationError):
    """The first records all failed: the job stops rather than try the rest one by one."""


class Progress:
    """Reports ``records_processed`` (and ``records_failed``) at most every
    PROGRESS_SECONDS."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.processed = 0
        self.reported_at = time.monotonic()

    def advance(self, records: int) -> None:
        self.processed += records
        if time.monotonic() - self.reported_at >= PROGRESS_SECONDS:
            self.report()

    def report(self, step: int | None = None) -> None:
        emit_metric("records_processed", self.processed, step=step)
        emit_metric("records_failed", self.tally.failed, step=step)
        self.reported_at = time.monotonic()


def main(payload: dict[str, Any]) -> None:
    workdir = Path.cwd()
    store = open_store(payload["store"]["uri"], payload["store"].get("endpoint_url"))
    emit_status("Downloading")
    # the hash its model recorded, and a pickle only when trusted, as an endpoint loads it
    model = load_verified(store, ModelSource.from_payload(payload["model"]), workdir / "model")
    staging = workdir / "output"  # laid out as the store: the prefix's hash is read here
    output_dir = staging / payload["output_prefix"]
    output_dir.mkdir(parents=True)
    inputs = [
        prepare(
            item, materialize(item["uri"], store, workdir / "input" / str(index)), model, payload
        )
        for index, item in enumerate(payload["files"])
    ]
    total = sum(f.records for f in inputs)
    emit_record("transform-plan", {"records": total, "files": [f.records for f in inputs]})
    emit_status("Transforming")
    started = time.perf_counter()
    tally = Tally()
    progress = Progress(tally)
    first_failure: str | None = None
    for index, item in enumerate(inputs):
        target = output_dir / item.output
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = transform_file(item, target, model, payload, tally, progress)
        except ShipyardError as exc:  # name the file: the job may read many
            raise ValidationError(f"{item.uri}: {exc.message}") from None
        key = f"{payload['output_prefix']}/{item.output}"
        store.put_file(key, target)
        errors_uri = None
        if done.failed:
            store.put_file(key + ERRORS_SUFFIX, target.with_name(target.name + ERRORS_SUFFIX))
            errors_uri = uri_for(key + ERRORS_SUFFIX)
        if done.first_failure is not None and first_failure is None:
            first_failure = f"record {done.first_failure[0]} of {item.uri}: {done.first_failure[1]}"
        print(f"{item.uri}: {done.records} records, {done.failed} failed", flush=True)
        emit_record(
            "transform-output",
            {
                "input_uri": item.uri,
                "output_uri": uri_for(key),
                "records": done.records,
                "records_failed": done.failed,
                "errors_uri": errors_uri,
            },
        )
        progress.report(step=index)
    seconds = time.perf_counter() - started
    progress.report()
    if tally.failed and not tally.succeeded:
        raise ValidationError(f"every record failed; the first, {first_failure}")
    sha256 = prefix_sha256(LocalArtifactStore(staging), payload["output_prefix"])
    emit_record(
        "transform-summary",
        {
            "output_uri": uri_for(payload["output_prefix"]),
            "sha256": sha256,
            "records": progress.processed,
            "records_failed": tally.failed,
            "transform_seconds": round(seconds, 3),
        },
    )


def prepare(
    item: dict[str, str], local: Path, model: LoadedModel, payload: dict[str, Any]
) -> InputFile:
    """The input file ``local`` checked as the job's create checked its first files (a bad
    file fails the job before anything is written), and counted."""
    processing = payload.get("data_processing") or {}
    selector = parse_selector(processing.get("input_filter", "$"), "data_processing.input_filter")
    try:
        with local.open("rb") as handle:
            layout = read_layout(
                handle,
                item["uri"],
                payload["content_type"],
                model.feature_names,
                selector,
                payload["max_payload_bytes"],
            )
    except ValidationError as exc:
        raise ValidationError(exc.message.removeprefix(f"{exc.field}: ")) from None
    return InputFile(item["uri"], item["output"], local, layout, count_records(local, layout))


def transform_file(
    item: InputFile,
    target: Path,
    model: LoadedModel,
    payload: dict[str, Any],
    tally: Tally,
    progress: Progress,
) -> FileResult:
    """Write the output of every record of ``item`` to ``target`` (and the failed ones to
    ``target.errors``)."""
    processing = payload.get("data_processing") or {}
    output_format = OutputFormat(
        payload["accept"],
        item.layout,
        join=processing.get("join_source", "None") == "Input",
        selector=parse_selector(
            processing.get("output_filter", "$"), "data_processing.output_filter"
        ),
        problem_type=model.problem_type,
        classes=model.classes,
    )
    batches = read_batches(
        item.local,
        item.layout,
        payload["split_type"],
        payload["single_record"],
        payload["max_payload_bytes"],
    )
    features = model.feature_names
    # parquet is written from arrays; text from the lists an endpoint answers in, as it does
    arrays = payload["accept"] == PARQUET

    def predict(batch: Batch) -> dict[str, Any]:
        frame = to_frame(batch, item.layout, features)
        return predict_arrays(model, frame) if arrays else model.predict(frame)

    def transform(batch: Batch) -> tuple[int, Rendered]:
        parts = isolate(batch, predict, tally)
        rendered = output_format.render(batch, parts)
        tally.add(batch.size - len(rendered.failures), len(rendered.failures))
        return batch.size, rendered

    records = 0
    workers = payload.get("max_concurrent_transforms", 1)
    errors = ErrorLog(target.with_name(target.name + ERRORS_SUFFIX))
    with OutputFile(target, output_format) as out, errors:
        for count, rendered in ordered_map(transform, batches, workers):
            out.write(rendered)
            errors.write(rendered.failures)
            records += count
            progress.advance(count)
    return FileResult(records, errors.count, errors.first)


def isolate(
    batch: Batch, predict: Callable[[Batch], dict[str, Any]], tally: Tally, failed: int = 0
) -> list[Part]:
    """The batch's predictions; a batch that fails split in halves, down to the records
    that fail alone. ``failed``: how many records of this batch failed before it."""
    if batch.error is not None:
        return [Part(batch, reason=batch.error)]
    try:
        return [Part(batch, result=predict(batch))]
    except Hopeless:
        raise
    except Exception as exc:
        if batch.size > 1:
            half = batch.size // 2
            left = isolate(batch.part(0, half), predict, tally, failed)
            failed += sum(p.batch.size for p in left if p.result is None)
            return left + isolate(batch.part(half, batch.size), predict, tally, failed)
        reason = _reason(exc)
        if tally.hopeless(failed + 1):
            raise Hopeless(
                f"the first {MAX_FAILED_BEFORE_SUCCESS} records failed and none succeeded, so "
                f"the job stops; record {batch.first}: {reason}"
            ) from None
        return [Part(batch, reason=reason)]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ShipyardError):
        reason = exc.message.removeprefix("instances: ")
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return " ".join(reason.split())[:MAX_REASON]


class OutputFile:
    """``<input>.out``: bytes as they come, or a parquet file of the format's schema."""

    def __init__(self, path: Path, output_format: OutputFormat) -> None:
        self.path, self.format = path, output_format
        self.handle: IO[bytes] | None = None
        self.parquet: pq.ParquetWriter | None = None

    def __enter__(self) -> OutputFile:
        if self.format.accept == PARQUET:
            self.parquet = pq.ParquetWriter(self.path, self.format.schema)
        else:
            self.handle = self.path.open("wb")
        return self

    def write(self, rendered: Rendered) -> None:
        if self.parquet is not None:
            self.parquet.write_batch(rendered.body)
        else:
            assert self.handle is not None and isinstance(rendered.body, bytes)
            self.handle.write(rendered.body)

    def __exit__(self, *exc: object) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None:
            self.handle.close()


class ErrorLog:
    """``<input>.out.errors``, written once a record failed: a JSON line per failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None
        self.count = 0
        self.first: tuple[int, str] | None = None

    def __enter__(self) -> ErrorLog:
        return self

    def write(self, failures: list[tuple[int, str]]) -> None:
        if not failures:
            return
        if self.handle is None:
            self.handle = self.path.open("w")
            self.first = failures[0]
        for record, reason in failures:
            self.handle.write(json.dumps({"record": record, "reason": reason}) + "\n")
        self.count += len(failures)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def ordered_map(function: Callable[[T], R], items: Iterator[T], workers: int) -> Iterator[R]:
    """``map`` on ``workers`` threads, in order, with at most twice as many items in flight."""
    if workers <= 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="transform")
    try:
        window: deque[Future[R]] = deque()
        for item in items:
            window.append(pool.submit(function, item))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:  # on a failure, what has not started never will
        pool.shutdown(wait=True, cancel_futures=True)
