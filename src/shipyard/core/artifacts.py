"""The artifact store: model files, datasets and job outputs, addressed by ``shipyard://`` URIs.

Keys are ``/``-separated paths the platform builds from validated names; a key with an
empty, ``.`` or ``..`` segment or an unsafe character is refused, so no user string ever
becomes a path. Backends sit behind :class:`BaseArtifactStore` and are picked by the
scheme of ``SHIPYARD_ARTIFACT_URI``: a directory (default) or ``s3://bucket/prefix``.
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shipyard.core.errors import NotFound, ValidationError

SCHEME = "shipyard://"
TEMP_PREFIX = ".tmp-"  # a local write in flight; no valid key segment starts with "."
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=-]{0,199}$")


def check_key(key: str, field: str = "uri") -> str:
    """Return ``key`` if every segment is safe, else raise ValidationError naming ``field``."""
    segments = key.split("/")
    if not key or any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        raise ValidationError(f"{key!r} is not a valid artifact key", field)
    return key


def key_from_uri(uri: str, field: str = "uri") -> str:
    """The key of a ``shipyard://`` URI; a ValidationError names ``field`` (the request's
    own field that held the URI)."""
    if not uri.startswith(SCHEME):
        raise ValidationError(f"{uri!r} is not an artifact URI; expected shipyard://...", field)
    return check_key(uri.removeprefix(SCHEME), field)


def uri_for(key: str) -> str:
    return SCHEME + check_key(key)


class BaseArtifactStore(ABC):
    """Where artifacts live. Every write is atomic: readers see the old object or the new one.

    ``put_*`` never leaves a partial object under ``key``; ``get_*`` raise NotFound for a
    missing key; ``list(prefix)`` returns keys (not URIs) below ``prefix``, sorted.
    """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def put_file(self, key: str, source: Path) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def get_file(self, key: str, destination: Path) -> None: ...

    @abstractmethod
    def open_read(self, key: str) -> IO[bytes]: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the store is a local directory, else None."""
        return None

    def put_directory(self, prefix: str, source: Path) -> builtins.list[str]:
        """Upload every file below ``source`` under ``prefix``; returns the keys written."""
        keys = []
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(source).as_posix()}"
            self.put_file(check_key(key), path)
            keys.append(key)
        return keys

    def get_directory(self, prefix: str, destination: Path) -> builtins.list[Path]:
        """Download every object below ``prefix`` into ``destination``."""
        paths = []
        for key in self.list(prefix):
            target = destination / key.removeprefix(prefix).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            self.get_file(key, target)
            paths.append(target)
        return paths

    def describe(self) -> dict[str, Any]:
        """What a job process needs to open the same store (see :func:`open_store`)."""
        raise NotImplementedError


class LocalArtifactStore(BaseArtifactStore):
    """A directory; writes go to a temporary file in the same directory, then rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        with _removed_on_error(Path(tmp)):
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)

    def put_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        with _removed_on_error(tmp):
            shutil.copyfile(source, tmp)
            os.replace(tmp, path)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def get_file(self, key: str, destination: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise NotFound(f"artifact {uri_for(key)} not found")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if base.is_file():
            return [prefix]
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(TEMP_PREFIX)
        )

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def describe(self) -> dict[str, Any]:
        return {"uri": str(self.root)}


class S3ArtifactStore(BaseArtifactStore):
    """An S3 bucket (or MinIO, moto...) through s3fs; a PUT is atomic by nature."""

    def __init__(self, uri: str, endpoint_url: str | None = None) -> None:
        import s3fs

        self.uri = uri.rstrip("/")
        self.endpoint_url = endpoint_url
        self.prefix = self.uri.removeprefix("s3://")
        client_kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
        self.fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, use_listings_cache=False)

    def _path(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def put_file(self, key: str, source: Path) -> None:
        self.fs.put_file(str(source), self._path(key))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def get_file(self, key: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get_file(self._path(key), str(destination))
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"artifact {uri_for(key)} not found") from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if self.fs.isfile(base):
            return [prefix]
        found = self.fs.find(base)
        return sorted(path.removeprefix(self.prefix + "/") for path in found)

    def delete_prefix(self, prefix: str) -> None:
        base = self._path(prefix)
        if self.fs.exists(base):
            self.fs.rm(base, recursive=True)

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "endpoint_url": self.endpoint_url}


@contextmanager
def _removed_on_error(tmp: Path) -> Iterator[None]:
    """Remove the temporary file of a failed write, so no partial file is left behind."""
    try:
        yield
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_store(uri: str, endpoint_url: str | None = None) -> BaseArtifactStore:
    """The store for a root URI: ``s3://...`` or a local directory."""
    if uri.startswith("s3://"):
        return S3ArtifactStore(uri, endpoint_url)
    if "://" in uri and not uri.startswith("file://"):
        raise ValidationError(f"unsupported artifact store {uri!r}", "artifact_uri")
    return LocalArtifactStore(Path(uri.removeprefix("file://")))
