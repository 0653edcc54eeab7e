"""What the SDK's jobs share: ``JobResource`` (a job on the server, by name: describe it,
stop it, read its logs and metrics, wait for it to end), and the upload of a script's
source directory."""

from __future__ import annotations

import gzip
import tarfile
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.waiting import LogFollower, UnexpectedStatus, wait_until

FINAL_STATUSES = ("Completed", "Failed", "Stopped")


class JobResource:
    """A job of ``/api/v1/<collection>`` on the server, by name; ``noun`` names one in
    messages ("training job")."""

    collection: ClassVar[str]
    noun: ClassVar[str]

    def __init__(self, name: str, session: Session) -> None:
        self.name = validate_name(name)
        self.session = session

    def _path(self, *verbs: str) -> str:
        """``/api/v1/<collection>/<name>[/<verb>...]``."""
        return "/".join(("/api/v1", self.collection, self.name, *verbs))

    def describe(self) -> dict[str, Any]:
        return self.session.get(self._path())

    def stop(self) -> dict[str, Any]:
        return self.session.post(self._path("stop"))

    def logs(self, after_seq: int = -1) -> dict[str, Any]:
        return self.session.get(self._path("logs"), after_seq=after_seq)

    def metrics(self, name: str | None = None) -> list[dict[str, Any]]:
        return self.session.get(self._path("metrics"), name=name)["metrics"]

    def wait(self, logs: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends; raise UnexpectedStatus unless it Completed."""
        follower = LogFollower(self.logs) if logs else None
        description = wait_until(
            self.describe, done=FINAL_STATUSES, on_poll=follower, timeout=timeout
        )
        if follower is not None:
            follower()
        if description["status"] != "Completed":
            raise UnexpectedStatus(
                f"{self.noun} {self.name} ended {description['status']}: "
                f"{description.get('failure_reason')}",
                description,
            )
        return description


def upload_directory(session: Session, directory: Path) -> str:
    """Upload the files of ``directory`` (but ``__pycache__``) as one .tar.gz; its URI.

    The archive is the same bytes for the same files (no times, owners or modes of this
    machine in it), so an unchanged source keeps its URI: a pipeline step that runs it
    stays the same version and can be reused from the cache.
    """
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "source.tar.gz"
        with (
            archive.open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed,
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as bundle,
        ):
            for item in sorted(directory.rglob("*")):
                if item.is_file() and "__pycache__" not in item.parts:
                    name = item.relative_to(directory).as_posix()
                    bundle.add(item, arcname=name, filter=_reproducible)
        return session.upload(archive)


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.mode = 0o755 if info.mode & 0o111 else 0o644
    info.pax_headers = {}
    return info
