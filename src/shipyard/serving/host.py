"""The model host: loads each endpoint's variants into memory and answers invocations.

The invocation path touches no database: endpoints live in a dict guarded by a lock.
Loading happens in the background, and the endpoint's row moves to InService or Failed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, NotFound, ValidationError
from shipyard.serving import service
from shipyard.training.algorithms import LoadedModel, load_model

log = logging.getLogger(__name__)
TARGET_VARIANT_HEADER = "X-Shipyard-Target-Variant"


@dataclass(frozen=True)
class LoadedVariant:
    name: str
    weight: float
    model: LoadedModel


class ModelHost:
    def __init__(self, db: Database, store: BaseArtifactStore, cache_dir: Path) -> None:
        self.db = db
        self.store = store
        self.cache_dir = cache_dir
        self._endpoints: dict[str, list[LoadedVariant]] = {}
        self._lock = threading.Lock()
        self._random = random.Random()

    # ---- deployment ----------------------------------------------------------------
    def deploy_in_background(self, name: str) -> threading.Thread:
        thread = threading.Thread(
            target=self.deploy, args=(name,), name=f"deploy-{name}", daemon=True
        )
        thread.start()
        return thread

    def deploy(self, name: str) -> None:
        """Load every variant of ``name``, then mark it InService (or Failed, with why)."""
        try:
            with self.db.session_scope() as session:
                variants = service.variants_to_load(session, name)
            loaded = [
                LoadedVariant(v.variant_name, v.initial_weight, self._load(uri))
                for v, uri in variants
            ]
        except Exception as exc:
            log.exception("endpoint %s failed to deploy", name)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            with self.db.session_scope() as session:
                service.set_endpoint_status(session, name, "Failed", f"ModelLoadError: {reason}")
            return
        with self._lock:
            self._endpoints[name] = loaded
        with self.db.session_scope() as session:
            service.set_endpoint_status(session, name, "InService")
            still_wanted = service.is_live(session, name)
        if not still_wanted:  # deleted while its models were loading: serve nothing stale
            self.undeploy(name)

    def restore(self) -> list[threading.Thread]:
        """After a restart: bring back every endpoint that was live."""
        with self.db.session_scope() as session:
            names = service.live_endpoint_names(session)
        return [self.deploy_in_background(name) for name in names]

    def undeploy(self, name: str) -> None:
        with self._lock:
            self._endpoints.pop(name, None)

    def _load(self, model_data_uri: str) -> LoadedModel:
        key = key_from_uri(model_data_uri)
        local = self.store.local_path(key)
        if local is not None and local.is_dir():
            return load_model(local)
        target = self.cache_dir / hashlib.sha256(key.encode()).hexdigest()[:32]
        if target.exists():
            shutil.rmtree(target)
        self.store.get_directory(key, target)
        return load_model(target)

    # ---- invocation ----------------------------------------------------------------
    def invoke(
        self, name: str, frame: pd.DataFrame, target_variant: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        variant = self._choose(name, target_variant)
        return variant.name, variant.model.predict(frame)

    def _choose(self, name: str, target_variant: str | None) -> LoadedVariant:
        with self._lock:
            variants = self._endpoints.get(name)
        if variants is None:
            variants = self._cold_lookup(name)
        if target_variant is not None:
            for variant in variants:
                if variant.name == target_variant:
                    return variant
            raise ValidationError(
                f"endpoint '{name}' has no variant '{target_variant}'", TARGET_VARIANT_HEADER
            )
        if len(variants) == 1:
            return variants[0]
        return self._random.choices(variants, weights=[v.weight for v in variants])[0]

    def _cold_lookup(self, name: str) -> list[LoadedVariant]:
        """Not loaded here: tell why, or load it if it is in service (another process made it)."""
        with self.db.session_scope() as session:
            endpoint = service.get_endpoint(session, name)
            status = endpoint.status
        if status != "InService":
            raise InvalidState(f"endpoint '{name}' is {status}, not InService")
        self.deploy(name)
        with self._lock:
            variants = self._endpoints.get(name)
        if variants is None:
            raise NotFound(f"endpoint '{name}' could not be loaded")
        return variants
