"""Datasets: upload once, addressed by name and content hash; uploads of code bundles."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, uri_for
from shipyard.core.clock import utcnow
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.core.names import validate_name
from shipyard.data.models import Dataset
from shipyard.data.schemas import UploadOut
from shipyard.data.tables import columns_of, format_from_name

CHUNK = 1024 * 1024


def safe_filename(filename: str | None, default: str) -> str:
    base = Path(filename or "").name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip("._-")[:100]
    return cleaned or default


def spool(stream: IO[bytes], directory: Path) -> tuple[Path, str, int]:
    """Copy an upload to a temporary file, hashing it on the way; (path, sha256, size)."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, prefix=".upload-") as handle:
        try:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        except BaseException:  # a failed upload leaves no spooled file behind
            Path(handle.name).unlink(missing_ok=True)
            raise
    return Path(handle.name), digest.hexdigest(), size


def create_dataset(
    session: Session,
    store: BaseArtifactStore,
    *,
    name: str,
    filename: str | None,
    stream: IO[bytes],
    declared_format: str | None,
    owner: str,
    scratch: Path,
) -> Dataset:
    """Store an uploaded table. The same name with the same content is a no-op."""
    validate_name(name)
    table_format = format_from_name(filename or "", declared_format, "format")
    path, sha256, size = spool(stream, scratch)
    try:
        existing = session.get(Dataset, name)
        if existing is not None:
            if existing.sha256 == sha256:
                return existing
            raise AlreadyExists(f"dataset '{name}' exists with different content")
        with path.open("rb") as handle:
            columns = columns_of(handle, table_format, "file")
        key = f"datasets/{name}/{sha256[:16]}/{safe_filename(filename, 'data.' + table_format)}"
        store.put_file(key, path)
    finally:
        path.unlink(missing_ok=True)
    dataset = Dataset(
        name=name,
        uri=uri_for(key),
        format=table_format,
        sha256=sha256,
        size_bytes=size,
        columns=columns,
        owner=owner,
        created_at=utcnow(),
    )
    session.add(dataset)
    session.flush()
    return dataset


def register_dataset(
    session: Session,
    *,
    name: str,
    uri: str,
    format: str,
    sha256: str,
    size_bytes: int,
    columns: list[str],
    owner: str,
) -> Dataset:
    """Name a table that is stored already (a processing job's output), where it lies.

    The same name with the same content is a no-op; with other content, AlreadyExists.
    """
    validate_name(name, "dataset_name")
    existing = session.get(Dataset, name)
    if existing is not None:
        if existing.sha256 == sha256:
            return existing
        raise AlreadyExists(f"dataset '{name}' exists with different content")
    dataset = Dataset(
        name=name,
        uri=uri,
        format=format,
        sha256=sha256,
        size_bytes=size_bytes,
        columns=list(columns),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.get(Dataset, validate_name(name))
    if dataset is None:
        raise NotFound(f"dataset '{name}' not found")
    return dataset


def find_dataset_by_uri(session: Session, uri: str) -> Dataset | None:
    """The registered dataset stored at ``uri``, if any."""
    return session.scalar(select(Dataset).where(Dataset.uri == uri).limit(1))


def list_datasets(session: Session, *, limit: int, offset: int) -> Iterable[Dataset]:
    return session.scalars(
        select(Dataset).order_by(Dataset.created_at.desc()).limit(limit).offset(offset)
    ).all()


def delete_dataset(session: Session, store: BaseArtifactStore, name: str) -> None:
    dataset = get_dataset(session, name)
    store.delete_prefix(f"datasets/{dataset.name}")
    session.delete(dataset)


def store_upload(
    store: BaseArtifactStore, *, filename: str | None, stream: IO[bytes], scratch: Path
) -> UploadOut:
    """Keep an uploaded file (a source bundle, a model) under its content hash."""
    path, sha256, size = spool(stream, scratch)
    try:
        name = safe_filename(filename, "upload.bin")
        if size == 0:
            raise ValidationError("the uploaded file is empty", "file")
        key = f"uploads/{sha256[:32]}/{name}"
        if not store.exists(key):
            store.put_file(key, path)
    finally:
        path.unlink(missing_ok=True)
    return UploadOut(uri=uri_for(key), sha256=sha256, size_bytes=size)
