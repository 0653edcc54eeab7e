"""Loading a model for predictions, in any process (the model host, a batch transform job):
only a directory that hashes to what its model recorded, and a pickle only when trusted."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.artifacts import BaseArtifactStore, LocalArtifactStore, key_from_uri
from shipyard.core.digests import prefix_sha256
from shipyard.training.algorithms import LoadedModel, UntrustedModelError, load_model


class ModelIntegrityError(Exception):
    """The model directory is not the one its model was created from."""


@dataclass(frozen=True)
class ModelSource:
    """What loading a model needs, from its row: where its directory is, the hash that
    directory must have (None for a model made before hashes were recorded), and whether a
    pickle in it may be deserialized."""

    model_name: str
    model_data_uri: str
    model_sha256: str | None
    trust_pickle: bool

    def to_payload(self) -> dict[str, Any]:
        """For a job process, which has no database to read the model's row from."""
        return {
            "model_name": self.model_name,
            "model_data_uri": self.model_data_uri,
            "model_sha256": self.model_sha256,
            "trust_pickle": self.trust_pickle,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ModelSource:
        return cls(**payload)


def load_verified(store: BaseArtifactStore, source: ModelSource, cache_dir: Path) -> LoadedModel:
    """The model, from its directory in place (a local store) or a fresh copy under
    ``cache_dir``, once that directory's hash is the one recorded for the model."""
    key = key_from_uri(source.model_data_uri)
    local = store.local_path(key)
    if local is not None and local.is_dir():
        directory, digest = local, prefix_sha256(store, key)
    else:
        cache_dir.mkdir(parents=True, exist_ok=True)
        directory = cache_dir / hashlib.sha256(key.encode()).hexdigest()[:32]
        if directory.exists():
            shutil.rmtree(directory)
        store.get_directory(key, directory)
        # the copy's own hash, so the bytes checked are the bytes loaded
        digest = prefix_sha256(LocalArtifactStore(cache_dir), directory.name)
    if source.model_sha256 is not None and digest != source.model_sha256:
        raise ModelIntegrityError(
            f"the files of model '{source.model_name}' under {source.model_data_uri} "
            f"hash to {digest}, not the {source.model_sha256} recorded when it was created"
        )
    return load_model(directory, trust_pickle=source.trust_pickle)


def failure_reason(exc: Exception) -> str:
    """An endpoint's failure reason: ``ModelIntegrityError: ...``, ``UntrustedModelError:
    ...`` or ``ModelLoadError: ...``."""
    if isinstance(exc, ModelIntegrityError | UntrustedModelError):
        return f"{type(exc).__name__}: {exc}"
    reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return f"ModelLoadError: {reason}"
