"""Reading tables (CSV, Parquet, libsvm) from wherever a channel points, with clear errors.

A channel is an artifact URI (``shipyard://…``) or a local path inside the allowed data
roots; a file that is not a table of the stated format is refused with the field named.
A libsvm file (``label index:value ...`` per line) reads as a table of two columns,
``label`` and ``features``, the latter a column of sparse rows (see :func:`read_libsvm`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri
from shipyard.core.errors import NotFound, ValidationError

SNIFF_BYTES = 256 * 1024
TABLE_FORMATS = ("csv", "parquet", "libsvm")
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".libsvm": "libsvm",
    ".svm": "libsvm",
}
LIBSVM_COLUMNS = ["label", "features"]
SPARSE_ENTRY = pa.struct([("index", pa.int32()), ("value", pa.float32())])
"""One entry of a sparse row in the ``features`` column of a libsvm table."""
SNIFF_LINES = 200
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LIBSVM_LINE = re.compile(
    rf"\s*(?:{_NUMBER}(?:\s+qid:\d+)?(?:\s+\d+:{_NUMBER})*)?\s*(?:#.*)?", re.ASCII
)
_LIBSVM_INDEX = re.compile(r"\s(\d+):", re.ASCII)


@dataclass(frozen=True)
class TableRef:
    """A channel resolved: where the table is, its format and its columns."""

    uri: str
    format: str
    columns: list[str]


def format_from_name(name: str, declared: str | None, field: str) -> str:
    if declared:
        if declared not in TABLE_FORMATS:
            raise ValidationError(
                f"unknown format {declared!r}; expected csv, parquet or libsvm", field
            )
        return declared
    return SUFFIX_FORMATS.get(Path(name).suffix.lower(), "csv")


def columns_of(handle: IO[bytes], table_format: str, field: str) -> list[str]:
    """The header of a CSV, the schema of a Parquet file, or the two columns of a libsvm file
    whose first lines are libsvm; ValidationError if it is not what `table_format` says."""
    if table_format == "libsvm":
        _check_libsvm(handle.read(SNIFF_BYTES), field)
        return list(LIBSVM_COLUMNS)
    if table_format == "parquet":
        try:
            return [str(c) for c in pq.ParquetFile(handle).schema_arrow.names]
        except Exception as exc:
            raise ValidationError(f"not a readable Parquet file ({exc})", field) from None
    head = handle.read(SNIFF_BYTES)
    if b"\x00" in head:
        raise ValidationError("not a CSV file: it contains binary data", field)
    truncated = len(head) == SNIFF_BYTES
    if truncated and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    try:
        frame = pd.read_csv(io.BytesIO(head), nrows=200)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"not a valid CSV file ({reason})", field) from None
    if frame.shape[1] < 2:
        raise ValidationError(
            "not a CSV table: expected a header row and at least 2 comma-separated columns", field
        )
    _check_rectangular(head, truncated, field)
    return [str(c) for c in frame.columns]


def _check_rectangular(head: bytes, truncated: bool, field: str) -> None:
    """Every row of the sample has as many fields as the header.

    pandas pads short rows with NaN, so prose with a comma or two in its first line would
    otherwise pass for a table.
    """
    text = head.decode("utf-8-sig", errors="replace")
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise ValidationError(f"not a valid CSV file ({exc})", field) from None
    if truncated:
        rows = rows[:-1]  # the sample may end inside a quoted field
    width = len(rows[0]) if rows else 0
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ValidationError(
                f"not a CSV table: row {number} has {len(row)} fields but the header has {width}",
                field,
            )


def _check_libsvm(head: bytes, field: str) -> None:
    """The first lines of the sample are `label [qid:n] index:value ...`, indices increasing
    (blank lines and `#` comments allowed); the error names the first line that is not."""
    if b"\x00" in head:
        raise ValidationError("not a libsvm file: it contains binary data", field)
    if len(head) == SNIFF_BYTES:  # end the sample between tokens: a line may be that long
        head = head[: max(head.rfind(b"\n"), head.rfind(b" "), head.rfind(b"\t")) + 1]
    lines = head.decode("utf-8", errors="replace").splitlines()
    if not any(line.strip() for line in lines):
        raise ValidationError("not a libsvm file: it has no data lines", field)
    for number, line in enumerate(lines[:SNIFF_LINES], start=1):
        if not _LIBSVM_LINE.fullmatch(line):
            raise ValidationError(
                f"not a libsvm file: line {number} is not 'label index:value ...' "
                f"(it reads {line[:60]!r})",
                field,
            )
        indices = [int(i) for i in _LIBSVM_INDEX.findall(line.split("#", 1)[0])]
        if any(a >= b for a, b in zip(indices, indices[1:], strict=False)):
            raise ValidationError(
                f"not a valid libsvm file: the indices of line {number} do not increase "
                f"(it reads {line[:60]!r})",
                field,
            )


def resolve_local_path(raw: str, roots: list[Path], field: str) -> Path:
    """An existing file below one of ``roots``; refuses anything outside them."""
    path = Path(raw.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        raise ValidationError(f"local path {raw!r} must be absolute", field)
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise ValidationError(
            f"path {raw!r} is outside the allowed data roots ({shown}); upload it as a "
            "dataset or add its directory to SHIPYARD_DATA_ROOTS",
            field,
        )
    if not resolved.is_file():
        raise ValidationError(f"file {raw!r} does not exist", field)
    return resolved


def resolve_table(
    raw: str,
    *,
    store: BaseArtifactStore,
    roots: list[Path],
    declared_format: str | None,
    field: str,
) -> TableRef:
    """Check that ``raw`` names a readable table; return where it is and its columns."""
    if not isinstance(raw, str) or not raw:
        raise ValidationError("expected an artifact URI or a local path", field)
    if raw.startswith(SCHEME):
        key = key_from_uri(raw)
        table_format = format_from_name(key, declared_format, field)
        try:
            with store.open_read(key) as handle:
                columns = columns_of(handle, table_format, field)
        except NotFound:
            raise ValidationError(f"{raw} does not exist", field) from None
        return TableRef(uri=raw, format=table_format, columns=columns)
    if "://" in raw and not raw.startswith("file://"):
        raise ValidationError(
            f"unsupported location {raw!r}; expected shipyard://… or a local path", field
        )
    path = resolve_local_path(raw, roots, field)
    table_format = format_from_name(path.name, declared_format, field)
    with path.open("rb") as handle:
        columns = columns_of(handle, table_format, field)
    return TableRef(uri=path.as_uri(), format=table_format, columns=columns)


def read_table(path: Path, table_format: str) -> pd.DataFrame:
    """Load a whole table that :func:`resolve_table` accepted (in a job process)."""
    if table_format == "parquet":
        return pd.read_parquet(path)
    if table_format == "libsvm":
        return read_libsvm(path)
    return pd.read_csv(path, engine="pyarrow")


def read_libsvm(path: Path) -> pd.DataFrame:
    """A libsvm file as a frame of `label` and `features`.

    `label` is int64 when every label is a whole number (as a CSV column would read), else
    float64. Each `features` cell is one row's sparse entries, `[{"index": i, "value": v},
    ...]`: an Arrow list of `SPARSE_ENTRY` made from the arrays of scipy's CSR matrix, so a
    million rows cost no Python object each. Indices are kept as written (0- or 1-based
    alike: an index is a column number). Raises ValidationError for a malformed line.
    """
    from sklearn.datasets import load_svmlight_file  # costs a second; only libsvm jobs pay

    try:
        matrix, labels = load_svmlight_file(str(path), zero_based=True, dtype=np.float32)
    except ValueError as exc:
        raise ValidationError(f"{path.name} is not a valid libsvm file ({exc})") from None
    if np.all(np.mod(labels, 1) == 0):
        labels = labels.astype(np.int64)
    entries = pa.StructArray.from_arrays(
        [pa.array(matrix.indices.astype(np.int32)), pa.array(matrix.data)],
        fields=list(SPARSE_ENTRY),
    )
    rows = pa.ListArray.from_arrays(pa.array(matrix.indptr.astype(np.int32)), entries)
    return pd.DataFrame({"label": labels, "features": pd.arrays.ArrowExtensionArray(rows)})
