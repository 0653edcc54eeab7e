"""The records of a batch transform's input: how a file reads (its :class:`Layout`, checked
on its first record), its records in mini-batches, and each mini-batch as the rows to
predict on, parsed the way an endpoint parses a request body.

A CSV file may start with a header row naming (at least) the model's features — its other
columns are ignored — or hold the features alone, in the model's order. A JSON lines file
holds one record per line: an object with the features by name, or a list of them in
order. A parquet file's rows are its records, its feature columns read by name. The
``input_filter`` picks what of each record is sent (see :mod:`.selectors`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import ValidationError
from shipyard.serving.batch.selectors import Selector
from shipyard.serving.payloads import MAX_ROWS, parse_body
from shipyard.training.algorithms.dataset import shorten_names

CSV = "text/csv"
PARQUET = "application/x-parquet"
JSON_LINES = "application/jsonlines"
SOURCE_FIELD = "transform_input.data_source"
INPUT_FILTER_FIELD = "data_processing.input_filter"


@dataclass(frozen=True)
class Batch:
    """Records ``first`` (1-based) onwards of a file: their lines, or a parquet batch;
    ``error``: why its one record cannot be sent at all."""

    first: int
    lines: list[bytes] | None = None
    table: pa.RecordBatch | None = None
    error: str | None = None

    @property
    def size(self) -> int:
        if self.lines is not None:
            return len(self.lines)
        assert self.table is not None
        return self.table.num_rows

    def part(self, start: int, stop: int) -> Batch:
        """Its records ``start`` to ``stop`` (0-based, ``stop`` excluded)."""
        if self.lines is not None:
            return Batch(self.first + start, lines=self.lines[start:stop])
        assert self.table is not None
        return Batch(self.first + start, table=self.table.slice(start, stop - start))


@dataclass(frozen=True)
class Layout:
    """How one file's records read. ``columns``: the names of a record's columns (a CSV
    header, a parquet schema), ``width`` their number (of a CSV record: its first row's);
    ``picked``: the columns the input filter sends (None: the whole record), ``selector``
    the filter itself (applied to each JSON record)."""

    content_type: str
    selector: Selector
    columns: list[str] | None = None
    width: int | None = None
    picked: list[int] | None = None
    has_header: bool = False
    schema: pa.Schema | None = None


def first_line(handle: IO[bytes], limit: int) -> bytes:
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


# ---- a file's layout, checked on its first record ------------------------------------
def read_layout(
    handle: IO[bytes],
    uri: str,
    content_type: str,
    features: list[str],
    selector: Selector,
    limit: int,
) -> Layout:
    """How the file open as ``handle`` reads, once its first record (its parquet schema)
    holds what the model takes after the input filter; ValidationError naming the field
    (``transform_input.data_source``, ``data_processing.input_filter``) otherwise."""
    if content_type == PARQUET:
        try:
            schema = pq.ParquetFile(handle).schema_arrow
        except Exception as exc:
            raise ValidationError(
                f"{uri} is not a readable parquet file ({exc})", SOURCE_FIELD
            ) from None
        names = [str(name) for name in schema.names]
        picked = _pick(selector, uri, names=names)
        _check_named(uri, [names[i] for i in picked], features, selector)
        return Layout(
            content_type, selector, names, len(names), _unless_all(picked, len(names)),
            schema=schema,
        )  # fmt: skip
    line = first_line(handle, limit)
    if not line:
        raise ValidationError(f"{uri} holds no records", SOURCE_FIELD)
    if content_type == CSV:
        return _csv_layout(uri, line, features, selector)
    _check_json_record(uri, line, features, selector)
    return Layout(content_type, selector)


def _csv_layout(uri: str, line: bytes, features: list[str], selector: Selector) -> Layout:
    if b"\x00" in line:
        raise ValidationError(f"{uri} is not a CSV file: it holds binary data", SOURCE_FIELD)
    header = csv_header(line, features)
    fields = csv_fields(line)
    if header is not None:
        picked = _pick(selector, uri, names=header)
        _check_named(uri, [header[i] for i in picked], features, selector)
        return Layout(
            CSV, selector, header, len(header), _unless_all(picked, len(header)), has_header=True
        )
    picked = _pick(selector, uri, width=len(fields))
    if len(picked) != len(features):
        after = "" if selector.is_whole else f" ({len(picked)} picked by {selector.text})"
        raise ValidationError(
            f"the first row of {uri} has {len(fields)} fields{after} and is no header naming "
            f"the model's features; the model takes {len(features)} ({shorten_names(features)})",
            SOURCE_FIELD if selector.is_whole else INPUT_FILTER_FIELD,
        )
    return Layout(CSV, selector, None, len(fields), _unless_all(picked, len(fields)))


def _check_json_record(uri: str, line: bytes, features: list[str], selector: Selector) -> None:
    try:
        record: Any = json.loads(line)
    except ValueError as exc:
        raise ValidationError(
            f"the first line of {uri} is not a JSON record ({exc})", SOURCE_FIELD
        ) from None
    field = SOURCE_FIELD if selector.is_whole else INPUT_FILTER_FIELD
    try:
        sent = selector.select(record)
    except ValidationError as exc:
        raise ValidationError(f"the first record of {uri}: {exc.message}", field) from None
    picked = "" if selector.is_whole else f" (what {selector.text} picks)"
    if isinstance(sent, dict):
        _check_named(uri, [str(k) for k in sent], features, selector)
    elif isinstance(sent, list):
        if len(sent) != len(features):
            raise ValidationError(
                f"the first record of {uri}{picked} has {len(sent)} values; the model takes "
                f"{len(features)} features ({shorten_names(features)})",
                field,
            )
    elif not (isinstance(sent, str) and len(features) == 1):
        raise ValidationError(
            f"the records of {uri}{picked} must be JSON objects (features by name) or lists",
            field,
        )


def _pick(
    selector: Selector, uri: str, *, names: list[str] | None = None, width: int | None = None
) -> list[int]:
    try:
        return selector.columns(names) if names is not None else selector.positions(width or 0)
    except ValidationError as exc:
        raise ValidationError(f"{uri}: {exc.message}", INPUT_FILTER_FIELD) from None


def _unless_all(picked: list[int], width: int) -> list[int] | None:
    return None if picked == list(range(width)) else picked


def _check_named(uri: str, columns: list[str], features: list[str], selector: Selector) -> None:
    missing = [f for f in features if f not in set(columns)]
    if missing and selector.is_whole:
        raise ValidationError(
            f"{uri} lacks the model's features {shorten_names(missing)}", SOURCE_FIELD
        )
    if missing:
        raise ValidationError(
            f"the columns of {uri} that {selector.text} picks lack the model's features "
            f"{shorten_names(missing)}",
            INPUT_FILTER_FIELD,
        )


# ---- records in mini-batches ---------------------------------------------------------
def count_records(path: Path, layout: Layout) -> int:
    """How many records the file holds (what :func:`read_batches` will yield)."""
    if layout.content_type == PARQUET:
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if layout.has_header else lines


def read_batches(
    path: Path, layout: Layout, split_type: str, single_record: bool, max_bytes: int
) -> Iterator[Batch]:
    """The records of ``path`` in order, in batches of at most ``max_bytes`` (one record
    each with ``single_record``; a whole file with ``split_type`` None, up to the rows one
    request may hold)."""
    if split_type == "None":
        single_record, max_bytes = False, max(max_bytes, path.stat().st_size + 1)
    if layout.content_type == PARQUET:
        yield from _parquet_batches(path, single_record, max_bytes)
        return
    with path.open("rb") as handle:
        yield from _line_batches(handle, layout.has_header, single_record, max_bytes)


def _line_batches(
    handle: IO[bytes], skip_first: bool, single_record: bool, max_bytes: int
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
        full = size + len(line) + 1 > max_bytes or len(batch) >= MAX_ROWS
        if batch and (single_record or full):
            yield Batch(records - len(batch) + 1, lines=batch)
            batch, size = [], 0
        if len(line) >= max_bytes:
            records += 1
            error = f"the record (line {number}) is {len(line)} bytes, more than max_payload_mb"
            yield Batch(records, lines=[line], error=error)
            continue
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


# ---- a mini-batch as rows to predict on ----------------------------------------------
def to_frame(batch: Batch, layout: Layout, feature_names: Sequence[str]) -> pd.DataFrame:
    """The batch's records as the rows to predict on (ValidationError when they are not)."""
    if batch.table is not None:
        table = batch.table if layout.picked is None else batch.table.select(layout.picked)
        return _features(table.to_pandas(), feature_names)
    assert batch.lines is not None
    if layout.content_type == CSV:
        return _features(_csv_frame(batch.lines, layout), feature_names)
    if layout.selector.is_whole:
        body = b"[" + b",".join(batch.lines) + b"]"
    else:
        body = json.dumps([layout.selector.select(_json(line)) for line in batch.lines]).encode()
    try:
        frame = parse_body(body, "application/json")
    except ValidationError:
        for line in batch.lines:
            _json(line)  # the record that is no JSON, if one is not
        raise
    return _features(frame, feature_names)


def _csv_frame(lines: list[bytes], layout: Layout) -> pd.DataFrame:
    if layout.width is not None:
        _check_widths(lines, layout)
    frame = parse_body(b"\n".join(lines) + b"\n", CSV)
    if layout.picked is not None:
        frame = frame.iloc[:, layout.picked]
    if layout.columns is not None:
        names = layout.columns
        frame.columns = names if layout.picked is None else [names[i] for i in layout.picked]
    elif layout.picked is not None:
        frame.columns = range(frame.shape[1])
    return frame


def _check_widths(lines: list[bytes], layout: Layout) -> None:
    """Every record has the file's number of fields: a short row would be read with
    missing values, and its joined output would put the prediction in another column."""
    for line in lines:
        fields = line.count(b",") + 1 if b'"' not in line else len(csv_fields(line))
        if fields != layout.width:
            what = "the header has" if layout.has_header else "the file's first record has"
            raise ValidationError(f"the record has {fields} fields; {what} {layout.width}")


def _json(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ValidationError(f"not valid JSON ({exc})") from None


def _features(frame: pd.DataFrame, feature_names: Sequence[str]) -> pd.DataFrame:
    """Only the features, when the records name them among other columns."""
    names = list(feature_names)
    by_name = {str(c): c for c in frame.columns}
    if set(names) <= set(by_name) and len(by_name) > len(names):
        return frame[[by_name[n] for n in names]]
    return frame
