"""Where a job's input is: a registered dataset, a stored object or prefix, a local file.

What a user names is resolved once, when the job is created, to a URI, a kind (one file
or a prefix of files), the files and a content hash (the lineage node of the input), so
a bad source is a 400 naming the field rather than a failed job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

from sqlalchemy.orm import Session

from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri, uri_for
from shipyard.core.config import Settings
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import NotFound, ValidationError
from shipyard.core.names import NAME_PATTERN
from shipyard.data import service as data
from shipyard.data.tables import SUFFIX_FORMATS, columns_of, resolve_local_path
from shipyard.lineage import service as lineage

MAX_PREFIX_FILES = 10_000
SQL_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Source:
    """A resolved input. ``files`` are the URIs of its files, in key order (the file itself
    for kind ``file``); ``dataset_name`` when it is a registered dataset."""

    uri: str
    kind: Literal["file", "prefix"]
    sha256: str
    files: tuple[str, ...]
    dataset_name: str | None = None

    def relative_name(self, file_uri: str) -> str:
        """A file's path inside the input: below the prefix, or the file's own name."""
        if self.kind == "file":
            return Path(_path_part(file_uri)).name
        return file_uri.removeprefix(self.uri).lstrip("/")


@dataclass(frozen=True)
class TableSource:
    """An input read as one table: its format and columns (every file has the same)."""

    format: str
    columns: list[str]
    files: tuple[str, ...]


def resolve_source(
    session: Session, settings: Settings, store: BaseArtifactStore, raw: str, field: str
) -> Source:
    """The input ``raw`` names; ValidationError naming ``field`` when there is none."""
    if raw.startswith(SCHEME):
        return _stored(session, store, key_from_uri(raw, field), field)
    if "://" in raw and not raw.startswith("file://"):
        raise ValidationError(
            f"unsupported location {raw!r}; expected a dataset name, shipyard://… or a local path",
            field,
        )
    if raw.startswith(("/", "file://", "~")):
        if Path(raw.removeprefix("file://")).expanduser().is_dir():
            raise ValidationError(
                f"{raw!r} is a directory; a local input is one file (store a directory "
                "under a shipyard:// prefix)",
                field,
            )
        path = resolve_local_path(raw, settings.allowed_data_roots, field)
        uri = path.as_uri()
        sha256 = lineage.dataset_for_uri(session, store, uri).properties["sha256"]
        return Source(uri, "file", sha256, (uri,))
    if not NAME_PATTERN.fullmatch(raw):
        raise ValidationError(
            f"{raw!r} is not a dataset name, a shipyard://… URI or an absolute local path",
            field,
        )
    try:
        dataset = data.get_dataset(session, raw)
    except NotFound:
        raise ValidationError(f"no dataset is called '{raw}'", field) from None
    return Source(dataset.uri, "file", dataset.sha256, (dataset.uri,), dataset.name)


def _stored(session: Session, store: BaseArtifactStore, key: str, field: str) -> Source:
    uri = uri_for(key)
    if store.exists(key):
        node = lineage.dataset_for_uri(session, store, uri)
        name = node.properties.get("dataset_name")
        return Source(uri, "file", node.properties["sha256"], (uri,), name)
    keys = store.list(key)
    if not keys:
        raise ValidationError(f"{uri} is neither a stored file nor a prefix of files", field)
    if len(keys) > MAX_PREFIX_FILES:
        raise ValidationError(
            f"{uri} holds {len(keys)} files; an input holds at most {MAX_PREFIX_FILES}", field
        )
    return Source(uri, "prefix", prefix_sha256(store, key), tuple(uri_for(k) for k in keys))


def resolve_table_source(
    session: Session,
    store: BaseArtifactStore,
    source: Source,
    declared_format: str | None,
    field: str,
) -> TableSource:
    """``source`` read as a table DuckDB can scan: csv or parquet files, one header."""
    if source.dataset_name is not None and declared_format is None:
        dataset = data.get_dataset(session, source.dataset_name)
        _check_sql_format(dataset.format, source.uri, field)
        return TableSource(dataset.format, list(dataset.columns), source.files)
    formats = {_format_of(uri, declared_format, source.kind, field) for uri in source.files}
    if len(formats) > 1:
        raise ValidationError(
            f"{source.uri} mixes {' and '.join(sorted(formats))} files; one table is one format",
            field,
        )
    (table_format,) = formats
    _check_sql_format(table_format, source.uri, field)
    columns: list[str] | None = None
    for uri in source.files:
        with open_file(store, uri, field) as handle:
            found = columns_of(handle, table_format, field)
        if columns is not None and found != columns:
            raise ValidationError(
                f"{uri} has other columns than {source.files[0]}; the files of one table "
                "share a header",
                field,
            )
        columns = found
    assert columns is not None
    return TableSource(table_format, columns, source.files)


def open_file(store: BaseArtifactStore, uri: str, field: str) -> IO[bytes]:
    """Read a file of a resolved source (``shipyard://`` or ``file://``)."""
    if uri.startswith("file://"):
        return Path(_path_part(uri)).open("rb")
    try:
        return store.open_read(key_from_uri(uri))
    except NotFound:
        raise ValidationError(f"{uri} does not exist", field) from None


def file_size(store: BaseArtifactStore, uri: str) -> int:
    if uri.startswith("file://"):
        return Path(_path_part(uri)).stat().st_size
    return store.size(key_from_uri(uri))


def _format_of(uri: str, declared: str | None, kind: str, field: str) -> str:
    if declared:
        return declared
    suffix = Path(_path_part(uri)).suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    if kind == "prefix":  # a directory may hold anything: say what is not a table
        raise ValidationError(
            f"{uri} is not a table file (.csv, .parquet); give the input a format if it is one",
            field,
        )
    return "csv"


def _check_sql_format(table_format: str, uri: str, field: str) -> None:
    if table_format not in SQL_FORMATS:
        raise ValidationError(
            f"{uri} is a {table_format} table; SQL reads csv and parquet tables", field
        )


def _path_part(uri: str) -> str:
    return url2pathname(urlparse(uri).path) if uri.startswith("file://") else uri
