"""Reading tables (CSV, Parquet) from wherever a channel points, with clear errors.

A channel is an artifact URI (``shipyard://…``) or a local path inside the allowed data
roots; a file that is not a table of the stated format is refused with the field named.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow.parquet as pq

from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri
from shipyard.core.errors import NotFound, ValidationError

SNIFF_BYTES = 256 * 1024
SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class TableRef:
    """A channel resolved: where the table is, its format and its columns."""

    uri: str
    format: str
    columns: list[str]


def format_from_name(name: str, declared: str | None, field: str) -> str:
    if declared:
        if declared not in ("csv", "parquet"):
            raise ValidationError(f"unknown format {declared!r}; expected csv or parquet", field)
        return declared
    return SUFFIX_FORMATS.get(Path(name).suffix.lower(), "csv")


def columns_of(handle: IO[bytes], table_format: str, field: str) -> list[str]:
    """The header of a CSV or the schema of a Parquet file; ValidationError if it is neither."""
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
    return pd.read_csv(path, engine="pyarrow")
