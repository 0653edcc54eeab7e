"""What runs inside a transform job's process: load the model, predict every record of each
input file in mini-batches, store ``<input file>.out`` per file, records in input order.

Mini-batches are parsed and predicted by ``max_concurrent_transforms`` threads and written
in order; each stored file is reported by a ``transform-output`` record and the running
record count by the ``records_processed`` metric.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from shipyard.compute.events import emit_metric, emit_record, emit_status
from shipyard.core.artifacts import (
    LocalArtifactStore,
    open_store,
    uri_for,
)
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.serving.batch.records import (
    CSV,
    Batch,
    csv_header,
    first_line,
    read_batches,
    render_records,
    to_frame,
)
from shipyard.serving.loading import ModelSource, load_verified
from shipyard.training.algorithms import LoadedModel
from shipyard.training.runtime import materialize

T = TypeVar("T")
R = TypeVar("R")


def main(payload: dict[str, Any]) -> None:
    workdir = Path.cwd()
    store = open_store(payload["store"]["uri"], payload["store"].get("endpoint_url"))
    emit_status("Downloading")
    # the hash its model recorded, and a pickle only when trusted, as an endpoint loads it
    model = load_verified(store, ModelSource.from_payload(payload["model"]), workdir / "model")
    staging = workdir / "output"  # laid out as the store: the prefix's hash is read here
    output_dir = staging / payload["output_prefix"]
    output_dir.mkdir(parents=True)
    emit_status("Transforming")
    total = 0
    for index, item in enumerate(payload["files"]):
        local = materialize(item["uri"], store, workdir / "input" / str(index))
        target = output_dir / item["output"]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            records = transform_file(local, target, model, payload)
        except ShipyardError as exc:  # name the file: the job may read many
            raise ValidationError(f"{item['uri']}: {exc.message}") from None
        key = f"{payload['output_prefix']}/{item['output']}"
        store.put_file(key, target)
        total += records
        print(f"{item['uri']}: {records} records", flush=True)
        emit_record(
            "transform-output",
            {"input_uri": item["uri"], "output_uri": uri_for(key), "records": records},
        )
        emit_metric("records_processed", total, step=index)
    sha256 = prefix_sha256(LocalArtifactStore(staging), payload["output_prefix"])
    emit_metric("records_processed", total)
    emit_record(
        "transform-summary",
        {"output_uri": uri_for(payload["output_prefix"]), "sha256": sha256, "records": total},
    )


def transform_file(source: Path, target: Path, model: LoadedModel, payload: dict[str, Any]) -> int:
    """Write the predictions for every record of ``source`` to ``target``; the records."""
    content_type = payload["content_type"]
    features = model.feature_names
    header = None
    if content_type == CSV:
        with source.open("rb") as handle:
            header = csv_header(first_line(handle, payload["max_payload_bytes"]), features)
    batches = read_batches(
        source,
        content_type,
        payload["split_type"],
        payload["single_record"],
        payload["max_payload_bytes"],
        has_header=header is not None,
    )

    def predict(batch: Batch) -> tuple[int, bytes]:
        frame = to_frame(batch, content_type, header, features)
        try:
            result = model.predict(frame)
        except ValidationError as exc:
            reason = exc.message.removeprefix("instances: ")
            last = batch.first + batch.size - 1
            raise ValidationError(f"records {batch.first}-{last}: {reason}") from None
        return batch.size, render_records(result, payload["accept"])

    records = 0
    workers = payload.get("max_concurrent_transforms", 1)
    with target.open("wb") as out:
        for count, body in ordered_map(predict, batches, workers):
            out.write(body)
            records += count
    return records


def ordered_map(function: Callable[[T], R], items: Iterator[T], workers: int) -> Iterator[R]:
    """``map`` on ``workers`` threads, in order, with at most twice as many items in flight."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="transform") as pool:
        window: deque[Future[R]] = deque()
        for item in items:
            window.append(pool.submit(function, item))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
