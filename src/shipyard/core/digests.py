"""Content hashes: of a file, of a stored object, of the objects under a prefix (a model)."""

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


def prefix_sha256(store: BaseArtifactStore, prefix: str) -> str:
    """One hash of every object below ``prefix``: their keys (relative to it) and contents,
    in key order. The same files give the same hash under any prefix, in any store;
    renaming, adding or changing one changes it."""
    digest = hashlib.sha256()
    for key in store.list(prefix):
        relative = key.removeprefix(prefix).lstrip("/")
        digest.update(f"{relative}\0{object_sha256(store, key)}\n".encode())
    return digest.hexdigest()
