"""Per-installation secrets under the Shipyard home: random bytes in a file, mode 0600.

The console signs its session cookies with one (``console-secret``) and webhooks sign
their posts with another (``webhook-secret``); each is created on first use and kept.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

from shipyard.core.errors import ShipyardError

SECRET_BYTES = 32
_creation_lock = threading.Lock()


def installation_secret(home: Path, filename: str) -> bytes:
    """The secret in ``home/filename``: created on first use, the same one ever after.

    Created under a temporary name and hard-linked into place, so concurrent first uses
    (two processes, two threads) agree on one secret and nobody reads a partial file.
    """
    path = home / filename
    with _creation_lock:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            temporary = home / f".{filename}.{secrets.token_hex(8)}"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(secrets.token_bytes(SECRET_BYTES))
                    handle.flush()
                    os.fsync(handle.fileno())
                with contextlib.suppress(FileExistsError):  # another process won the race
                    os.link(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ShipyardError(
            f"{path} is shorter than {SECRET_BYTES} bytes; delete it to make a new one"
        )
    return secret
