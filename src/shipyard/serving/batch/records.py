"""The records of a batch transform: an input file in mini-batches, each parsed the way an
endpoint parses a request body, and the predictions written one line per record.

A CSV file may start with a header row naming (at least) the model's features — its other
columns are ignored — or hold the features alone, in the model's order. A JSON lines file
holds one record per line: an object with the features by name, or a list of them in
order. A parquet file's rows are its records, its feature columns read by name.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import ValidationError
from shipyard.serving.payloads import MAX_ROWS, parse_body, render

CSV = "text/csv"
PARQUET = "application/x-parquet"
JSON_LINES = "application/jsonlines"
# a record's outputs as one JSON line: the plural of the endpoint's answer, made singular
RECORD_KEYS = {"predictions": "prediction", "distances": "distance", "scores": "score"}


@dataclass(frozen=True)
class Batch:
    """Records ``first`` (1-based) onwards of a file: their lines, or a parquet batch."""

    first: int
    lines: list[bytes] | None = None
    table: pa.RecordBatch | None = None

    @property
    def size(self) -> int:
        if self.lines is not None:
            return len(self.lines)
        assert self.table is not None
        return self.table.num_rows


def first_line(handle: Any, limit: int) -> bytes:
    """The file's first line that is not blank, read no further than ``limit`` bytes."""
    read = 0
    while read < limit:
        line = handle.readline(limit - read)
        if not line:
            return b""
        read += len(line)
        if line.strip():
            return bytes(line.rstrip(b"\r\n"))
    return b""


def csv_fields(line: bytes) -> list[str]:
    return [f.strip() for f in next(csv.reader([line.decode("utf-8-sig", "replace")]), [])]


def csv_header(line: bytes, feature_names: Sequence[str]) -> list[str] | None:
    """The columns of a CSV whose first row names every feature; None when it is data."""
    fields = csv_fields(line)
    return fields if set(feature_names) <= set(fields) else None


def read_batches(
    path: Path,
    content_type: str,
    split_type: str,
    single_record: bool,
    max_bytes: int,
    has_header: bool = False,
) -> Iterator[Batch]:
    """The records of ``path`` in order, in batches of at most ``max_bytes`` (one record
    each with ``single_record``; a whole file with ``split_type`` None, up to the rows one
    request may hold). ``has_header``: the first line of a CSV is its header, no record."""
    if split_type == "None":
        single_record, max_bytes = False, max(max_bytes, path.stat().st_size + 1)
    if content_type == PARQUET:
        yield from _parquet_batches(path, single_record, max_bytes)
        return
    with path.open("rb") as handle:
        yield from _line_batches(handle, has_header, single_record, max_bytes)


def _line_batches(
    handle: Any, skip_first: bool, single_record: bool, max_bytes: int
) -> Iterator[Batch]:
    batch: list[bytes] = []
    size, records = 0, 0
    for number, raw in enumerate(handle, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        if skip_first:
            skip_first = False
            continue
        if len(line) >= max_bytes:
            raise ValidationError(
                f"the record on line {number} is {len(line)} bytes, more than max_payload_mb"
            )
        full = size + len(line) + 1 > max_bytes or len(batch) >= MAX_ROWS
        if batch and (single_record or full):
            yield Batch(records - len(batch) + 1, lines=batch)
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
        records += 1
    if batch:
        yield Batch(records - len(batch) + 1, lines=batch)


def _parquet_batches(path: Path, single_record: bool, max_bytes: int) -> Iterator[Batch]:
    """Batches of as many rows as fit ``max_bytes`` at the file's mean (uncompressed) row."""
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    groups = range(metadata.num_row_groups)
    total = sum(metadata.row_group(i).total_byte_size for i in groups)
    row_bytes = max(1, total // max(metadata.num_rows, 1))
    rows = 1 if single_record else max(1, min(MAX_ROWS, max_bytes // row_bytes))
    first = 1
    for table in parquet.iter_batches(batch_size=rows):
        yield Batch(first, table=table)
        first += table.num_rows


def to_frame(
    batch: Batch, content_type: str, header: list[str] | None, feature_names: Sequence[str]
) -> pd.DataFrame:
    """The batch's records as the rows to predict on (ValidationError when they are not)."""
    if batch.table is not None:
        return _features(batch.table.to_pandas(), feature_names)
    assert batch.lines is not None
    if content_type == CSV:
        frame = parse_body(b"\n".join(batch.lines) + b"\n", CSV)
        if header is not None:
            if frame.shape[1] != len(header):
                raise ValidationError(
                    f"records have {frame.shape[1]} fields; the header has {len(header)}"
                )
            frame.columns = header
        return _features(frame, feature_names)
    try:
        frame = parse_body(b"[" + b",".join(batch.lines) + b"]", "application/json")
    except ValidationError:
        for offset, line in enumerate(batch.lines):
            try:
                json.loads(line)
            except ValueError as exc:
                raise ValidationError(
                    f"record {batch.first + offset} is not valid JSON ({exc})"
                ) from None
        raise
    return _features(frame, feature_names)


def _features(frame: pd.DataFrame, feature_names: Sequence[str]) -> pd.DataFrame:
    """Only the features, when the records name them among other columns."""
    names = list(feature_names)
    by_name = {str(c): c for c in frame.columns}
    if set(names) <= set(by_name) and len(by_name) > len(names):
        return frame[[by_name[n] for n in names]]
    return frame


def render_records(result: dict[str, list[Any]], accept: str) -> bytes:
    """One line per record: its prediction (CSV) or all it got, as a JSON object."""
    if accept == CSV:
        body, _ = render(result, CSV)
        return body
    count = len(next(iter(result.values()), []))
    lines = [
        json.dumps({RECORD_KEYS.get(k, k): v[i] for k, v in result.items()}, default=_plain)
        for i in range(count)
    ]
    return "".join(line + "\n" for line in lines).encode()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
