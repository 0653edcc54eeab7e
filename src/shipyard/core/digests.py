"""Content hashes: of a file, of a stored object, of a directory of files (a model)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO

from shipyard.core.artifacts import BaseArtifactStore

CHUNK = 1024 * 1024


def stream_sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return stream_sha256(handle)


def object_sha256(store: BaseArtifactStore, key: str) -> str:
    """The SHA-256 of the object at ``key``; NotFound when there is none."""
    with store.open_read(key) as handle:
        return stream_sha256(handle)


def directory_sha256(directory: Path) -> str:
    """One hash of every file below ``directory``: their relative paths and contents, sorted.

    The same files give the same hash wherever the directory lies; renaming, adding or
    changing any file changes it.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        digest.update(f"{relative}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def prefix_sha256(store: BaseArtifactStore, prefix: str) -> str:
    """:func:`directory_sha256` of the objects below ``prefix`` in ``store``, read in place."""
    digest = hashlib.sha256()
    for key in store.list(prefix):
        relative = key.removeprefix(prefix).lstrip("/")
        digest.update(f"{relative}\0{object_sha256(store, key)}\n".encode())
    return digest.hexdigest()
